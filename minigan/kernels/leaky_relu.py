"""LeakyReLU hot loops: y = x if x > 0 else alpha * x;  dx = gy if x > 0 else alpha * gy."""
import numba
import numpy as np

from minigan import backend
from minigan.kernels.im2col import _gpu_twin_missing


def forward_reference(x, alpha):          # the definition; tests use it as the oracle
    return np.where(x > 0, x, alpha * x)


@numba.njit(parallel=True, cache=True)
def forward_cpu(x, alpha):                # x is 1-D: the dispatcher flattens
    y = np.empty_like(x)
    a = x.dtype.type(alpha)
    for i in numba.prange(x.size):
        y[i] = x[i] if x[i] > 0 else a * x[i]
    return y


def forward_gpu(x, alpha):
    _gpu_twin_missing("leaky_relu.forward")


def forward(x, alpha):
    if backend.on_gpu(x):
        return forward_gpu(x, alpha)
    return forward_cpu(np.ascontiguousarray(x).reshape(-1), alpha).reshape(x.shape)


def backward_reference(x, gy, alpha):
    return np.where(x > 0, gy, alpha * gy)


@numba.njit(parallel=True, cache=True)
def backward_cpu(x, gy, alpha):           # x, gy are 1-D and of one size
    gx = np.empty_like(gy)
    a = gy.dtype.type(alpha)
    for i in numba.prange(x.size):
        gx[i] = gy[i] if x[i] > 0 else a * gy[i]
    return gx


def backward_gpu(x, gy, alpha):
    _gpu_twin_missing("leaky_relu.backward")


def backward(x, gy, alpha):
    if backend.on_gpu(x):
        return backward_gpu(x, gy, alpha)
    flat = np.ascontiguousarray(x).reshape(-1)
    return backward_cpu(flat, np.ascontiguousarray(gy).reshape(-1), alpha).reshape(x.shape)
