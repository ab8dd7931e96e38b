"""Dropout (inverted): y = x * keep / (1 - rate) while training, y = x at evaluation; and the
same fused with a LeakyReLU before it (one pass over memory instead of two, forward and back)."""
import numpy as np

from minigan import backend, kernels
from minigan.functional import global_batch
from minigan.autograd import Function, Tensor, float_tensor
from minigan.functional.activation import leaky_relu


class Dropout(Function):
    """y = act(x) * keep * scale, act(x) = x if x > 0 else alpha * x (alpha = 1: plain dropout),
    scale = 1 / (1 - rate), keep ~ Bernoulli(1 - rate).
    dx = gy * keep * scale * (1 if x > 0 else alpha) (the same mask).

    The mask is drawn in the kernel from a seed that minigan's seeded generator provides, or
    given (`keep`), e.g. to share a mask with another library in a test.
    """

    def __init__(self, rate, keep=None, alpha=1.0):
        self.rate, self.keep, self.alpha = rate, keep, alpha
        self.scale = 1.0 / (1.0 - rate)

    def forward(self, x):
        self.x = x if self.alpha != 1.0 else None  # backward needs x only for the slope
        if self.keep is not None:  # a given mask (tests): LeakyReLU first, as the ops in turn
            act = kernels.leaky_relu.forward(x, self.alpha) if self.alpha != 1.0 else x
            return kernels.dropout.apply(act, self.keep, self.scale)
        seed = int(backend.rng("cpu").integers(0, 2**63))
        threshold = kernels.dropout.keep_threshold(self.rate)
        first_row = global_batch.share(x.shape[0])[0]   # the mask is the global batch's
        y, self.keep = kernels.dropout.forward(x, seed, threshold, self.scale, self.alpha,
                                               first=first_row * (x.size // x.shape[0]))
        return y

    def backward(self, gy):
        return kernels.dropout.apply(gy, self.keep, self.scale, self.x, self.alpha)


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
    if not training or rate == 0.0:
        return x
    return Dropout(rate, _mask_for(x, mask) if mask is not None else None)(x)


def leaky_relu_dropout(x, alpha, rate, training=True, *, mask=None):
    """dropout(leaky_relu(x, alpha), rate, training) in one kernel pass: the same values, the
    same gradients and the same random stream as the two ops one after the other."""
    _check_rate(rate)
    x = float_tensor("leaky_relu_dropout", x)
    if not training or rate == 0.0:
        return leaky_relu(x, alpha)
    return Dropout(rate, _mask_for(x, mask) if mask is not None else None, alpha)(x)
