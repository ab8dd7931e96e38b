"""The GPU side of data-parallel training: NcclCollectives' calls into NCCL (cupy.cuda.nccl).

Without a GPU, a stand-in for cupy.cuda.nccl plays K ranks that all hold the same array: it
reads and writes the memory at the addresses it is given, as NCCL does, so a wrong count, type
code, address or layout gives a wrong result here. On a GPU with NCCL installed, the last test
runs the real library with one rank.
"""
import ctypes

import numpy as np
import pytest

from minigan import distributed


class StandInNccl:
    """cupy.cuda.nccl for K ranks holding the same array: all-reduce sum = K x, all-gather = K
    copies of x. Type codes as NCCL's."""
    NCCL_INT32, NCCL_INT64, NCCL_FLOAT32, NCCL_FLOAT64, NCCL_SUM = 2, 4, 7, 8, 0
    DTYPES = {2: np.int32, 4: np.int64, 7: np.float32, 8: np.float64}
    ID = tuple((-1) ** i * (i % 128) for i in range(128))   # signed chars, as NCCL's id

    def __init__(self, ranks):
        self.ranks, self.opened = ranks, []
        outer = self

        class NcclCommunicator:
            def __init__(self, ndev, uid, rank):
                outer.opened.append((ndev, uid, rank))

            def allReduce(self, send, recv, count, datatype, op, stream):
                assert op == outer.NCCL_SUM
                x = outer.memory(send, count, datatype)
                outer.memory(recv, count, datatype)[:] = outer.ranks * x

            def allGather(self, send, recv, count, datatype, stream):
                x = outer.memory(send, count, datatype).copy()
                out = outer.memory(recv, count * outer.ranks, datatype)
                for r in range(outer.ranks):
                    out[r * count:(r + 1) * count] = x

        self.NcclCommunicator = NcclCommunicator

    def get_unique_id(self):
        return self.ID

    def memory(self, address, count, datatype):
        dtype = np.dtype(self.DTYPES[datatype])
        buffer = (ctypes.c_char * (count * dtype.itemsize)).from_address(address)
        return np.frombuffer(buffer, dtype=dtype)


class StandInMpi:
    """The part of an mpi4py communicator NcclCollectives uses: rank 0's Bcast."""

    def __init__(self, rank, size, root_buffer=None):
        self.rank, self.size, self.root_buffer = rank, size, root_buffer

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size

    def Bcast(self, buffer, root=0):
        if self.rank == root:
            self.root_buffer = buffer.copy()
        else:
            buffer[:] = self.root_buffer


class HostAddressed(distributed.NcclCollectives):
    """NcclCollectives on NumPy arrays: addresses from .ctypes (CuPy's are .data.ptr)."""

    @staticmethod
    def address(array):
        return array.ctypes.data

    @staticmethod
    def stream():
        return 0


def collectives(ranks=2):
    nccl = StandInNccl(ranks)
    return HostAddressed(StandInMpi(0, ranks), nccl), nccl


def test_the_ranks_open_one_nccl_communicator_with_rank_0s_id():
    nccl = StandInNccl(2)
    root_mpi = StandInMpi(0, 2)
    HostAddressed(root_mpi, nccl)
    HostAddressed(StandInMpi(1, 2, root_buffer=root_mpi.root_buffer), nccl)
    assert nccl.opened == [(2, StandInNccl.ID, 0), (2, StandInNccl.ID, 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_sum_is_the_all_reduce_of_the_whole_array(dtype):
    ours, _ = collectives(ranks=3)
    x = np.arange(24, dtype=dtype).reshape(2, 3, 4) - 5
    total = ours.sum(x)
    assert total.dtype == x.dtype and total.shape == x.shape
    np.testing.assert_array_equal(total, 3 * x)
    np.testing.assert_array_equal(x, np.arange(24, dtype=dtype).reshape(2, 3, 4) - 5)


def test_sum_of_a_strided_array_reads_its_elements_in_order():
    ours, _ = collectives()
    x = np.arange(12, dtype=np.float32).reshape(3, 4).T       # not C-contiguous
    np.testing.assert_array_equal(ours.sum(x), 2 * x)


def test_an_in_place_sum_writes_over_the_array_it_reduces():
    ours, _ = collectives(ranks=2)
    x = np.arange(5, dtype=np.float32)
    total = ours.sum(x, in_place=True)
    assert total is x
    np.testing.assert_array_equal(x, 2 * np.arange(5, dtype=np.float32))


def test_gather_stacks_every_ranks_rows_in_rank_order():
    ours, _ = collectives(ranks=2)
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    rows = ours.gather(x)
    assert rows.shape == (2, 3, 2)
    np.testing.assert_array_equal(rows, np.stack([x, x]))


def test_a_type_nccl_is_not_given_here_is_refused_by_name():
    ours, _ = collectives()
    with pytest.raises(distributed.DistributedError, match="not int8"):
        ours.sum(np.zeros(3, dtype=np.int8))


@pytest.mark.gpu
def test_real_nccl_with_one_rank_sums_and_gathers_gpu_arrays():
    nccl = distributed._nccl()
    if nccl is None:
        pytest.skip("NCCL is not installed (pip install nvidia-nccl-cu13)")
    import cupy
    ours = distributed.NcclCollectives(StandInMpi(0, 1), nccl)
    x = cupy.arange(12, dtype=cupy.float32).reshape(3, 4)
    np.testing.assert_array_equal(cupy.asnumpy(ours.sum(x)), cupy.asnumpy(x))
    np.testing.assert_array_equal(cupy.asnumpy(ours.gather(x)), cupy.asnumpy(x)[None])
