"""Adam's update of one parameter, fused: one pass reads p, g, m, v and writes p, m, v.

    m = m + (1 - b1) (g - m)             (= b1 m + (1 - b1) g)
    v = b2 v + (1 - b2) g**2
    p = p - lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)

(PyTorch's form: eps is added to the bias-corrected square root.) The unfused NumPy version runs
about ten whole-array passes, each allocating a temporary; for the generator's 1.5 M weights
that is most of an optimizer step.

On the GPU, `step_many` updates all parameters of an optimizer in one launch (PyTorch's
"multi-tensor apply"): a table of the tensors' addresses and their offsets in the concatenation
goes to the device with one small copy, and each thread finds its tensor by binary search. At
batch 64 a training step is bound by launches, so the optimizer must not spend one per parameter
(16 for the generator: more than any other part of the step).
"""
import math

import numba
import numpy as np

from minigan import backend
from minigan.kernels import cpu, cuda

CUDA_SOURCE = r"""
// Element i of one tensor: reads p, g, m, v once and writes p, m, v (the loop body of step_cpu).
__device__ __forceinline__ void adam_update(scalar_t* p, const scalar_t* g, scalar_t* m,
        scalar_t* v, long long i, scalar_t step_size, scalar_t one_minus_b1, scalar_t b2,
        scalar_t one_minus_b2, scalar_t bc2_sqrt, scalar_t eps) {
    scalar_t gi = g[i];
    scalar_t mi = m[i] + one_minus_b1 * (gi - m[i]);
    scalar_t vi = v[i] * b2 + one_minus_b2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    p[i] -= step_size * (mi / (sqrt(vi) / bc2_sqrt + eps));
}

// One thread per element of one tensor.
extern "C" __global__ void minigan_adam_SUFFIX(scalar_t* p, const scalar_t* g, scalar_t* m,
        scalar_t* v, long long n, scalar_t step_size, scalar_t one_minus_b1, scalar_t b2,
        scalar_t one_minus_b2, scalar_t bc2_sqrt, scalar_t eps) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) adam_update(p, g, m, v, i, step_size, one_minus_b1, b2, one_minus_b2, bc2_sqrt, eps);
}

// All tensors of one optimizer step in one launch. `table` holds, for tensor k of `count`, the
// addresses of its p, g, m, v at table[4k .. 4k+3], then at table[4 count + k] the offset of its
// first element in the concatenation of all tensors (offsets ascend; n = total elements). Thread
// i finds the last k with offset <= i (binary search; empty tensors are skipped) and updates
// element i - offset of tensor k.
extern "C" __global__ void minigan_adam_many_SUFFIX(const long long* table, int count,
        long long n, scalar_t step_size, scalar_t one_minus_b1, scalar_t b2,
        scalar_t one_minus_b2, scalar_t bc2_sqrt, scalar_t eps) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const long long* offsets = table + 4 * (long long)count;
    int lo = 0, hi = count - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (offsets[mid] <= i) lo = mid; else hi = mid - 1;
    }
    adam_update((scalar_t*)table[4 * lo], (const scalar_t*)table[4 * lo + 1],
                (scalar_t*)table[4 * lo + 2], (scalar_t*)table[4 * lo + 3], i - offsets[lo],
                step_size, one_minus_b1, b2, one_minus_b2, bc2_sqrt, eps);
}
"""


def step_reference(p, g, m, v, lr, b1, b2, eps, t):
    """In place, with NumPy (also the fallback for arrays the kernel cannot take as they are)."""
    xp = backend.xp_of(p)
    m += (1 - b1) * (g - m)
    v *= b2
    v += (1 - b2) * (g * g)
    denom = xp.sqrt(v)
    denom /= math.sqrt(1 - b2 ** t)
    denom += eps
    p -= (lr / (1 - b1 ** t)) * (m / denom)


