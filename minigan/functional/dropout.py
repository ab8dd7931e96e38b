"""Dropout (inverted): y = x * keep / (1 - rate) while training, y = x at evaluation."""
from minigan import backend, kernels
from minigan.autograd import Function, as_tensor


class Dropout(Function):
    """y = x * keep * scale, scale = 1 / (1 - rate), keep ~ Bernoulli(1 - rate).
    dx = gy * keep * scale (the same mask: backward keeps only it).

    The mask is drawn in the kernel from a seed that minigan's seeded generator provides, or
    given (`keep`), e.g. to share a mask with another library in a test.
    """

    def __init__(self, rate, keep=None):
        self.rate, self.keep, self.scale = rate, keep, 1.0 / (1.0 - rate)

    def forward(self, x):
        if self.keep is not None:
            return kernels.dropout.apply(x, self.keep, self.scale)
        seed = int(backend.rng("cpu").integers(0, 2**63))
        threshold = kernels.dropout.keep_threshold(self.rate)
        y, self.keep = kernels.dropout.forward(x, seed, threshold, self.scale)
        return y

    def backward(self, gy):
        return kernels.dropout.apply(gy, self.keep, self.scale)


def dropout(x, rate, training=True, *, mask=None):
    """Zero each element with probability `rate` and scale the rest by 1 / (1 - rate).

    Identity when not training. `mask` (a bool array of x's shape, True = keep) replaces the
    random draw. The mask of the last call is kept on the returned tensor's creator.
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate} (rate is the fraction "
                         "dropped; 1 would drop everything)")
    x = as_tensor(x)
    if not training or rate == 0.0:
        return x
    if mask is not None:
        mask = mask.data if hasattr(mask, "_ctx") else mask
        mask = backend.to_device(backend.xp(x.device).asarray(mask), x.device).astype(bool)
        if mask.shape != x.shape:
            raise ValueError(f"dropout: mask has shape {mask.shape}, x has {x.shape}")
    return Dropout(rate, mask)(x)
