"""The batch-wide Functions over the global batch of a data-parallel run: each is the one-process
op of minigan.functional with its batch made every rank's rows (OverGlobalBatch fills the
methods through which the op reaches its batch). Rank r holds rows [r * n, (r + 1) * n) of the
K * n of the global batch.

A statistic s summed over the global batch feeds every rank's loss, so its gradient is the sum of
what each rank's loss sends back: the backward of a sum over the ranks is a sum over the ranks.
"""
from minigan.autograd import Function, float_tensor
from minigan.functional.batch_stats import BatchCloseness, MinibatchStd
from minigan.functional.dropout import Dropout, LeakyReLUDropout
from minigan.functional.empty_batch import check_batch
from minigan.functional.normalization import (BatchNorm, batch_norm_operands,
                                              batch_norm_training)


class BatchSum(Function):
    """y = sum over the ranks of x (the same y on every rank). Every rank's loss depends on y,
    so dL/dx on each rank is the sum over the ranks of what their losses send back:
    dx = sum over the ranks of gy."""

    def __init__(self, comm):
        self.comm = comm

    def forward(self, x):
        return self.comm.sum(x)

    def backward(self, gy):
        return self.comm.sum(gy)


def global_mean(comm, array):
    """The mean over the rows of the global batch of an array (n, ...) -> (...): the ranks'
    column sums summed, over K * n rows."""
    return comm.sum(array.sum(axis=0)) / array.dtype.type(comm.size * array.shape[0])


class OverGlobalBatch:
    """The batch of an op (placed before it in the bases) made the global batch of `comm`'s
    ranks: K * n rows, sums and means over every rank's rows, every rank's rows gathered, and
    the rank's first element indexed after the elements of the ranks before it."""

    def __init__(self, comm, *args):
        self.comm = comm
        super().__init__(*args)

    def rows(self, n):
        return self.comm.size * n

    def batch_sum(self, total):
        return self.comm.sum(total)

    def batch_mean(self, array):
        return global_mean(self.comm, array)

    def gather_rows(self, array):
        return self.comm.gather_rows(array)

    def first_index(self, x):
        return self.comm.rank * x.size   # the ranks before it hold as many elements each


class SyncBatchNorm(OverGlobalBatch, BatchNorm):
    """Training-mode BatchNorm whose statistics and backward sums run over the global batch (as
    PyTorch's SyncBatchNorm): m = K * N * L values per feature (L = H*W, or 1 for (N, F)).
    Two passes over x, each summed over the ranks: mean = sum(x) / m, then
    var = sum((x - mean)**2) / m. Backward, the formula of BatchNorm with sum(g) and
    sum(g * xhat) summed over the ranks (dgamma and dbeta stay this rank's share: the
    optimizer's average over the ranks completes them)."""

    def __init__(self, comm, eps):   # training only: never given running statistics
        super().__init__(comm, eps)

    def statistics(self, x):
        x3 = x.reshape(x.shape[0], x.shape[1], -1)                      # (N, C, L)
        m = x3.dtype.type(self.rows(x3.shape[0]) * x3.shape[2])
        mean = self.batch_sum(x3.sum(axis=(0, 2))) / m
        deviation = x3 - mean[:, None]
        return mean, self.batch_sum((deviation * deviation).sum(axis=(0, 2))) / m

    def backward(self, gy):
        g3 = gy.reshape(gy.shape[0], gy.shape[1], -1)                   # (N, C, L)
        xhat = self.xhat.reshape(g3.shape)
        m = gy.dtype.type(self.rows(gy.shape[0]) * g3.shape[2])
        g = g3 * self.gamma[:, None]
        sum_g = self.batch_sum(g.sum(axis=(0, 2)))[:, None]
        sum_gx = self.batch_sum((g * xhat).sum(axis=(0, 2)))[:, None]
        gx = (m * g - sum_g - xhat * sum_gx) * (self.inv_std[:, None] / m)
        return gx.reshape(gy.shape), (g3 * xhat).sum(axis=(0, 2)), g3.sum(axis=(0, 2))


class GlobalMinibatchStd(OverGlobalBatch, MinibatchStd):
    """MinibatchStd over the global batch: mu, std and the sum of gy[:, C:] over every rank's
    rows, N = K * n."""


class GlobalBatchCloseness(OverGlobalBatch, BatchCloseness):
    """BatchCloseness with i over this rank's rows and j over the global batch's."""


class GlobalDropout(OverGlobalBatch, Dropout):
    """Dropout whose mask is the global batch's: this rank's rows of the mask drawn for all
    K * n rows (the same seed on every rank, the counter started at the rank's first element),
    so the masks do not depend on K."""


class GlobalLeakyReLUDropout(OverGlobalBatch, LeakyReLUDropout):
    """LeakyReLUDropout with the global batch's mask (as GlobalDropout)."""


def sync_batch_norm(x, weight, bias, running_mean, running_var, comm, *, momentum, eps):
    """F.batch_norm in training mode with the global batch's statistics (SyncBatchNorm), the
    running ones updated with them (m = K * N * L values per feature)."""
    x, weight, bias = batch_norm_operands(x, weight, bias)
    return batch_norm_training(SyncBatchNorm(comm, eps), x, weight, bias, running_mean,
                               running_var, momentum)


def minibatch_std(x, comm):
    """F.minibatch_std over the global batch."""
    x = float_tensor("minibatch_std", x)
    check_batch("minibatch_std", x)
    return GlobalMinibatchStd(comm)(x)


def batch_closeness(m, comm):
    """F.batch_closeness against the global batch's rows."""
    m = float_tensor("batch_closeness", m)
    check_batch("batch_closeness", m)
    return GlobalBatchCloseness(comm)(m)


__all__ = ["BatchSum", "GlobalBatchCloseness", "GlobalDropout", "GlobalLeakyReLUDropout",
           "GlobalMinibatchStd", "OverGlobalBatch", "SyncBatchNorm", "batch_closeness",
           "global_mean", "minibatch_std", "sync_batch_norm"]
