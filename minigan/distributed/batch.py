"""What a training step draws and averages over its batch (minigan.batch.LocalBatch's methods),
for the global batch of a data-parallel run, of which this rank holds rows [r * n, (r + 1) * n).
"""
import numpy as np

from minigan import backend
from minigan.autograd import Tensor
from minigan.batch import LocalBatch, host_labels
from minigan.distributed.ops import BatchSum, global_mean
from minigan.conditional import DIGITS


class GlobalBatch(LocalBatch):
    """The global batch of `comm`'s ranks. Random draws are always the global batch's rows, so
    the run's random numbers do not depend on K (and a checkpoint resumes with any K). The
    means are the global batch's when comm.sync_statistics, else this rank's (LocalBatch's)."""

    def __init__(self, comm):
        self.comm = comm

    def rows_of(self, draw, shape):
        """This rank's rows of a random array for the global batch: draw((K * n,) + shape[1:])
        sliced to rows [r * n, (r + 1) * n), n = shape[0] (one rank: draw(shape))."""
        n, total = shape[0], self.comm.size * shape[0]
        if total == n:
            return draw(tuple(shape))
        first = self.comm.rank * n
        return draw((total,) + tuple(shape[1:]))[first:first + n]

    def normal(self, shape):
        return self.rows_of(super().normal, shape)

    def total(self, t):
        """The sum over the ranks of a Tensor, differentiable (BatchSum)."""
        return BatchSum(self.comm)(t)

    def mean(self, t):
        """sum over the ranks of t.sum(axis=0), over K * n rows."""
        if not self.comm.sync_statistics:
            return super().mean(t)
        return self.total(t.sum(axis=0)) / float(self.comm.size * t.shape[0])

    def mean_of(self, array):
        if not self.comm.sync_statistics:
            return super().mean_of(array)
        return global_mean(self.comm, array)

    def class_mean_gap(self, labels, fake, real):
        """Per digit, the global batch's mean of fake minus its mean of real: each rank weighs
        its rows by 1 / (the digit's count over all ranks), and the weighted sums are summed
        over the ranks. Digits absent from the whole global batch have no row."""
        if not self.comm.sync_statistics:
            return super().class_mean_gap(labels, fake, real)
        n = fake.shape[0]
        labels = host_labels(labels)
        onehot = (labels[None, :] == np.arange(DIGITS)[:, None]).astype(fake.dtype)  # (10, n)
        counts = self.comm.sum(onehot.sum(axis=1))
        present = counts > 0
        weights = backend.to_device(onehot[present] / counts[present][:, None], fake.device)
        return self.total(Tensor(weights) @ fake.reshape(n, -1)) - \
            self.comm.sum(weights @ real.reshape(n, -1))


__all__ = ["GlobalBatch"]
