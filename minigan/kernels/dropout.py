"""Dropout hot loops: y = x * keep * scale, scale = 1 / (1 - rate), keep ~ Bernoulli(1 - rate).

The mask is drawn inside the kernel from a counter-based generator: element i keeps its value
when the top 24 bits of splitmix64(seed, i) reach `threshold` = ceil(rate * 2**24). Each element's
draw depends only on (seed, i), so the loop runs on every core with no shared generator state,
and the per-call seed comes from minigan's seeded generator (manual_seed makes runs repeat).
Backward is `apply` with the same mask.
"""
import math

import numba
import numpy as np

from minigan import backend
from minigan.kernels.im2col import _gpu_twin_missing

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX1, MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
S30, S27, S31, S40 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(40)


def keep_threshold(rate):
    """The 24-bit threshold: P(u24 >= threshold) = 1 - rate, up to 2**-24."""
    return int(math.ceil(rate * 2 ** 24))


def mask_reference(n, seed, threshold):
    """keep[i] = top24(splitmix64(seed + (i + 1) * GOLDEN)) >= threshold, for i < n."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + (np.arange(n, dtype=np.uint64) + np.uint64(1)) * GOLDEN
        z = (z ^ (z >> S30)) * MIX1
        z = (z ^ (z >> S27)) * MIX2
        z = z ^ (z >> S31)
    return (z >> S40) >= np.uint64(threshold)


def forward_reference(x, seed, threshold, scale):
    keep = mask_reference(x.size, seed, threshold).reshape(x.shape)
    return np.where(keep, x * x.dtype.type(scale), 0).astype(x.dtype), keep


@numba.njit(parallel=True, cache=True)
def forward_cpu(x, seed, threshold, scale):   # x is 1-D: the dispatcher flattens
    y = np.empty_like(x)
    keep = np.empty(x.size, dtype=np.bool_)
    s = x.dtype.type(scale)
    base, limit = np.uint64(seed), np.uint64(threshold)
    for i in numba.prange(x.size):
        z = base + (np.uint64(i) + np.uint64(1)) * GOLDEN
        z = (z ^ (z >> S30)) * MIX1
        z = (z ^ (z >> S27)) * MIX2
        z = z ^ (z >> S31)
        keep[i] = (z >> S40) >= limit
        y[i] = x[i] * s if keep[i] else 0
    return y, keep


def forward_gpu(x, seed, threshold, scale):
    _gpu_twin_missing("dropout.forward")


def forward(x, seed, threshold, scale):
    """(y, keep): the mask drawn from (seed, threshold) and applied, in one pass."""
    if backend.on_gpu(x):
        return forward_gpu(x, seed, threshold, scale)
    y, keep = forward_cpu(np.ascontiguousarray(x).reshape(-1), seed, threshold, scale)
    return y.reshape(x.shape), keep.reshape(x.shape)


def apply_reference(x, keep, scale):
    return np.where(keep, x * x.dtype.type(scale), 0).astype(x.dtype)


@numba.njit(parallel=True, cache=True)
def apply_cpu(x, keep, scale):            # x, keep are 1-D and of one size
    y = np.empty_like(x)
    s = x.dtype.type(scale)
    for i in numba.prange(x.size):
        y[i] = x[i] * s if keep[i] else 0
    return y


def apply_gpu(x, keep, scale):
    _gpu_twin_missing("dropout.apply")


def apply(x, keep, scale):
    """x * keep * scale, elementwise; keep is a bool array of x's shape."""
    if backend.on_gpu(x):
        return apply_gpu(x, keep, scale)
    flat_keep = np.ascontiguousarray(keep).reshape(-1)
    return apply_cpu(np.ascontiguousarray(x).reshape(-1), flat_keep, scale).reshape(x.shape)
