"""How the ranks sum and gather arrays: through MPI on host copies (any MPI library, either
device), or through NCCL from GPU to GPU. A Communicator picks one per array's device."""
import numpy as np

from minigan import backend


class DistributedError(RuntimeError):
    """MPI is missing, or the ranks cannot agree on what to run."""


class HostCollectives:
    """Sum, gather and broadcast through MPI on host arrays: a GPU array is copied to the host,
    reduced there and copied back (what every MPI library can do; no GPU-aware MPI assumed).

    Each waits first for every rank to arrive (arrive(): a non-blocking barrier that `waiter`,
    a minigan.distributed.waiting.Waiter, waits for with a time limit and without spinning a
    core), then runs the blocking collective among ranks that are all there: a rank that never
    comes stops the run instead of hanging it, and the data moves at MPI's full speed (a
    non-blocking collective moves only while tested) with MPI's usual algorithm."""

    name = "MPI"

    def __init__(self, comm, MPI, waiter):
        self.comm, self.MPI, self.waiter = comm, MPI, waiter

    def arrive(self, what):
        """Return once every rank has come to the collective `what` ("an all-reduce"...)."""
        self.waiter.wait(self.comm.Ibarrier(), what)

    def sum(self, array, in_place=False):
        host = np.ascontiguousarray(backend.to_device(array, "cpu"))
        self.arrive("an all-reduce")
        if in_place:   # a contiguous host array is itself the result, with no second buffer
            self.comm.Allreduce(self.MPI.IN_PLACE, host, op=self.MPI.SUM)
            return backend.to_device(host, backend.device_of(array))
        total = np.empty_like(host)
        self.comm.Allreduce(host, total, op=self.MPI.SUM)
        return backend.to_device(total, backend.device_of(array))

    def gather(self, array):
        host = np.ascontiguousarray(backend.to_device(array, "cpu"))
        rows = np.empty((self.comm.Get_size(),) + host.shape, dtype=host.dtype)
        self.arrive("an all-gather")
        self.comm.Allgather(host, rows)
        return backend.to_device(rows, backend.device_of(array))

    def broadcast(self, host):
        """Rank 0's contiguous host array written over `host` on every rank."""
        self.arrive("a broadcast")
        self.comm.Bcast(host, root=0)


class NcclCollectives:
    """Sum and gather of GPU arrays through NCCL (cupy.cuda.nccl), GPU to GPU with no copy
    through the host, on the current CUDA stream (so ordered with the kernels around them).
    Rank 0 makes the NCCL id and MPI broadcasts it; each rank then opens its end of one NCCL
    communicator. Each rank needs a GPU of its own (Communicator picks it)."""

    name = "NCCL"
    TYPES = {"float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64", "int32": "NCCL_INT32",
             "int64": "NCCL_INT64"}

    def __init__(self, comm, nccl):
        self.nccl, self.size = nccl, comm.Get_size()
        uid = np.zeros(NCCL_ID_BYTES, dtype=np.int16)   # the id's 128 signed chars
        if comm.Get_rank() == 0:
            uid[:] = nccl.get_unique_id()
        comm.Bcast(uid, root=0)
        self.comm = nccl.NcclCommunicator(self.size, tuple(int(c) for c in uid),
                                          comm.Get_rank())

    def sum(self, array, in_place=False):
        xp = backend.xp_of(array)
        array = xp.ascontiguousarray(array)
        total = array if in_place else xp.empty_like(array)   # NCCL reduces in place too
        self.comm.allReduce(self.address(array), self.address(total), array.size,
                            self.type_of(array), self.nccl.NCCL_SUM, self.stream())
        return total

    def gather(self, array):
        xp = backend.xp_of(array)
        array = xp.ascontiguousarray(array)
        rows = xp.empty((self.size,) + array.shape, dtype=array.dtype)
        self.comm.allGather(self.address(array), self.address(rows), array.size,
                            self.type_of(array), self.stream())
        return rows

    def type_of(self, array):
        name = self.TYPES.get(array.dtype.name)
        if name is None:
            raise DistributedError(f"NCCL collectives here take float32, float64, int32 or "
                                   f"int64 arrays, not {array.dtype}")
        return getattr(self.nccl, name)

    @staticmethod
    def address(array):
        return array.data.ptr

    @staticmethod
    def stream():
        import cupy
        return cupy.cuda.get_current_stream().ptr


NCCL_ID_BYTES = 128   # NCCL_UNIQUE_ID_BYTES


def _nccl():
    """cupy.cuda.nccl when NCCL is installed (pip install nvidia-nccl-cu13), else None."""
    try:
        from cupy.cuda import nccl
    except ImportError:
        return None
    return nccl if getattr(nccl, "available", False) else None
