"""Bad input met with one line, before anything trains or is written: an empty batch in any op
(the same rule on every path), training images that are not finite or not in [-1, 1], a batch
too small for the recipe's batch statistics, an MPI launch without --distributed, and a resumed
run whose data-parallel statistics differ from its checkpoint's. The MPI runs themselves are in
tests/test_distributed_ranks.py."""
import numpy as np
import pytest

import minigan as mg
import minigan.functional as F
from minigan import nn
from minigan.distributed import ops


def empty(*shape):
    return mg.tensor(np.zeros(shape, np.float32), requires_grad=True)


def weights(*shape):
    return mg.tensor(np.ones(shape, np.float32), requires_grad=True)


def batch_norm(layer, training):
    return (layer.train() if training else layer.eval())


# Every path an empty batch (N = 0) can take: each is refused by the op it reaches first.
EMPTY_BATCHES = {
    "conv2d im2col": ("conv2d", lambda: F.conv2d(empty(0, 1, 8, 8), weights(4, 1, 3, 3),
                                                 algorithm="im2col")),
    "conv2d stride 2": ("conv2d", lambda: F.conv2d(empty(0, 1, 8, 8), weights(4, 1, 3, 3),
                                                   stride=2)),
    "conv2d winograd": ("conv2d", lambda: F.conv2d(empty(0, 8, 8, 8), weights(8, 8, 3, 3),
                                                   algorithm="winograd")),
    "Conv2D layer": ("conv2d", lambda: nn.Conv2D(8, 8, 3)(empty(0, 8, 8, 8))),
    "conv_transpose2d": ("conv_transpose2d", lambda: nn.ConvTranspose2D(
        4, 2, 4, stride=2, padding=1)(empty(0, 4, 7, 7))),
    "BatchNorm1d train": ("batch_norm", lambda: batch_norm(nn.BatchNorm1d(3), True)(
        empty(0, 3))),
    "BatchNorm1d eval": ("batch_norm", lambda: batch_norm(nn.BatchNorm1d(3), False)(
        empty(0, 3))),
    "BatchNorm2d train": ("batch_norm", lambda: batch_norm(nn.BatchNorm2d(3), True)(
        empty(0, 3, 4, 4))),
    "BatchNorm2d eval": ("batch_norm", lambda: batch_norm(nn.BatchNorm2d(3), False)(
        empty(0, 3, 4, 4))),
    "Dense": ("dense", lambda: nn.Dense(3, 2)(empty(0, 3))),
    "dropout": ("dropout", lambda: F.dropout(empty(0, 3), 0.5)),
    "dropout eval": ("dropout", lambda: F.dropout(empty(0, 3), 0.5, training=False)),
    "leaky_relu_dropout": ("leaky_relu_dropout", lambda: F.leaky_relu_dropout(
        empty(0, 3), 0.2, 0.5)),
    "minibatch_std": ("minibatch_std", lambda: F.minibatch_std(empty(0, 3))),
    "global minibatch_std": ("minibatch_std", lambda: ops.minibatch_std(empty(0, 3), None)),
    "batch_closeness": ("batch_closeness", lambda: F.batch_closeness(empty(0, 3, 2))),
    "binary_cross_entropy": ("binary_cross_entropy", lambda: F.binary_cross_entropy(
        empty(0, 1), empty(0, 1))),
    "binary_cross_entropy_with_logits": ("binary_cross_entropy_with_logits",
                                         lambda: F.binary_cross_entropy_with_logits(
                                             empty(0, 1), empty(0, 1))),
    "cross_entropy": ("cross_entropy", lambda: F.cross_entropy(empty(0, 10),
                                                               np.zeros(0, np.int64))),
}


@pytest.mark.parametrize("path", EMPTY_BATCHES)
def test_an_empty_batch_is_one_value_error_on_every_path(path):
    op, call = EMPTY_BATCHES[path]
    with pytest.raises(ValueError, match=rf"^{op}: the batch is empty \(x has shape \(0, "
                                         r"[0-9, ]*\)\); give at least one sample$"):
        call()
