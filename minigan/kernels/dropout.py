"""Dropout hot loops, fused with the LeakyReLU that precedes it in the GAN's discriminator:

    y = act(x) * keep * scale,   act(x) = x if x > 0 else alpha * x   (alpha = 1: plain dropout)
    dx = gy * keep * scale * (1 if x > 0 else alpha)

scale = 1 / (1 - rate), keep ~ Bernoulli(1 - rate). The mask is drawn inside the kernel from a
counter-based generator: element i keeps its value when the top 24 bits of
h(i) = mix32(mix32(i + s0) ^ s1) reach `threshold` = ceil(rate * 2**24), with (s0, s1) the two
32-bit halves of a 64-bit seed and mix32 the "lowbias32" integer hash (two multiply-xorshift
rounds). Each element's draw depends only on (seed, i), so the loop runs on every core with no
shared generator state and vectorizes (32-bit multiplies); the per-call seed comes from minigan's
seeded generator (manual_seed makes runs repeat). Backward (`apply`) reuses the mask.
"""
import math

import numba
import numpy as np

from minigan import backend
from minigan.kernels import cpu, cuda

MIX1, MIX2 = np.uint32(0x7FEB352D), np.uint32(0x846CA68B)
S16, S15, S8 = np.uint32(16), np.uint32(15), np.uint32(8)
MAX_ELEMENTS = 2 ** 32  # the counter is 32 bits


CUDA_SOURCE = r"""
__device__ __forceinline__ unsigned int minigan_mix32(unsigned int z) {   // lowbias32
    z ^= z >> 16;
    z *= 0x7FEB352Du;
    z ^= z >> 15;
    z *= 0x846CA68Bu;
    return z ^ (z >> 16);
}

// y = act(x) * keep * scale, keep = top24(mix32(mix32(i + s0) ^ s1)) >= threshold: the same
// mask as the Numba loop for the same seed, on any device.
extern "C" __global__ void minigan_dropout_forward_SUFFIX(const scalar_t* x, scalar_t* y,
        bool* keep, long long n, unsigned int s0, unsigned int s1, unsigned int threshold,
        scalar_t scale, scalar_t alpha) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    unsigned int h = minigan_mix32(minigan_mix32((unsigned int)i + s0) ^ s1);
    bool k = (h >> 8) >= threshold;
    keep[i] = k;
    scalar_t v = x[i] > 0 ? x[i] : alpha * x[i];
    y[i] = k ? v * scale : (scalar_t)0;
}

// out = (keep ? g * scale : 0), times alpha where x <= 0 (dropout's, then LeakyReLU's backward).
extern "C" __global__ void minigan_dropout_apply_SUFFIX(const scalar_t* g, const scalar_t* x,
        const bool* keep, scalar_t* out, long long n, scalar_t scale, scalar_t alpha) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    scalar_t v = keep[i] ? g[i] * scale : (scalar_t)0;
    out[i] = x[i] > 0 ? v : alpha * v;
}
"""


def keep_threshold(rate):
    """The 24-bit threshold: P(u24 >= threshold) = 1 - rate, up to 2**-24."""
    return int(math.ceil(rate * 2 ** 24))


def split_seed(seed):
    """A 64-bit seed as its two 32-bit halves (s0, s1)."""
    seed = int(seed) % 2 ** 64
    return seed & 0xFFFFFFFF, seed >> 32


def mix32_reference(z):
    """lowbias32 on uint32 arrays (NumPy's uint32 products wrap modulo 2**32, as in C)."""
    z = z ^ (z >> S16)
    z = z * MIX1
    z = z ^ (z >> S15)
    z = z * MIX2
    return z ^ (z >> S16)


def mask_reference(n, seed, threshold):
    """keep[i] = top24(mix32(mix32(i + s0) ^ s1)) >= threshold, for i < n."""
    s0, s1 = split_seed(seed)
    z = np.arange(n, dtype=np.uint32) + np.uint32(s0)
    z = mix32_reference(mix32_reference(z) ^ np.uint32(s1))
    return (z >> S8) >= np.uint32(threshold)


def forward_reference(x, seed, threshold, scale, alpha=1.0):
    keep = mask_reference(x.size, seed, threshold).reshape(x.shape)
    act = np.where(x > 0, x, x.dtype.type(alpha) * x)
    return np.where(keep, act * x.dtype.type(scale), 0).astype(x.dtype), keep