@numba.njit(parallel=True, cache=True)
def step_cpu(p, g, m, v, step_size, one_minus_b1, b2, one_minus_b2, bc2_sqrt, eps):
    f = p.dtype.type
    a1, c2, d2, root, e, size = (f(one_minus_b1), f(b2), f(one_minus_b2), f(bc2_sqrt), f(eps),
                                 f(step_size))
    for i in numba.prange(p.size):   # all 1-D, of one size
        gi = g[i]
        mi = m[i] + a1 * (gi - m[i])
        vi = v[i] * c2 + d2 * (gi * gi)
        m[i], v[i] = mi, vi
        p[i] -= size * (mi / (math.sqrt(vi) / root + e))


def step_gpu(p, g, m, v, lr, b1, b2, eps, t):
    xp = backend.xp_of(p)
    if not all(a.flags.c_contiguous for a in (p, m, v)):
        return step_reference(p, g, m, v, lr, b1, b2, eps, t)
    cuda.launch(CUDA_SOURCE, "minigan_adam_SUFFIX", p.size, p.dtype, p, xp.ascontiguousarray(g),
                m, v, p.size, lr / (1 - b1 ** t), 1 - b1, b2, 1 - b2, math.sqrt(1 - b2 ** t),
                eps)


def address(a):
    """Device (CuPy) or host (NumPy) address of an array's first element."""
    return a.data.ptr if hasattr(a.data, "ptr") else a.ctypes.data


def table_of(params, grads, ms, vs):
    """(table, n) for minigan_adam_many: 4 addresses per tensor (p, g, m, v), then each tensor's
    offset in the concatenation (int64, host); n = total elements."""
    count = len(params)
    table = np.empty(5 * count, np.int64)
    for k, arrays in enumerate(zip(params, grads, ms, vs)):
        table[4 * k:4 * k + 4] = [address(a) for a in arrays]
    sizes = np.array([p.size for p in params], np.int64)
    table[4 * count:] = np.cumsum(sizes) - sizes
    return table, int(sizes.sum())


def step_many_gpu(params, grads, ms, vs, lr, b1, b2, eps, t):
    xp = backend.xp_of(params[0])
    grads = [xp.ascontiguousarray(g) for g in grads]  # kept alive until the launch is queued
    table, n = table_of(params, grads, ms, vs)
    cuda.launch(CUDA_SOURCE, "minigan_adam_many_SUFFIX", n, params[0].dtype, xp.asarray(table),
                len(params), n, lr / (1 - b1 ** t), 1 - b1, b2, 1 - b2, math.sqrt(1 - b2 ** t),
                eps)


def step_many(params, grads, ms, vs, lr, b1, b2, eps, t):
    """`step` for several parameters at one step number t: on the GPU one launch for all of
    them (when p, g, m, v share a dtype and sizes and p, m, v are C-contiguous), else one update
    each. Parameters must not share memory (one launch updates them concurrently)."""
    if not params:
        return
    dtype = params[0].dtype
    if (backend.on_gpu(params[0])
            and all(a.dtype == dtype and a.size == p.size and (a is g or a.flags.c_contiguous)
                    for p, g, m, v in zip(params, grads, ms, vs) for a in (p, g, m, v))):
        # the table hides g, m, v from launch_args' checks: dtype and size are checked here
        # (one that fails takes the per-parameter path, whose launch_args raises a clear error)
        return step_many_gpu(params, grads, ms, vs, lr, b1, b2, eps, t)
    for p, g, m, v in zip(params, grads, ms, vs):
        step(p, g, m, v, lr, b1, b2, eps, t)


def step(p, g, m, v, lr, b1, b2, eps, t):
    """Update p, m and v in place for step number t (1, 2, ...)."""
    if backend.on_gpu(p):
        return step_gpu(p, g, m, v, lr, b1, b2, eps, t)
    if not all(a.flags.c_contiguous for a in (p, m, v)):
        return step_reference(p, g, m, v, lr, b1, b2, eps, t)
    cpu.run_flat(step_cpu, p.shape, (p, g, m, v), lr / (1 - b1 ** t), 1 - b1, b2, 1 - b2,
                 math.sqrt(1 - b2 ** t), eps)
