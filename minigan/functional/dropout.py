"""Dropout (inverted): y = x * keep / (1 - rate) while training, y = x at evaluation; and the
same fused with a LeakyReLU before it (one pass over memory instead of two, forward and back)."""
import numpy as np

from minigan import backend, kernels
from minigan.autograd import Function, Tensor, float_tensor
from minigan.functional.activation import leaky_relu
from minigan.functional.empty_batch import check_batch


class Dropout(Function):
    """y = x * keep * scale, scale = 1 / (1 - rate), keep ~ Bernoulli(1 - rate).
    dx = gy * keep * scale (the same mask).

    The mask is drawn in the kernel from a seed that minigan's seeded generator provides and
    each element's index in the tensor the mask is drawn for: x itself, whose first element is
    index 0 (first_index; a subclass may draw for a larger tensor of which x is a part).
    """

    def __init__(self, rate):
        self.rate = rate
        self.scale = 1.0 / (1.0 - rate)

    def forward(self, x):
        y, self.keep = self.draw(x, 1.0)   # slope 1: no LeakyReLU
        return y

    def backward(self, gy):
        return kernels.dropout.apply(gy, self.keep, self.scale)

    def draw(self, x, alpha):
        """(y, keep): a fresh mask applied to x after the leaky slope alpha, in one pass."""
        seed = int(backend.rng("cpu").integers(0, 2**63))
        threshold = kernels.dropout.keep_threshold(self.rate)
        return kernels.dropout.forward(x, seed, threshold, self.scale, alpha,
                                       first=self.first_index(x))

    def first_index(self, x):
        """The index of x's first element in the tensor the mask is drawn for."""
        return 0


class LeakyReLUDropout(Dropout):
    """y = act(x) * keep * scale, act(x) = x if x > 0 else alpha * x: dropout of a LeakyReLU,
    with the same mask and random stream as the two ops in turn.
    dx = gy * keep * scale * (1 if x > 0 else alpha)."""

    def __init__(self, alpha, rate):
        super().__init__(rate)
        self.alpha = alpha

    def forward(self, x):
        self.x = x                        # backward needs only the sign of x
        y, self.keep = self.draw(x, self.alpha)
        return y

    def backward(self, gy):
        return kernels.dropout.apply(gy, self.keep, self.scale, self.x, self.alpha)


class DropoutWithMask(Dropout):
    """Dropout with a given mask `keep` (a bool array of x's shape, True = keep) instead of a
    drawn one, e.g. to share a mask with another library: y = x * keep * scale."""

    def __init__(self, rate, keep):
        super().__init__(rate)
        self.keep = keep

    def forward(self, x):
        return kernels.dropout.apply(x, self.keep, self.scale)


def _mask_for(x, mask):
    mask = mask.data if isinstance(mask, Tensor) else mask
    mask = mask if hasattr(mask, "shape") else np.asarray(mask)  # a list
    if mask.dtype != bool:  # a float mask would be cast (0.5 -> keep): refuse it
        raise TypeError(f"dropout: mask must be a bool array (True = keep), got {mask.dtype}; "
                        "compare it first, e.g. mask > 0")
    mask = backend.to_device(mask, x.device)                     # from either device
    if mask.shape != x.shape:
        raise ValueError(f"dropout: mask has shape {mask.shape}, x has {x.shape}")
    return mask


def _check_rate(rate):
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate} (rate is the fraction "
                         "dropped; 1 would drop everything)")


def dropout(x, rate, training=True, *, mask=None):
    """Zero each element with probability `rate` and scale the rest by 1 / (1 - rate).

    Identity when not training. `mask` (a bool array of x's shape, True = keep) replaces the
    random draw. The mask of the last call is kept on the returned tensor's creator.
    """
    _check_rate(rate)
    x = float_tensor("dropout", x)
    check_batch("dropout", x)
    if not training or rate == 0.0:
        return x
    if mask is not None:
        return DropoutWithMask(rate, _mask_for(x, mask))(x)
    return Dropout(rate)(x)


def leaky_relu_dropout(x, alpha, rate, training=True, *, mask=None):
    """dropout(leaky_relu(x, alpha), rate, training) in one kernel pass: the same values, the
    same gradients and the same random stream as the two ops one after the other (with a given
    `mask`, they are the two ops in turn)."""
    _check_rate(rate)
    x = float_tensor("leaky_relu_dropout", x)
    check_batch("leaky_relu_dropout", x)
    if not training or rate == 0.0:
        return leaky_relu(x, alpha)
    if mask is not None:
        return DropoutWithMask(rate, _mask_for(x, mask))(leaky_relu(x, alpha))
    return LeakyReLUDropout(alpha, rate)(x)
