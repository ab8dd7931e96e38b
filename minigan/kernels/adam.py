"""Adam's update of one parameter, fused: one pass reads p, g, m, v and writes p, m, v.

    m = m + (1 - b1) (g - m)             (= b1 m + (1 - b1) g)
    v = b2 v + (1 - b2) g**2
    p = p - lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)

(PyTorch's form: eps is added to the bias-corrected square root.) The unfused NumPy version runs
about ten whole-array passes, each allocating a temporary; for the generator's 1.5 M weights
that is most of an optimizer step.
"""
import math

import numba
import numpy as np

from minigan import backend
from minigan.kernels import cuda

CUDA_SOURCE = r"""
// One thread per element: reads p, g, m, v once and writes p, m, v (the loop body of step_cpu).
extern "C" __global__ void minigan_adam_SUFFIX(scalar_t* p, const scalar_t* g, scalar_t* m,
        scalar_t* v, long long n, scalar_t step_size, scalar_t one_minus_b1, scalar_t b2,
        scalar_t one_minus_b2, scalar_t bc2_sqrt, scalar_t eps) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    scalar_t gi = g[i];
    scalar_t mi = m[i] + one_minus_b1 * (gi - m[i]);
    scalar_t vi = v[i] * b2 + one_minus_b2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    p[i] -= step_size * (mi / (sqrt(vi) / bc2_sqrt + eps));
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


def step(p, g, m, v, lr, b1, b2, eps, t):
    """Update p, m and v in place for step number t (1, 2, ...)."""
    if backend.on_gpu(p):
        return step_gpu(p, g, m, v, lr, b1, b2, eps, t)
    if not all(a.flags.c_contiguous for a in (p, m, v)):
        return step_reference(p, g, m, v, lr, b1, b2, eps, t)
    flat = [a.reshape(-1) for a in (p, np.ascontiguousarray(g), m, v)]
    step_cpu(*flat, lr / (1 - b1 ** t), 1 - b1, b2, 1 - b2, math.sqrt(1 - b2 ** t), eps)
