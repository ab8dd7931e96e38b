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
from minigan.distributed.collectives import (NCCL_ID_BYTES, DistributedError, HostCollectives,
                                             NcclCollectives)
from minigan.distributed.collectives import _nccl  # noqa: F401  (tests call distributed._nccl)
from minigan.distributed.communicator import AveragingOptimizer, Communicator

__all__ = ["AveragingOptimizer", "Communicator", "DistributedError", "HostCollectives",
           "NCCL_ID_BYTES", "NcclCollectives"]
