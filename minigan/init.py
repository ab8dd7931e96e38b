"""Weight initialisers: seeded (minigan.manual_seed), float32, on the current device.

Draws always come from the CPU generator and are then moved, so the same seed gives the same
initial weights on the CPU and on the GPU.
"""
import math

import numpy as np

from minigan import backend


def fans(shape):
    """(fan_in, fan_out) as Keras computes them: (out, in) for Dense, (OC, C, KH, KW) for conv,
    where each input (output) channel feeds KH*KW weights."""
    if len(shape) < 2:
        raise ValueError(f"fans need a weight of at least 2 dimensions, got shape {shape}")
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def glorot_uniform(shape, device=None):
    """U(-limit, limit) with limit = sqrt(6 / (fan_in + fan_out)): the Keras default."""
    fan_in, fan_out = fans(shape)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    w = backend.rng("cpu").uniform(-limit, limit, size=shape).astype(np.float32)
    return backend.to_device(w, backend.normalize_device(device))


def normal(shape, std=1.0, device=None):
    """N(0, std^2): PyTorch's default for embedding tables."""
    w = backend.rng("cpu").normal(0.0, std, size=shape).astype(np.float32)
    return backend.to_device(w, backend.normalize_device(device))


def zeros(shape, device=None):
    return backend.xp(device).zeros(shape, dtype=np.float32)


def ones(shape, device=None):
    return backend.xp(device).ones(shape, dtype=np.float32)
