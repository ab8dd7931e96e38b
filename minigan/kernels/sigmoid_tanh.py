"""Sigmoid and Tanh, fused for the GPU:

    sigmoid: y = 1 / (1 + exp(-x)), as e = exp(-|x|), y = (x >= 0 ? 1 : e) / (1 + e)
             (nothing overflows, and the tail x < 0 keeps full relative precision);
             dx = gy * y * (1 - y)
    tanh:    dx = gy * (1 - y * y)             (its forward is one CuPy launch already)

Three functions per kernel, not four: the CPU path is the NumPy expression itself (*_reference).
D's (N, 1) output and G's (N, 784) tanh are too small for a Numba loop to pay off, while on the
GPU at batch 64 a launch costs more than the arithmetic, so each expression (six launches for
sigmoid's forward, three for each backward) becomes one kernel there.
"""
import numpy as np

from minigan import backend
from minigan.kernels import cuda

CUDA_SOURCE = r"""
extern "C" __global__ void minigan_sigmoid_forward_SUFFIX(const scalar_t* x, scalar_t* y,
        long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    scalar_t e = exp(-fabs(x[i]));
    y[i] = (x[i] >= 0 ? (scalar_t)1 : e) / ((scalar_t)1 + e);
}

extern "C" __global__ void minigan_sigmoid_backward_SUFFIX(const scalar_t* y,
        const scalar_t* gy, scalar_t* gx, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) gx[i] = gy[i] * y[i] * ((scalar_t)1 - y[i]);
}

extern "C" __global__ void minigan_tanh_backward_SUFFIX(const scalar_t* y, const scalar_t* gy,
        scalar_t* gx, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) gx[i] = gy[i] * ((scalar_t)1 - y[i] * y[i]);
}
"""


def _launch(name, *inputs):
    """Kernel `name`(*inputs, out, n), one thread per element; out has inputs[0]'s shape."""
    xp, shape = backend.xp_of(inputs[0]), inputs[0].shape  # ascontiguousarray makes 0-d 1-d
    inputs = [xp.ascontiguousarray(a) for a in inputs]
    if inputs[-1].size != inputs[0].size:
        raise ValueError(f"{name}: gradient of shape {inputs[-1].shape} for an output of shape "
                         f"{shape}")
    out = xp.empty_like(inputs[0])
    cuda.launch(CUDA_SOURCE, name, out.size, out.dtype, *inputs, out, out.size)
    return out.reshape(shape)


def _gpu_float(a):
    return backend.on_gpu(a) and a.dtype in (np.float32, np.float64)


def sigmoid_reference(x):
    xp = backend.xp_of(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1, e) / (1 + e)


def sigmoid_gpu(x):
    return _launch("minigan_sigmoid_forward_SUFFIX", x)


def sigmoid(x):
    return sigmoid_gpu(x) if _gpu_float(x) else sigmoid_reference(x)


def sigmoid_backward_reference(y, gy):
    return gy * y * (1 - y)


def sigmoid_backward_gpu(y, gy):
    return _launch("minigan_sigmoid_backward_SUFFIX", y, gy)


def sigmoid_backward(y, gy):
    return sigmoid_backward_gpu(y, gy) if _gpu_float(y) else sigmoid_backward_reference(y, gy)


def tanh_backward_reference(y, gy):
    return gy * (1 - y * y)


def tanh_backward_gpu(y, gy):
    return _launch("minigan_tanh_backward_SUFFIX", y, gy)


def tanh_backward(y, gy):
    return tanh_backward_gpu(y, gy) if _gpu_float(y) else tanh_backward_reference(y, gy)
