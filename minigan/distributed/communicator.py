"""The ranks of one MPI job as one run: their start (broadcast), their step (gradients averaged,
AveragingOptimizer) and the sums and gathers the global batch's statistics need.

mpi4py is imported only when a Communicator is made: `import minigan` never needs MPI.
"""
import contextlib
import os
import time

import numpy as np

from minigan import backend
from minigan.autograd import Tensor
from minigan.distributed.collectives import (DistributedError, HostCollectives, NcclCollectives,
                                             _nccl)
from minigan.distributed.waiting import COLLECTIVE_TIMEOUT, Waiter


# What MPI launchers tell each process they start, (size, rank) of the job: mpiexec of MPICH and
# Intel MPI (and Slurm's PMI) set PMI_SIZE and PMI_RANK, Open MPI's mpirun OMPI_COMM_WORLD_*.
LAUNCHER_VARIABLES = (("PMI_SIZE", "PMI_RANK"), ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"))


def mpi_launch(environ=None):
    """(processes, rank): how many processes the MPI launcher that started this one started in
    all, and which this is; (1, 0) when no launcher did. Read from the launcher's environment
    variables (LAUNCHER_VARIABLES): mpi4py is not imported."""
    environ = os.environ if environ is None else environ
    for size, rank in LAUNCHER_VARIABLES:
        processes, index = environ.get(size, ""), environ.get(rank, "0")
        if processes.isdigit() and int(processes) > 1:
            return int(processes), int(index) if index.isdigit() else 0
    return 1, 0


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError:
        raise DistributedError("distributed training needs mpi4py and an MPI library: "
                               "pip install 'minigan[mpi]' (mpi4py and mpich), then run under "
                               "mpiexec -n K") from None
    return MPI


class Communicator:
    """The ranks of one MPI job (default: every process mpiexec started). sync_statistics=False
    keeps batch statistics per rank (minigan.distributed.convert then leaves BatchNorm, minibatch
    std and minibatch discrimination as they are, each seeing only its rank's share, as
    DistributedDataParallel without SyncBatchNorm): no communication in the forward pass, but
    the run then depends on K.

    Making one changes nothing else: the sums and gathers go through MPI on host copies, and
    the process keeps its device and threads. use_gpus() gives each rank a GPU of its own (and
    NCCL where it can); share_cores() splits a machine's cores between its ranks.

    A rank that waits in a host collective (broadcast, agree, sum, gather) longer than `timeout`
    seconds (default COLLECTIVE_TIMEOUT, 5 minutes) raises DistributedError naming the ranks
    that did not come (minigan.distributed.waiting); the communicator is then unusable: stop the
    job (abort()). NCCL's collectives run on the GPU and have no such limit."""

    def __init__(self, comm=None, sync_statistics=True, *, timeout=COLLECTIVE_TIMEOUT):
        MPI = _mpi()
        self.MPI, self.sync_statistics = MPI, sync_statistics
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.communicated_bytes = 0       # what this rank sent to all-reduces and gathers
        self.communication_seconds = 0.0  # and the time it spent in them (waits included)
        self.host = HostCollectives(self.comm, MPI, Waiter(self.comm, MPI, timeout))
        self.collectives = self.host      # of GPU arrays

    def use_gpus(self, nccl=None):
        """Make this rank's current CUDA device a GPU of its machine (local rank modulo the GPUs
        there), and send the sums and gathers of GPU arrays through NCCL when it is installed
        and every rank on every machine has a GPU to itself (all ranks or none); otherwise
        through MPI on host copies (`collectives.name` says which). NCCL runs asynchronously on
        the CUDA stream, so through it communication_seconds counts the launches, not the
        transfers. `nccl` replaces cupy.cuda.nccl (tests). Every rank calls it; returns self."""
        own_gpu, nccl = self.use_local_gpu(), nccl or _nccl()
        usable = own_gpu and nccl is not None
        if self.size > 1 and self.comm.allreduce(int(usable), op=self.MPI.MIN):   # all or none
            self.collectives = NcclCollectives(self.comm, nccl)
        return self

    def use_local_gpu(self):
        """Make GPU (local rank mod GPUs here) this rank's device; True when no other rank on
        this machine shares it."""
        import cupy
        local = self.comm.Split_type(self.MPI.COMM_TYPE_SHARED)
        gpus = cupy.cuda.runtime.getDeviceCount()
        cupy.cuda.Device(local.Get_rank() % gpus).use()
        return local.Get_size() <= gpus

    @contextlib.contextmanager
    def timed(self, nbytes):
        start = time.perf_counter()
        yield
        self.communication_seconds += time.perf_counter() - start
        self.communicated_bytes += nbytes

    # The start and the step
    def broadcast(self, module):
        """Copy rank 0's parameters and buffers into every rank's `module`, in place."""
        for tensor in dict(module.named_tensors()).values():
            host = np.ascontiguousarray(backend.to_device(tensor.data, "cpu"))
            self.host.broadcast(host)
            tensor.data[...] = backend.to_device(host, tensor.device)

    def average_gradients(self, params):
        """p.grad = mean over the ranks of p.grad, for every p with a gradient, through one flat
        contiguous buffer: one all-reduce per step, not one per parameter. Every rank has the
        same parameters with a gradient (the same graph), so the buffers line up."""
        params = [p for p in params if p.grad is not None]
        if not params or self.size == 1:
            return
        grads = [p.grad.data for p in params]
        flat = self.sum(backend.xp_of(grads[0]).concatenate([g.reshape(-1) for g in grads]),
                        in_place=True)
        flat /= flat.dtype.type(self.size)
        start = 0
        for p, g in zip(params, grads):
            stop = start + g.size
            p.grad = Tensor._wrap(flat[start:stop].reshape(g.shape))
            start = stop

    # Batch statistics over the global batch
    def sum(self, array, in_place=False):
        """The elementwise sum of `array` over the ranks, on array's device: a new array, or
        with in_place=True written over a contiguous `array` where the collective allows."""
        with self.timed(array.nbytes):
            return self.collectives_of(array).sum(array, in_place)

    def gather_rows(self, array):
        """Every rank's `array` (n, ...) stacked in rank order: (K * n, ...)."""
        with self.timed(array.nbytes):
            rows = self.collectives_of(array).gather(array)
        return rows.reshape((-1,) + array.shape[1:])

    def collectives_of(self, array):
        """NCCL for a GPU array when the ranks use it; MPI on the host for the rest."""
        return self.collectives if backend.on_gpu(array) else self.host

    def mean_of(self, values):
        """The mean over the ranks of a few numbers (the losses a progress line shows)."""
        local = np.array([float(v) for v in values], dtype=np.float64)
        return self.sum(local) / self.size

    def agree(self, value, what):
        """`value` (a small int or str) must be rank 0's on every rank: DistributedError
        otherwise, raised on every rank (so that none waits for the others)."""
        self.host.arrive("a broadcast")
        root = self.comm.bcast(value, root=0)
        same = self.comm.allreduce(int(value == root), op=self.MPI.MIN)
        if not same:
            raise DistributedError(f"the ranks disagree on {what}: start every rank with the "
                                   "same command")

    def share_cores(self):
        """Split this machine's cores between the ranks running on it: each computes on
        cores / (ranks here) Numba threads (at least 1, at most what it had), OpenBLAS on as
        many. Two ranks of two threads each on two cores would fight over them."""
        import numba

        from minigan import threads
        here = self.comm.Split_type(self.MPI.COMM_TYPE_SHARED).Get_size()
        n = max(1, min(numba.get_num_threads(), (os.cpu_count() or 1) // here))
        numba.set_num_threads(n)
        threads.blas().set([n] * len(threads.blas().libs))
        return n

    def abort(self, code=1):
        """Stop every rank of the job now (a rank that failed must not leave the others waiting
        in a collective that it will never join). MPICH's Abort may return before the launcher's
        kill arrives: this process then exits at once, so that nothing after it runs."""
        self.comm.Abort(code)
        os._exit(code)


class AveragingOptimizer:
    """An optimizer whose step first averages the gradients over the ranks (as Horovod's
    DistributedOptimizer): the training step's code stays that of one process."""

    def __init__(self, optimizer, comm):
        self.optimizer, self.comm = optimizer, comm

    def step(self):
        self.comm.average_gradients(self.optimizer.params)
        self.optimizer.step()

    def __getattr__(self, name):   # zero_grad, state_dict, hyper...: the wrapped optimizer's
        return getattr(self.optimizer, name)


__all__ = ["AveragingOptimizer", "Communicator", "LAUNCHER_VARIABLES", "mpi_launch"]
