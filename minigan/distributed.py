"""Data-parallel training over MPI: K processes (ranks) each hold a copy of G and D and 1/K of
every batch, and together compute exactly what one process computes on the whole batch.

What makes the K copies one run:
  * the same start: rank 0's parameters and buffers are broadcast to the others;
  * the same step: after backward, each gradient is averaged over the ranks (one all-reduce of
    one flat buffer per optimizer step), so every rank's optimizer makes the same update;
  * the same random numbers: a draw over a batch (noise z, instance noise, dropout masks) is
    made for the global batch and each rank keeps its own rows, so the run does not
    depend on K;
  * the same statistics: an op whose output depends on the whole batch (BatchNorm, the
    minibatch-std channel, minibatch discrimination, feature matching's means) sums over the
    global batch. minigan.functional.global_batch holds what the layers ask (share, batch_sum,
    gather_rows, BatchSum); this module holds the MPI side.

Why averaging is right: rank k's loss L_k is a mean over its n = N / K samples, so the global
batch's loss is L = (1 / K) sum_k L_k and dL/dtheta = (1 / K) sum_k dL_k/dtheta, the mean of the
ranks' gradients. A batch statistic s = sum over all N rows feeds every rank's loss, so its
gradient is the sum of what each rank's loss sends back: the backward of an all-reduce sum is an
all-reduce sum (BatchSum), and the same mean over ranks then gives dL/dtheta again.

mpi4py is imported only when a Communicator is made: `import minigan` never needs MPI.
"""
import contextlib
import os
import time

import numpy as np

from minigan import backend
from minigan.autograd import Tensor
from minigan.functional import global_batch


class DistributedError(RuntimeError):
    """MPI is missing, or the ranks cannot agree on what to run."""


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
    keeps batch statistics per rank (each rank's BatchNorm, minibatch std and minibatch
    discrimination see only its own share, as DistributedDataParallel without SyncBatchNorm):
    no communication in the forward pass, but the run then depends on K."""

    def __init__(self, comm=None, sync_statistics=True):
        MPI = _mpi()
        self.MPI, self.sync_statistics = MPI, sync_statistics
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.communicated_bytes = 0       # what this rank sent to all-reduces and gathers
        self.communication_seconds = 0.0  # and the time it spent in them (waits included)

    def active(self):
        """A context within which batches are this rank's share of the global batch
        (minigan.functional.global_batch: share, batch_sum...)."""
        return global_batch.active(self)

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
            self.comm.Bcast(host, root=0)
            tensor.data[...] = backend.to_device(host, tensor.device)

    def average_gradients(self, params):
        """p.grad = mean over the ranks of p.grad, for every p with a gradient, through one flat
        contiguous buffer: one all-reduce per step, not one per parameter. Every rank has the
        same parameters with a gradient (the same graph), so the buffers line up."""
        params = [p for p in params if p.grad is not None]
        if not params or self.size == 1:
            return
        grads = [backend.to_device(p.grad.data, "cpu") for p in params]
        flat = np.concatenate([g.reshape(-1) for g in grads])
        with self.timed(flat.nbytes):
            self.comm.Allreduce(self.MPI.IN_PLACE, flat, op=self.MPI.SUM)
        flat /= flat.dtype.type(self.size)
        start = 0
        for p, g in zip(params, grads):
            stop = start + g.size
            p.grad = Tensor._wrap(backend.to_device(flat[start:stop].reshape(g.shape),
                                                    p.device))
            start = stop

    # Batch statistics over the global batch
    def sum(self, array):
        """The elementwise sum of `array` over the ranks (a new array, on array's device)."""
        host = np.ascontiguousarray(backend.to_device(array, "cpu"))
        total = np.empty_like(host)
        with self.timed(host.nbytes):
            self.comm.Allreduce(host, total, op=self.MPI.SUM)
        return backend.to_device(total, backend.device_of(array))

    def gather_rows(self, array):
        """Every rank's `array` (n, ...) stacked in rank order: (K * n, ...)."""
        host = np.ascontiguousarray(backend.to_device(array, "cpu"))
        rows = np.empty((self.size,) + host.shape, dtype=host.dtype)
        with self.timed(host.nbytes):
            self.comm.Allgather(host, rows)
        return backend.to_device(rows.reshape((-1,) + host.shape[1:]),
                                 backend.device_of(array))

    def mean_of(self, values):
        """The mean over the ranks of a few numbers (the losses a progress line shows)."""
        local = np.array([float(v) for v in values], dtype=np.float64)
        return self.sum(local) / self.size

    def agree(self, value, what):
        """`value` (a small int or str) must be rank 0's on every rank: DistributedError
        otherwise, raised on every rank (so that none waits for the others)."""
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
        in a collective that it will never join)."""
        self.comm.Abort(code)


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


__all__ = ["AveragingOptimizer", "Communicator", "DistributedError"]
