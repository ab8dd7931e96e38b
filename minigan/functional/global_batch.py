"""The global batch of a data-parallel run, as the layers see it: which rows of it this process
holds, and its statistics. With no run active (one process) every function is the identity of
one process: share(n) = (0, n), batch_sum(a) = a, batch_mean(t) = t.mean(axis=0).

minigan.distributed.Communicator.active() makes a run active; this module only asks the active
communicator for `rank`, `size`, `sync_statistics`, `sum(array)` and `gather_rows(array)`, so
the layers depend on no MPI code.
"""
import contextlib

from minigan.autograd import Function

_active = None  # the communicator of the data-parallel run in progress


@contextlib.contextmanager
def active(communicator):
    """Within: batches are `communicator`'s rank's share of the global batch."""
    global _active
    outer, _active = _active, communicator
    try:
        yield communicator
    finally:
        _active = outer


def share(n):
    """(first row, rows of the global batch) for a local batch of n rows: rank r holds rows
    [r * n, (r + 1) * n) of K * n. One process: (0, n)."""
    if _active is None:
        return 0, n
    return _active.rank * n, _active.size * n


def syncs_statistics():
    """True in a data-parallel run whose batch statistics are the global batch's."""
    return _active is not None and _active.sync_statistics


def statistics_rows(n):
    """The rows a batch statistic runs over, for a local batch of n rows: the global batch's
    K * n when statistics are synchronised, else n."""
    return share(n)[1] if syncs_statistics() else n


def batch_sum(array):
    """An array summed over the ranks when statistics are synchronised (else: the array)."""
    return _active.sum(array) if syncs_statistics() else array


def gather_rows(array):
    """Every rank's rows of a per-row array when statistics are synchronised (else: the
    array)."""
    return _active.gather_rows(array) if syncs_statistics() else array


class BatchSum(Function):
    """y = sum over the ranks of x (the same y on every rank). Every rank's loss depends on y,
    so dL/dx on each rank is the sum over the ranks of what their losses send back:
    dx = sum over the ranks of gy."""

    def forward(self, x):
        return batch_sum(x)

    def backward(self, gy):
        return batch_sum(gy)


def batch_mean(t):
    """The mean over the rows of the global batch of a Tensor (N, ...) -> (...), differentiable
    (one process: t.mean(axis=0))."""
    if not syncs_statistics():
        return t.mean(axis=0)
    return BatchSum()(t.sum(axis=0)) / float(statistics_rows(t.shape[0]))


def batch_mean_array(array):
    """As batch_mean, for an array that needs no gradient."""
    if not syncs_statistics():
        return array.mean(axis=0)
    return batch_sum(array.sum(axis=0)) / array.dtype.type(statistics_rows(array.shape[0]))


def rows_of_batch(draw, shape):
    """This rank's rows of a random array for the global batch: draw((K * n,) + shape[1:])
    sliced to rows [r * n, (r + 1) * n), n = shape[0] (one process: draw(shape))."""
    first, total = share(shape[0])
    if total == shape[0]:
        return draw(tuple(shape))
    return draw((total,) + tuple(shape[1:]))[first:first + shape[0]]


__all__ = ["BatchSum", "active", "batch_mean", "batch_mean_array", "batch_sum", "gather_rows",
           "rows_of_batch", "share", "statistics_rows", "syncs_statistics"]
