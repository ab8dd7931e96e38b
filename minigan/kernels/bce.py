"""Binary cross-entropy hot loops, each log clamped at -100 exactly as PyTorch does:

    loss = -(t * max(log p, -100) + (1 - t) * max(log(1 - p), -100))
    dloss/dp = (p - t) / max(p * (1 - p), 1e-12)       (PyTorch's backward, finite at p = 0 or 1)

Both are NaN where p or t is outside [0, 1] (or NaN): a bad input cannot pass as a finite loss.
The losses raise on such input up front on the CPU; on the GPU the NaN stops the trainer instead.
"""
import math

import numba
import numpy as np

from minigan import backend
from minigan.kernels import cpu, cuda

LOG_FLOOR = -100.0
EPS = 1e-12

CUDA_SOURCE = r"""
extern "C" __global__ void minigan_bce_forward_SUFFIX(const scalar_t* p, const scalar_t* t,
        scalar_t* loss, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    if (!(p[i] >= 0 && p[i] <= 1 && t[i] >= 0 && t[i] <= 1)) {  // outside [0, 1] or NaN
        loss[i] = (scalar_t)nan("");
        return;
    }
    scalar_t log_p = p[i] > 0 ? log(p[i]) : (scalar_t)-100;       // log 0 = -inf -> -100
    scalar_t log_1mp = p[i] < 1 ? log(1 - p[i]) : (scalar_t)-100;
    log_p = log_p > -100 ? log_p : (scalar_t)-100;
    log_1mp = log_1mp > -100 ? log_1mp : (scalar_t)-100;
    loss[i] = -(t[i] * log_p + (1 - t[i]) * log_1mp);
}

extern "C" __global__ void minigan_bce_backward_SUFFIX(const scalar_t* p, const scalar_t* t,
        const scalar_t* gy, scalar_t* gp, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    if (!(p[i] >= 0 && p[i] <= 1 && t[i] >= 0 && t[i] <= 1)) {
        gp[i] = (scalar_t)nan("");
        return;
    }
    scalar_t d = p[i] * (1 - p[i]);
    gp[i] = gy[i] * (p[i] - t[i]) / (d > (scalar_t)1e-12 ? d : (scalar_t)1e-12);
}
"""


def in_domain(p, t):
    """True where p and t are both in [0, 1] (False for NaN)."""
    return (p >= 0) & (p <= 1) & (t >= 0) & (t <= 1)


def forward_reference(p, t):
    with np.errstate(divide="ignore", invalid="ignore"):
        log_p = np.maximum(np.log(p), LOG_FLOOR)
        log_1mp = np.maximum(np.log(1 - p), LOG_FLOOR)
        return np.where(in_domain(p, t), -(t * log_p + (1 - t) * log_1mp), np.nan)


@numba.njit(cache=True)  # serial: the GAN's losses have 64 elements, threads would cost more
def forward_cpu(p, t):                    # p, t are 1-D and of one size
    loss = np.empty_like(p)
    one, floor = p.dtype.type(1), p.dtype.type(LOG_FLOOR)  # all in p's precision, as on the GPU
    for i in range(p.size):
        if not (p[i] >= 0 and p[i] <= one and t[i] >= 0 and t[i] <= one):  # NaN fails too
            loss[i] = np.nan
            continue
        log_p = max(math.log(p[i]), floor) if p[i] > 0 else floor
        log_1mp = max(math.log(one - p[i]), floor) if p[i] < one else floor
        loss[i] = -(t[i] * log_p + (one - t[i]) * log_1mp)
    return loss


def forward_gpu(p, t):
    xp = backend.xp_of(p)
    p, t = xp.ascontiguousarray(p), xp.ascontiguousarray(t, dtype=p.dtype)
    loss = xp.empty_like(p)
    cuda.launch(CUDA_SOURCE, "minigan_bce_forward_SUFFIX", p.size, p.dtype, p, t, loss, p.size)
    return loss


def forward(p, t):
    """Elementwise losses, p's shape."""
    if backend.on_gpu(p):
        return forward_gpu(p, t)
    return cpu.run_flat(forward_cpu, p.shape, (p, t))


def backward_reference(p, t, gy):
    return np.where(in_domain(p, t), gy * (p - t) / np.maximum(p * (1 - p), EPS), np.nan)


@numba.njit(cache=True)
def backward_cpu(p, t, gy):               # all 1-D and of one size
    gp = np.empty_like(p)
    one, eps = p.dtype.type(1), p.dtype.type(EPS)
    for i in range(p.size):
        if not (p[i] >= 0 and p[i] <= one and t[i] >= 0 and t[i] <= one):
            gp[i] = np.nan
            continue
        gp[i] = gy[i] * (p[i] - t[i]) / max(p[i] * (one - p[i]), eps)
    return gp


def backward_gpu(p, t, gy):
    xp = backend.xp_of(p)
    p, t = xp.ascontiguousarray(p), xp.ascontiguousarray(t, dtype=p.dtype)
    gy = xp.ascontiguousarray(xp.broadcast_to(xp.asarray(gy, dtype=p.dtype), p.shape))
    gp = xp.empty_like(p)
    cuda.launch(CUDA_SOURCE, "minigan_bce_backward_SUFFIX", p.size, p.dtype, p, t, gy, gp, p.size)
    return gp


def backward(p, t, gy):
    """dloss/dp * gy, with gy broadcast to p's shape (a scalar for mean/sum reductions)."""
    if backend.on_gpu(p):
        return backward_gpu(p, t, gy)
    gy = np.broadcast_to(np.asarray(gy, dtype=p.dtype), p.shape)
    return cpu.run_flat(backward_cpu, p.shape, (p, t, gy))


@numba.njit(cache=True)
def first_outside_domain_cpu(a):          # a is 1-D
    for i in range(a.size):
        if not (a[i] >= 0 and a[i] <= 1):  # NaN fails too
            return i
    return -1


def first_outside_domain(a):
    """Flat index of the first element of a outside [0, 1] or NaN, checked on the CPU (one pass
    over the small (N, 1) arrays); -1 when there is none, and always on the GPU: reading the
    answer back would make every call wait for the device, so there the kernels' NaN loss stops
    the trainer instead."""
    if backend.on_gpu(a):
        return -1
    return first_outside_domain_cpu(a.ravel())


def nan_outside_domain(t):
    """t, with NaN where it is outside [0, 1] on the GPU (the kernels' rule, for the logits form,
    which has no kernel of its own); the CPU checked t up front."""
    if not backend.on_gpu(t):
        return t
    xp = backend.xp_of(t)
    return xp.where((t >= 0) & (t <= 1), t, xp.asarray(np.nan, dtype=t.dtype))
