"""Data-parallel training over MPI: K processes (ranks) each hold a copy of G and D and 1/K of
every batch, and together compute exactly what one process computes on the whole batch.

What makes the K copies one run:
  * the same start: rank 0's parameters and buffers are broadcast to the others
    (Communicator.broadcast);
  * the same step: after backward, each gradient is averaged over the ranks (one all-reduce of
    one flat buffer per optimizer step, AveragingOptimizer), so every rank's optimizer makes
    the same update;
  * the same random numbers: a draw over a batch (noise z, instance noise, dropout masks) is
    made for the global batch and each rank keeps its own rows (GlobalBatch.normal, the
    dropout twins), so the run does not depend on K;
  * the same statistics: an op whose output depends on the whole batch (BatchNorm, the
    minibatch-std channel, minibatch discrimination, feature matching's means) sums over the
    global batch. convert(model, comm) swaps such layers for their global-batch twins
    (minigan.distributed.layers, on the Functions of minigan.distributed.ops);
    GlobalBatch gives the training steps' draws and means.

Why averaging is right: rank k's loss L_k is a mean over its n = N / K samples, so the global
batch's loss is L = (1 / K) sum_k L_k and dL/dtheta = (1 / K) sum_k dL_k/dtheta, the mean of the
ranks' gradients. A batch statistic s = sum over all N rows feeds every rank's loss, so its
gradient is the sum of what each rank's loss sends back: the backward of an all-reduce sum is an
all-reduce sum (BatchSum), and the same mean over ranks then gives dL/dtheta again.

mpi4py is imported only when a Communicator is made: `import minigan` never needs MPI.
"""
from minigan.distributed.batch import GlobalBatch
from minigan.distributed.collectives import (NCCL_ID_BYTES, DistributedError, HostCollectives,
                                             NcclCollectives)
from minigan.distributed.collectives import _nccl  # noqa: F401  (tests call distributed._nccl)
from minigan.distributed.communicator import (LAUNCHER_VARIABLES, AveragingOptimizer,
                                              Communicator, mpi_launch)
from minigan.distributed.layers import (GlobalDropout, GlobalLeakyReLUDropout,
                                        GlobalMinibatchDiscrimination, GlobalMinibatchStd,
                                        SyncBatchNorm1d, SyncBatchNorm2d, convert)
from minigan.distributed.ops import BatchSum

__all__ = ["AveragingOptimizer", "BatchSum", "Communicator", "DistributedError", "GlobalBatch",
           "GlobalDropout", "GlobalLeakyReLUDropout", "GlobalMinibatchDiscrimination",
           "GlobalMinibatchStd", "HostCollectives", "LAUNCHER_VARIABLES", "NCCL_ID_BYTES",
           "NcclCollectives", "SyncBatchNorm1d", "SyncBatchNorm2d", "convert", "mpi_launch"]
