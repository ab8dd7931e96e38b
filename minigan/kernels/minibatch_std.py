"""The minibatch-std channel's two passes over memory (functional/batch_stats.py: MinibatchStd),
on x as rows of F features, x2 (n, F):

    squared_deviations   s[f] = sum over rows r of (x2[r, f] - mu[f])**2       (forward)
    input_grad           dx2[r, f] = gy2[r, f] + (x2[r, f] - mu[f]) * scale[f]  (backward)

with mu the batch mean and, backward, scale = (the gradient reaching the std channel) / (N F
std): each a single pass, where the NumPy expressions write the deviations, their squares and
the scaled deviations as 12.8 MB temporaries (the discriminator's 64 x 50176 features). Each
column's sum runs over the rows in order, on one thread (the CPU's threads take blocks of
columns, the CUDA kernel's threads one column each), whatever the thread count. gy2 may be the
first F columns of a wider array (the gradient of the output, whose last channel is the std's).
"""
import numba
import numpy as np

from minigan import backend
from minigan.kernels import cuda

CUDA_SOURCE = r"""
// One thread per feature f: s[f] = sum over rows r in order of (x[r, f] - mu[f])^2.
extern "C" __global__ void minigan_squared_deviations_SUFFIX(const scalar_t* x,
        const scalar_t* mu, scalar_t* s, long long n, long long F) {
    long long f = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (f >= F) return;
    scalar_t total = 0;
    for (long long r = 0; r < n; ++r) {
        scalar_t d = x[r * F + f] - mu[f];
        total += d * d;
    }
    s[f] = total;
}

// One thread per element (r, f) of dx (n, F); gy's rows are G >= F wide.
extern "C" __global__ void minigan_minibatch_std_input_grad_SUFFIX(const scalar_t* gy,
        const scalar_t* x, const scalar_t* mu, const scalar_t* scale, scalar_t* dx,
        long long n, long long F, long long G) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n * F) return;
    long long r = i / F, f = i - r * F;
    dx[i] = gy[r * G + f] + (x[i] - mu[f]) * scale[f];
}
"""

BLOCK_COLUMNS = 4096   # the CPU kernel's features per block


def squared_deviations_reference(x2, mu):
    d = x2 - mu
    return (d * d).sum(axis=0)


@numba.njit(parallel=True, cache=True)
def squared_deviations_cpu(x2, mu):
    n, F = x2.shape
    s = np.zeros(F, dtype=x2.dtype)
    for b in numba.prange((F + BLOCK_COLUMNS - 1) // BLOCK_COLUMNS):
        lo, hi = b * BLOCK_COLUMNS, min(F, (b + 1) * BLOCK_COLUMNS)
        for r in range(n):
            row = x2[r]
            for f in range(lo, hi):
                d = row[f] - mu[f]
                s[f] += d * d
    return s


def squared_deviations_gpu(x2, mu):
    xp = backend.xp_of(x2)
    x2, mu = xp.ascontiguousarray(x2), xp.ascontiguousarray(mu)
    s = xp.empty(x2.shape[1], dtype=x2.dtype)
    cuda.launch(CUDA_SOURCE, "minigan_squared_deviations_SUFFIX", x2.shape[1], x2.dtype,
                x2, mu, s, x2.shape[0], x2.shape[1])
    return s


def squared_deviations(x2, mu):
    """(F,): the sum over the rows of x2 (n, F) of (x2 - mu)**2, mu (F,)."""
    if backend.on_gpu(x2):
        return squared_deviations_gpu(x2, mu)
    return squared_deviations_cpu(np.ascontiguousarray(x2), np.ascontiguousarray(mu))


def input_grad_reference(gy2, x2, mu, scale):
    F = x2.shape[1]
    return gy2[:, :F] + (x2 - mu) * scale


@numba.njit(parallel=True, cache=True)
def input_grad_cpu(gy2, x2, mu, scale):
    n, F = x2.shape
    dx = np.empty((n, F), dtype=x2.dtype)
    for r in numba.prange(n):
        g, row, out = gy2[r], x2[r], dx[r]
        for f in range(F):
            out[f] = g[f] + (row[f] - mu[f]) * scale[f]
    return dx


def input_grad_gpu(gy2, x2, mu, scale):
    xp = backend.xp_of(x2)
    gy2, x2, mu, scale = (xp.ascontiguousarray(a) for a in (gy2, x2, mu, scale))
    dx = xp.empty(x2.shape, dtype=x2.dtype)
    cuda.launch(CUDA_SOURCE, "minigan_minibatch_std_input_grad_SUFFIX", dx.size, x2.dtype,
                gy2, x2, mu, scale, dx, x2.shape[0], x2.shape[1], gy2.shape[1])
    return dx


def input_grad(gy2, x2, mu, scale):
    """dx2 (n, F) = gy2[:, :F] + (x2 - mu) * scale, gy2 (n, G >= F) with contiguous rows."""
    if backend.on_gpu(x2):
        return input_grad_gpu(gy2, x2, mu, scale)
    return input_grad_cpu(np.ascontiguousarray(gy2), np.ascontiguousarray(x2), mu, scale)
