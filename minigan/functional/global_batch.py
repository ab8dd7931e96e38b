"""The data-parallel run in progress, as minigan.gan's steps read it until they take a batch
object (minigan.batch.LocalBatch, or minigan.distributed.GlobalBatch in a data-parallel run):
within Communicator.active() each function asks that run's GlobalBatch. With no run active (one
process) each is one process's: rows_of_batch(draw, shape) = draw(shape), batch_sum(a) = a,
batch_mean(t) = t.mean(axis=0).

No op of minigan.functional reads this module: a data-parallel model gets the global-batch twins
of its batch-wide layers from minigan.distributed.convert instead.
"""
import contextlib

_active = None  # the GlobalBatch of the data-parallel run in progress


@contextlib.contextmanager
def active(batch):
    """Within: batches are `batch.comm`'s rank's share of the global batch `batch`."""
    global _active
    outer, _active = _active, batch
    try:
        yield batch
    finally:
        _active = outer


def syncs_statistics():
    """True in a data-parallel run whose batch statistics are the global batch's."""
    return _active is not None and _active.comm.sync_statistics


def batch_sum(array):
    """An array summed over the ranks when statistics are synchronised (else: the array)."""
    return _active.comm.sum(array) if syncs_statistics() else array


def BatchSum():
    """What BatchSum()(t) gives: the sum over the ranks of a Tensor t, differentiable (the
    active run's GlobalBatch.total; only when statistics are synchronised)."""
    return _active.total


def batch_mean(t):
    """The mean over the rows of the global batch of a Tensor (N, ...) -> (...), differentiable
    (one process: t.mean(axis=0))."""
    return t.mean(axis=0) if _active is None else _active.mean(t)


def batch_mean_array(array):
    """As batch_mean, for an array that needs no gradient."""
    return array.mean(axis=0) if _active is None else _active.mean_of(array)


def rows_of_batch(draw, shape):
    """This rank's rows of a random array for the global batch: draw((K * n,) + shape[1:])
    sliced to rows [r * n, (r + 1) * n), n = shape[0] (one process: draw(shape))."""
    return draw(tuple(shape)) if _active is None else _active.rows_of(draw, shape)


__all__ = ["BatchSum", "active", "batch_mean", "batch_mean_array", "batch_sum", "rows_of_batch",
           "syncs_statistics"]
