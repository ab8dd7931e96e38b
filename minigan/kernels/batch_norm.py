"""BatchNorm2d's passes over x (N, C, P), P = H*W pixels, each channel c normalized over its
m = N*P values (functional/normalization.py has the formulas):

    stats:    mean_c, var_c (biased), summed in float64, two passes (mean, then deviations)
    forward:  xhat = (x - mean_c) * inv_std_c,   y = gamma_c * xhat + beta_c
    backward: dgamma_c = sum(gy * xhat), dbeta_c = sum(gy), and
              dx = gamma_c * inv_std_c / m * (m * gy - dbeta_c - xhat * dgamma_c)   (batch stats)
              dx = gamma_c * inv_std_c * gy                                         (running stats)

NumPy's reductions over axes (0, 2) of (N, C, P) and its elementwise passes read x about eight
times; these read it twice forward and twice backward, one channel per thread. The references
are the same formulas as array expressions; the GPU runs those (CuPy), there being no GPU here to
measure a hand-written kernel against CuPy's reductions.
"""
import numba
import numpy as np

from minigan import backend


def stats_reference(x):
    return x.mean(axis=(0, 2)), x.var(axis=(0, 2))


@numba.njit(parallel=True, cache=True)
def stats_cpu(x):
    N, C, P = x.shape
    mean, var = np.empty(C, dtype=x.dtype), np.empty(C, dtype=x.dtype)
    for c in numba.prange(C):
        total = 0.0
        for n in range(N):
            for p in range(P):
                total += x[n, c, p]
        mu = total / (N * P)
        squares = 0.0
        for n in range(N):
            for p in range(P):
                d = x[n, c, p] - mu
                squares += d * d
        mean[c], var[c] = mu, squares / (N * P)
    return mean, var


def normalize_reference(x, mean, inv_std, gamma, beta):
    xhat = (x - mean[:, None]) * inv_std[:, None]
    return xhat * gamma[:, None] + beta[:, None], xhat


@numba.njit(parallel=True, cache=True)
def normalize_cpu(x, mean, inv_std, gamma, beta):
    N, C, P = x.shape
    y, xhat = np.empty_like(x), np.empty_like(x)
    for c in numba.prange(C):
        mu, s, g, b = mean[c], inv_std[c], gamma[c], beta[c]
        for n in range(N):
            for p in range(P):
                h = (x[n, c, p] - mu) * s
                xhat[n, c, p] = h
                y[n, c, p] = h * g + b
    return y, xhat


def grad_reference(gy, xhat, gamma, inv_std, batch_stats):
    m = gy.size // gy.shape[1]
    dgamma, dbeta = (gy * xhat).sum(axis=(0, 2)), gy.sum(axis=(0, 2))
    scale = (gamma * inv_std)[:, None]
    if not batch_stats:
        return gy * scale, dgamma, dbeta
    return scale / m * (m * gy - dbeta[:, None] - xhat * dgamma[:, None]), dgamma, dbeta


@numba.njit(parallel=True, cache=True)
def grad_cpu(gy, xhat, gamma, inv_std, batch_stats):
    N, C, P = gy.shape
    m = N * P
    dx = np.empty_like(gy)
    dgamma, dbeta = np.empty(C, dtype=gy.dtype), np.empty(C, dtype=gy.dtype)
    inv_m = np.full(1, 1 / m, dtype=gy.dtype)
    for c in numba.prange(C):
        sum_g, sum_gx = 0.0, 0.0
        for n in range(N):
            for p in range(P):
                g = gy[n, c, p]
                sum_g += g
                sum_gx += g * xhat[n, c, p]
        dgamma[c], dbeta[c] = sum_gx, sum_g
        scale = gamma[c] * inv_std[c]
        if batch_stats:
            mean_g, mean_gx = dbeta[c] * inv_m[0], dgamma[c] * inv_m[0]   # in gy's dtype
            for n in range(N):
                for p in range(P):
                    dx[n, c, p] = scale * (gy[n, c, p] - mean_g - xhat[n, c, p] * mean_gx)
        else:
            for n in range(N):
                for p in range(P):
                    dx[n, c, p] = scale * gy[n, c, p]
    return dx, dgamma, dbeta


def stats(x):
    """x (N, C, P) -> (mean, var) per channel, in x's dtype (on the GPU: the reference)."""
    if backend.on_gpu(x):
        return stats_reference(x)
    return stats_cpu(np.ascontiguousarray(x))


def normalize(x, mean, inv_std, gamma, beta):
    """(y, xhat) of x (N, C, P) with the per-channel (C,) mean, inv_std, gamma, beta (on the
    GPU: the reference)."""
    if backend.on_gpu(x):
        return normalize_reference(x, mean, inv_std, gamma, beta)
    return normalize_cpu(np.ascontiguousarray(x), mean, inv_std, gamma, beta)


def grad(gy, xhat, gamma, inv_std, batch_stats):
    """(dx, dgamma, dbeta) for gy (N, C, P); batch_stats: whether mean and var were the batch's
    (then they depend on x too) or the running ones (on the GPU: the reference)."""
    if backend.on_gpu(gy):
        return grad_reference(gy, xhat, gamma, inv_std, batch_stats)
    return grad_cpu(np.ascontiguousarray(gy), xhat, gamma, inv_std, batch_stats)
