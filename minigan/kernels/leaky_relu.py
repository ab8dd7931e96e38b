"""LeakyReLU hot loops: y = x if x > 0 else alpha * x;  dx = gy if x > 0 else alpha * gy."""
import numba
import numpy as np

from minigan import backend
from minigan.kernels import cpu, cuda

CUDA_SOURCE = r"""
extern "C" __global__ void minigan_leaky_relu_forward_SUFFIX(const scalar_t* x, scalar_t* y,
        long long n, scalar_t alpha) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = x[i] > 0 ? x[i] : alpha * x[i];
}

extern "C" __global__ void minigan_leaky_relu_backward_SUFFIX(const scalar_t* x,
        const scalar_t* gy, scalar_t* gx, long long n, scalar_t alpha) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) gx[i] = x[i] > 0 ? gy[i] : alpha * gy[i];
}
"""


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
    x = backend.xp_of(x).ascontiguousarray(x)
    y = backend.xp_of(x).empty_like(x)
    cuda.launch(CUDA_SOURCE, "minigan_leaky_relu_forward_SUFFIX", x.size, x.dtype,
                x, y, x.size, alpha)
    return y


def forward(x, alpha):
    if backend.on_gpu(x):
        return forward_gpu(x, alpha)
    return cpu.run_flat(forward_cpu, x.shape, (x,), alpha)


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
    xp = backend.xp_of(x)
    x, gy = xp.ascontiguousarray(x), xp.ascontiguousarray(gy)
    gx = xp.empty_like(gy)
    cuda.launch(CUDA_SOURCE, "minigan_leaky_relu_backward_SUFFIX", x.size, x.dtype,
                x, gy, gx, x.size, alpha)
    return gx


def backward(x, gy, alpha):
    if backend.on_gpu(x):
        return backward_gpu(x, gy, alpha)
    return cpu.run_flat(backward_cpu, x.shape, (x, gy), alpha)
