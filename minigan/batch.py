"""What a training step draws and averages over its batch, for one process holding the whole
batch: the noise z and instance noise (normal), feature matching's means (mean, mean_of) and the
conditional GAN's per-digit means (class_mean_gap).

A data-parallel run hands the steps minigan.distributed.GlobalBatch instead: the same four
methods over the global batch, of which each rank holds rows. The steps never ask which.
"""
import numpy as np

from minigan import backend
from minigan.autograd import Tensor


class LocalBatch:
    """The batch is all this process's rows."""

    def normal(self, shape):
        """N(0, 1) draws, float32 of `shape` (rows first), from minigan's seeded generator."""
        return backend.rng("cpu").standard_normal(shape, dtype=np.float32)

    def mean(self, t):
        """The mean over the rows of a Tensor (N, ...) -> (...), differentiable."""
        return t.mean(axis=0)

    def mean_of(self, array):
        """As mean, for an array that needs no gradient."""
        return array.mean(axis=0)

    def class_mean_gap(self, labels, fake, real):
        """(digits present, F): per digit of the batch, the mean of the rows of `fake` (a Tensor
        (N, ...)) labelled with it minus the mean of the rows of `real` (an array (N, ...))."""
        n = fake.shape[0]
        means = class_means(labels, n, fake.dtype, fake.device)
        return means @ fake.reshape(n, -1) - means @ real.reshape(n, -1)


def host_labels(labels):
    """Labels (an array or Tensor on any device) as a NumPy array."""
    return np.asarray(backend.to_device(labels.data if isinstance(labels, Tensor) else labels,
                                        "cpu"))


def class_means(labels, n, dtype, device):
    """A (digits present, n) matrix whose product with n rows gives each digit's mean row: row k
    holds 1 / n_k at the samples labelled with the k-th digit present, 0 elsewhere. Built on
    the host from the batch's labels (the trainer's are host arrays: no copy back)."""
    labels = host_labels(labels)
    present = np.unique(labels)
    onehot = (labels[None, :] == present[:, None]).astype(dtype)
    return Tensor(backend.to_device(onehot / onehot.sum(axis=1, keepdims=True), device))


LOCAL_BATCH = LocalBatch()

__all__ = ["LOCAL_BATCH", "LocalBatch", "class_means", "host_labels"]
