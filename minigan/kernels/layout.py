"""Layout moves around the convolution's GEMM: its result is channel-major, the layers want NCHW.

    to_nchw:   y (OC, N*P) + bias[OC]  ->  (N, OC, P)      (P = OH*OW pixels per image)
    from_nchw: g (N, OC, P)            ->  (OC, N*P)

Each is one parallel pass over contiguous runs of P values (NumPy's strided copy of the same
transpose runs on one core). from_nchw is the exact inverse of to_nchw without the bias.
"""
import numba
import numpy as np

from minigan import backend
from minigan.kernels import cuda

CUDA_SOURCE = r"""
// to_nchw: one thread per element of out (N, OC, P): out[n, o, p] = y[o, n*P + p] + bias[o].
extern "C" __global__ void minigan_to_nchw_SUFFIX(const scalar_t* y, const scalar_t* bias,
        scalar_t* out, long long N, long long OC, long long P) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= N * OC * P) return;
    long long p = idx % P, o = (idx / P) % OC, n = idx / (P * OC);
    out[idx] = y[o * N * P + n * P + p] + bias[o];
}

// from_nchw: one thread per element of out (OC, N*P): out[o, n*P + p] = g[n, o, p].
extern "C" __global__ void minigan_from_nchw_SUFFIX(const scalar_t* g, scalar_t* out,
        long long N, long long OC, long long P) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= N * OC * P) return;
    long long p = idx % P, n = (idx / P) % N, o = idx / (P * N);
    out[idx] = g[(n * OC + o) * P + p];
}
"""


def to_nchw_reference(y, bias, N):
    OC = y.shape[0]
    return (y.reshape(OC, N, -1) + bias.reshape(OC, 1, 1)).transpose(1, 0, 2).copy()


@numba.njit(parallel=True, cache=True)
def to_nchw_cpu(y, bias, N):
    OC, NP = y.shape
    P = NP // N
    out = np.empty((N, OC, P), dtype=y.dtype)
    for n in numba.prange(N):
        for o in range(OC):
            b = bias[o]
            src = y[o, n * P:(n + 1) * P]
            dst = out[n, o]
            for p in range(P):
                dst[p] = src[p] + b
    return out


def to_nchw_gpu(y, bias, N):
    xp = backend.xp_of(y)
    y, bias = xp.ascontiguousarray(y), xp.ascontiguousarray(bias)
    OC, P = y.shape[0], y.shape[1] // N
    out = xp.empty((N, OC, P), dtype=y.dtype)
    cuda.launch(CUDA_SOURCE, "minigan_to_nchw_SUFFIX", out.size, y.dtype, y, bias, out, N, OC, P)
    return out


def to_nchw(y, bias, N):
    """(OC, N*P) + bias (OC,) -> (N, OC, P); bias None adds nothing. N >= 1: P is read off y's
    columns, and the ops refuse an empty batch first (minigan.functional.empty_batch)."""
    if N < 1:
        raise ValueError(f"to_nchw: the batch is empty (N = {N}); give at least one sample")
    xp = backend.xp_of(y)
    if bias is None:
        bias = xp.zeros(y.shape[0], dtype=y.dtype)
    if backend.on_gpu(y):
        return to_nchw_gpu(y, bias, N)
    return to_nchw_cpu(np.ascontiguousarray(y), np.ascontiguousarray(bias), N)


def from_nchw_reference(g):
    N, OC, P = g.shape
    return g.transpose(1, 0, 2).reshape(OC, N * P).copy()


@numba.njit(parallel=True, cache=True)
def from_nchw_cpu(g):
    N, OC, P = g.shape
    out = np.empty((OC, N * P), dtype=g.dtype)
    for n in numba.prange(N):
        for o in range(OC):
            src = g[n, o]
            dst = out[o, n * P:(n + 1) * P]
            for p in range(P):
                dst[p] = src[p]
    return out


def from_nchw_gpu(g):
    xp = backend.xp_of(g)
    g = xp.ascontiguousarray(g)
    N, OC, P = g.shape
    out = xp.empty((OC, N * P), dtype=g.dtype)
    cuda.launch(CUDA_SOURCE, "minigan_from_nchw_SUFFIX", out.size, g.dtype, g, out, N, OC, P)
    return out


def from_nchw(g):
    """(N, OC, P) -> (OC, N*P)."""
    if backend.on_gpu(g):
        return from_nchw_gpu(g)
    return from_nchw_cpu(np.ascontiguousarray(g))