@numba.njit(inline="always")
def _mix32(z):
    z = z ^ (z >> S16)
    z = np.uint32(z * MIX1)
    z = z ^ (z >> S15)
    z = np.uint32(z * MIX2)
    return z ^ (z >> S16)


@numba.njit(parallel=True, cache=True)
def forward_cpu(x, s0, s1, threshold, scale, alpha):   # x is 1-D: the dispatcher flattens
    y = np.empty_like(x)
    keep = np.empty(x.size, dtype=np.bool_)
    s, a = x.dtype.type(scale), x.dtype.type(alpha)
    seed0, seed1, limit = np.uint32(s0), np.uint32(s1), np.uint32(threshold)
    for i in numba.prange(x.size):
        h = _mix32(_mix32(np.uint32(np.uint32(i) + seed0)) ^ seed1)
        k = (h >> S8) >= limit
        keep[i] = k
        v = x[i] if x[i] > 0 else a * x[i]
        y[i] = v * s if k else x.dtype.type(0)
    return y, keep


def forward_gpu(x, s0, s1, threshold, scale, alpha):
    xp = backend.xp_of(x)
    x = xp.ascontiguousarray(x)
    y, keep = xp.empty_like(x), xp.empty(x.shape, dtype=bool)
    cuda.launch(CUDA_SOURCE, "minigan_dropout_forward_SUFFIX", x.size, x.dtype,
                x, y, keep, x.size, s0, s1, threshold, scale, alpha)
    return y, keep


def _check_size(x):
    if x.size >= MAX_ELEMENTS:
        raise ValueError(f"dropout: {x.size} elements; the mask counter is 32 bits, so at most "
                         f"{MAX_ELEMENTS - 1} per call (split the tensor)")


def forward(x, seed, threshold, scale, alpha=1.0, first=0):
    """(y, keep): the mask drawn from (seed, threshold) and applied after the leaky slope alpha
    (1.0: none), in one pass. `first`: the counter of x's first element, for x a part of a
    larger tensor (data-parallel training): the counter i + first enters the hash as i + s0
    with s0 moved by first (mod 2**32), so the part gets exactly the whole tensor's mask."""
    _check_size(x)
    s0, s1 = split_seed(seed)
    s0 = (s0 + first) % 2 ** 32
    if backend.on_gpu(x):
        return forward_gpu(x, s0, s1, threshold, scale, alpha)
    return cpu.run_flat(forward_cpu, x.shape, (x,), s0, s1, threshold, float(scale), float(alpha))


def apply_reference(g, x, keep, scale, alpha=1.0):
    v = np.where(keep, g * g.dtype.type(scale), 0).astype(g.dtype)
    return np.where(x > 0, v, g.dtype.type(alpha) * v)


@numba.njit(parallel=True, cache=True)
def apply_cpu(g, x, keep, scale, alpha):   # all 1-D and of one size
    out = np.empty_like(g)
    s, a = g.dtype.type(scale), g.dtype.type(alpha)
    for i in numba.prange(g.size):  # as dropout's then LeakyReLU's backward, rounding included
        v = g[i] * s if keep[i] else g.dtype.type(0)
        out[i] = v if x[i] > 0 else a * v
    return out


def apply_gpu(g, x, keep, scale, alpha):
    xp = backend.xp_of(g)
    g, x, keep = (xp.ascontiguousarray(a) for a in (g, x, keep))
    out = xp.empty_like(g)
    cuda.launch(CUDA_SOURCE, "minigan_dropout_apply_SUFFIX", g.size, g.dtype,
                g, x, keep, out, g.size, scale, alpha)
    return out


def apply(g, keep, scale, x=None, alpha=1.0):
    """g * keep * scale * (1 if x > 0 else alpha), elementwise; keep is a bool array of g's
    shape: the backward of forward() (g = gy), or plain dropout with a given mask (x = None)."""
    if x is None:
        x, alpha = g, 1.0  # no slope: any x will do
    if backend.on_gpu(g):
        return apply_gpu(g, x, keep, scale, alpha)
    return cpu.run_flat(apply_cpu, g.shape, (g, x, keep), float(scale), float(alpha))
