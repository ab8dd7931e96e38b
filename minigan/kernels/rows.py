"""Adding rows at integer indices, the gradient of a row lookup (an embedding, x[index] for a 1-D
integer index): gx (R, D) = zeros, then gx[index[k]] += gy[k] for k = 0, 1, ..., K - 1, so a
row picked twice gets both (index may count from the end, as -1 for R - 1).

Each column of gx is summed over k in order by one thread alone (the CPU kernel's threads take
blocks of columns, the CUDA kernel's threads one column each), so the numbers follow neither the
thread count nor the device's scheduling. NumPy's np.add.at, the reference, goes one element at
a time; the conditional discriminator's projection, a (10, 50960) table read by 64 labels, took
it about 12 ms a backward pass.
"""
import numba
import numpy as np

from minigan import backend
from minigan.kernels import cuda

CUDA_SOURCE = r"""
// One thread per column j of gx (R, D): gx[index[k], j] += gy[k, j] for k in order.
extern "C" __global__ void minigan_add_rows_SUFFIX(const long long* index, const scalar_t* gy,
        scalar_t* gx, long long K, long long R, long long D) {
    long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= D) return;
    for (long long k = 0; k < K; ++k) {
        long long r = index[k] < 0 ? index[k] + R : index[k];
        gx[r * D + j] += gy[k * D + j];
    }
}
"""

BLOCK_COLUMNS = 4096   # the CPU kernel's columns per block: 16 kB of a float32 row


def add_rows_reference(R, index, gy):
    gx = np.zeros((R, gy.shape[1]), dtype=gy.dtype)
    np.add.at(gx, index, gy)
    return gx


@numba.njit(parallel=True, cache=True)
def add_rows_cpu(R, index, gy):
    K, D = gy.shape
    gx = np.zeros((R, D), dtype=gy.dtype)
    for b in numba.prange((D + BLOCK_COLUMNS - 1) // BLOCK_COLUMNS):
        lo, hi = b * BLOCK_COLUMNS, min(D, (b + 1) * BLOCK_COLUMNS)
        for k in range(K):
            r = index[k] + R if index[k] < 0 else index[k]
            dst, src = gx[r], gy[k]
            for j in range(lo, hi):
                dst[j] += src[j]
    return gx


def add_rows_gpu(R, index, gy):
    xp = backend.xp_of(gy)
    gy = xp.ascontiguousarray(gy)
    gx = xp.zeros((R, gy.shape[1]), dtype=gy.dtype)
    cuda.launch(CUDA_SOURCE, "minigan_add_rows_SUFFIX", gy.shape[1], gy.dtype,
                xp.ascontiguousarray(index, dtype=xp.int64), gy, gx, gy.shape[0], R, gy.shape[1])
    return gx


def add_rows(R, index, gy):
    """gx (R, ...) with gy[k] (gy: (K, ...)) added into row index[k] for every k, in order."""
    shape = (R,) + gy.shape[1:]
    flat = gy.reshape(gy.shape[0], -1)
    if backend.on_gpu(gy):
        return add_rows_gpu(R, index, flat).reshape(shape)
    return add_rows_cpu(R, np.ascontiguousarray(index, dtype=np.int64),
                        np.ascontiguousarray(flat)).reshape(shape)
