"""Binary cross-entropy hot loops, each log clamped at -100 exactly as PyTorch does:

    loss = -(t * max(log p, -100) + (1 - t) * max(log(1 - p), -100))
    dloss/dp = (p - t) / max(p * (1 - p), 1e-12)       (PyTorch's backward, finite at p = 0 or 1)
"""
import math

import numba
import numpy as np

from minigan import backend
from minigan.kernels.im2col import _gpu_twin_missing

LOG_FLOOR = -100.0
EPS = 1e-12


def forward_reference(p, t):
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(p), LOG_FLOOR)
        log_1mp = np.maximum(np.log(1 - p), LOG_FLOOR)
    return -(t * log_p + (1 - t) * log_1mp)


@numba.njit(cache=True)  # serial: the GAN's losses have 64 elements, threads would cost more
def forward_cpu(p, t):                    # p, t are 1-D and of one size
    loss = np.empty_like(p)
    for i in range(p.size):
        log_p = math.log(p[i]) if p[i] > 0 else -math.inf
        log_1mp = math.log(1 - p[i]) if p[i] < 1 else -math.inf
        loss[i] = -(t[i] * max(log_p, LOG_FLOOR) + (1 - t[i]) * max(log_1mp, LOG_FLOOR))
    return loss


def forward_gpu(p, t):
    _gpu_twin_missing("bce.forward")


def forward(p, t):
    """Elementwise losses, p's shape."""
    if backend.on_gpu(p):
        return forward_gpu(p, t)
    flat_t = np.ascontiguousarray(t).reshape(-1)
    return forward_cpu(np.ascontiguousarray(p).reshape(-1), flat_t).reshape(p.shape)


def backward_reference(p, t, gy):
    return gy * (p - t) / np.maximum(p * (1 - p), EPS)


@numba.njit(cache=True)
def backward_cpu(p, t, gy):               # all 1-D and of one size
    gp = np.empty_like(p)
    for i in range(p.size):
        gp[i] = gy[i] * (p[i] - t[i]) / max(p[i] * (1 - p[i]), EPS)
    return gp


def backward_gpu(p, t, gy):
    _gpu_twin_missing("bce.backward")


def backward(p, t, gy):
    """dloss/dp * gy, with gy broadcast to p's shape (a scalar for mean/sum reductions)."""
    if backend.on_gpu(p):
        return backward_gpu(p, t, gy)
    gy = np.ascontiguousarray(np.broadcast_to(gy, p.shape), dtype=p.dtype).reshape(-1)
    flat_p, flat_t = np.ascontiguousarray(p).reshape(-1), np.ascontiguousarray(t).reshape(-1)
    return backward_cpu(flat_p, flat_t, gy).reshape(p.shape)
