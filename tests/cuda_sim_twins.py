"""numba.cuda twins of the CUDA C kernels whose index arithmetic is not trivial, run by
test_cuda_kernels.py under the CUDA simulator (NUMBA_ENABLE_CUDASIM=1) in a subprocess.

Each twin has the C kernel's parameters in the C kernel's order and the same body, line for line.
`main` launches them through minigan's own GPU dispatchers (kernels.cuda.function is pointed at
the twins), so the launch logic (grid, block, argument order and types) is the one the GPU runs,
and compares the results with the NumPy references.
"""
import math
import os
import sys

assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", "run with NUMBA_ENABLE_CUDASIM=1"

import numpy as np  # noqa: E402
from numba import cuda  # noqa: E402

from minigan.kernels import cuda as minigan_cuda  # noqa: E402
from minigan.kernels import adam, conv_direct, im2col, layout, minibatch_std, rows  # noqa: E402


@cuda.jit
def minigan_im2col(x, cols, N, C, H, W, KH, KW, S, PT, PL, OH, OW):
    idx = cuda.grid(1)
    ncols = N * OH * OW
    if idx >= C * KH * KW * ncols:
        return
    row, col = idx // ncols, idx - (idx // ncols) * ncols
    j, i, c = row % KW, (row // KW) % KH, row // (KW * KH)
    ow, oh, n = col % OW, (col // OW) % OH, col // (OW * OH)
    h, w = oh * S - PT + i, ow * S - PL + j
    if h >= 0 and h < H and w >= 0 and w < W:
        cols[idx] = x[((n * C + c) * H + h) * W + w]
    else:
        cols[idx] = 0


@cuda.jit
def minigan_col2im(cols, x, N, C, H, W, KH, KW, S, PT, PL, OH, OW):
    idx = cuda.grid(1)
    if idx >= N * C * H * W:
        return
    w, h, c, n = idx % W, (idx // W) % H, (idx // (W * H)) % C, idx // (W * H * C)
    ncols = N * OH * OW
    total = 0.0
    for i in range(KH):
        hh = h + PT - i
        if hh < 0 or hh % S != 0 or hh // S >= OH:
            continue
        for j in range(KW):
            ww = w + PL - j
            if ww < 0 or ww % S != 0 or ww // S >= OW:
                continue
            total += cols[((c * KH + i) * KW + j) * ncols + (n * OH + hh // S) * OW + ww // S]
    x[idx] = total


@cuda.jit
def minigan_to_nchw(y, bias, out, N, OC, P):
    idx = cuda.grid(1)
    if idx >= N * OC * P:
        return
    p, o, n = idx % P, (idx // P) % OC, idx // (P * OC)
    out[idx] = y[o * N * P + n * P + p] + bias[o]


@cuda.jit
def minigan_from_nchw(g, out, N, OC, P):
    idx = cuda.grid(1)
    if idx >= N * OC * P:
        return
    p, n, o = idx % P, (idx // P) % N, idx // (P * N)
    out[idx] = g[(n * OC + o) * P + p]


@cuda.jit
def minigan_adam_many(table, count, n, step_size, one_minus_b1, b2, one_minus_b2, bc2_sqrt, eps,
                      memory):
    # `memory` stands in for the device's address space: the table's "addresses" are element
    # offsets into it (main points adam.address at that), the rest is the C kernel's body.
    i = cuda.grid(1)
    if i >= n:
        return
    offsets = table[4 * count:]
    lo, hi = 0, count - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if offsets[mid] <= i:
            lo = mid
        else:
            hi = mid - 1
    j = i - offsets[lo]
    p, g, m, v = table[4 * lo], table[4 * lo + 1], table[4 * lo + 2], table[4 * lo + 3]
    gj = memory[g + j]
    mj = memory[m + j] + one_minus_b1 * (gj - memory[m + j])
    vj = memory[v + j] * b2 + one_minus_b2 * (gj * gj)
    memory[m + j] = mj
    memory[v + j] = vj
    memory[p + j] -= step_size * (mj / (math.sqrt(vj) / bc2_sqrt + eps))


@cuda.jit
def minigan_conv_direct(xp, w, b, y, N, C, Hp, Wp, OC, KH, KW, S, OH, OW):
    idx = cuda.grid(1)
    if idx >= N * OC * OH * OW:
        return
    ow, oh, o = idx % OW, (idx // OW) % OH, (idx // (OW * OH)) % OC
    n = idx // (OW * OH * OC)
    total = 0.0
    for c in range(C):
        for i in range(KH):
            for j in range(KW):
                total += (w[((o * C + c) * KH + i) * KW + j]
                          * xp[((n * C + c) * Hp + oh * S + i) * Wp + ow * S + j])
    y[idx] = total + b[o]


@cuda.jit
def minigan_conv_direct_input_grad(gy, w, gx, N, C, H, W, OC, KH, KW, S, PT, PL, OH, OW):
    idx = cuda.grid(1)
    if idx >= N * C * H * W:
        return
    x_w, x_h, c, n = idx % W, (idx // W) % H, (idx // (W * H)) % C, idx // (W * H * C)
    hp, wp = x_h + PT, x_w + PL
    total = 0.0
    for o in range(OC):
        for i in range(KH):
            hh = hp - i
            if hh < 0 or hh % S != 0 or hh // S >= OH:
                continue
            for j in range(KW):
                ww = wp - j
                if ww < 0 or ww % S != 0 or ww // S >= OW:
                    continue
                total += (w[((o * C + c) * KH + i) * KW + j]
                          * gy[((n * OC + o) * OH + hh // S) * OW + ww // S])
    gx[idx] = total


@cuda.jit
def minigan_conv_direct_weight_grad(xp, gy, gw, N, C, Hp, Wp, OC, KH, KW, S, OH, OW):
    idx = cuda.grid(1)
    if idx >= OC * C * KH * KW:
        return
    j, i, c, o = idx % KW, (idx // KW) % KH, (idx // (KW * KH)) % C, idx // (KW * KH * C)
    total = 0.0
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                total += (gy[((n * OC + o) * OH + oh) * OW + ow]
                          * xp[((n * C + c) * Hp + oh * S + i) * Wp + ow * S + j])
    gw[idx] = total


@cuda.jit
def minigan_add_rows(index, gy, gx, K, R, D):
    j = cuda.grid(1)
    if j >= D:
        return
    for k in range(K):
        r = index[k] + R if index[k] < 0 else index[k]
        gx[r * D + j] += gy[k * D + j]


@cuda.jit
def minigan_squared_deviations(x, mu, s, n, F):
    f = cuda.grid(1)
    if f >= F:
        return
    total = 0.0
    for r in range(n):
        d = x[r * F + f] - mu[f]
        total += d * d
    s[f] = total


@cuda.jit
def minigan_minibatch_std_input_grad(gy, x, mu, scale, dx, n, F, G):
    i = cuda.grid(1)
    if i >= n * F:
        return
    r = i // F
    f = i - r * F
    dx[i] = gy[r * G + f] + (x[i] - mu[f]) * scale[f]


TWINS = {"minigan_im2col": minigan_im2col, "minigan_add_rows": minigan_add_rows,
         "minigan_squared_deviations": minigan_squared_deviations,
         "minigan_minibatch_std_input_grad": minigan_minibatch_std_input_grad,
         "minigan_col2im": minigan_col2im,
         "minigan_to_nchw": minigan_to_nchw, "minigan_from_nchw": minigan_from_nchw,
         "minigan_adam_many": minigan_adam_many, "minigan_conv_direct": minigan_conv_direct,
         "minigan_conv_direct_input_grad": minigan_conv_direct_input_grad,
         "minigan_conv_direct_weight_grad": minigan_conv_direct_weight_grad}
MEMORY = {}  # twin name -> the flat array its table addresses point into


def twin_function(source, name, dtype):
    """Stands in for kernels.cuda.function: the twin, called as RawKernel is, on flat arrays."""
    twin_name = name.replace("_SUFFIX", "")
    twin = TWINS[twin_name]

    def call(grid, block, args):
        extra = [MEMORY[twin_name]] if twin_name in MEMORY else []
        twin[grid, block](*[a.reshape(-1) if isinstance(a, np.ndarray) else a for a in args],
                          *extra)
    return call


def check_adam_many(rng):
    """Tensors of several sizes (an empty one among them) carved out of one flat memory; one
    launch of the multi-tensor Adam must equal the per-tensor NumPy update."""
    sizes = [5, 0, 1, 300, 7]
    memory = np.zeros(4 * sum(sizes), np.float32)
    views, at = [], 0
    for size in sizes:
        views.append([memory[at + k * size:at + (k + 1) * size] for k in range(4)])
        at += 4 * size
    for p, g, m, v in views:
        p[:], g[:], m[:] = (rng.standard_normal(p.size) for _ in range(3))
        v[:] = rng.random(p.size)
    want = [[a.copy() for a in arrays] for arrays in views]
    MEMORY["minigan_adam_many"] = memory
    adam.address = lambda a: (a.ctypes.data - memory.ctypes.data) // memory.itemsize
    adam.step_many_gpu(*[[arrays[k] for arrays in views] for k in range(4)],
                       1e-3, 0.5, 0.999, 1e-8, 3)
    for (p, _g, m, v), (p0, g0, m0, v0) in zip(views, want):
        adam.step_reference(p0, g0, m0, v0, 1e-3, 0.5, 0.999, 1e-8, 3)
        for got, expected in ((p, p0), (m, m0), (v, v0)):
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def check_conv_direct(rng, shape, K, S, PT, PL, OH, OW):
    """The direct convolution's three kernels against their NumPy references."""
    H, W = shape[2:]
    OC = 3
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((OC, shape[1], K, K)).astype(np.float32)
    b = rng.standard_normal(OC).astype(np.float32)
    Hp, Wp = conv_direct.padded_size(K, K, S, OH, OW)
    xp = conv_direct.pad_gpu(x, Hp, Wp, PT, PL)
    np.testing.assert_array_equal(xp, conv_direct.pad_reference(x, Hp, Wp, PT, PL))
    np.testing.assert_allclose(conv_direct.forward_gpu(xp, w, b, S, OH, OW),
                               conv_direct.forward_reference(xp, w, b, S, OH, OW),
                               rtol=1e-5, atol=1e-5)
    gy = rng.standard_normal((shape[0], OC, OH, OW)).astype(np.float32)
    np.testing.assert_allclose(conv_direct.input_grad_gpu(gy, w, H, W, S, PT, PL),
                               conv_direct.input_grad_reference(gy, w, H, W, S, PT, PL),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(conv_direct.weight_grad_gpu(xp, gy, K, K, S),
                               conv_direct.weight_grad_reference(xp, gy, K, K, S),
                               rtol=1e-5, atol=1e-5)


def main():
    minigan_cuda.function = twin_function
    rng = np.random.default_rng(0)
    cases = [((2, 2, 5, 4), 3, 1, 1, 1, 5, 4),    # N, C, H, W; K, S, PT, PL, OH, OW ("same")
             ((1, 3, 6, 5), 3, 2, 0, 0, 2, 2),    # stride 2, "valid"
             ((2, 1, 4, 4), 2, 2, 0, 0, 2, 2),
             ((1, 2, 5, 5), 5, 1, 2, 2, 5, 5)]
    for shape, K, S, PT, PL, OH, OW in cases:
        x = rng.standard_normal(shape).astype(np.float32)
        cols = im2col.im2col_gpu(x, K, K, S, PT, PL, OH, OW)
        np.testing.assert_array_equal(cols, im2col.im2col_reference(x, K, K, S, PT, PL, OH, OW))
        g = rng.standard_normal(cols.shape).astype(np.float32)
        got = im2col.col2im_gpu(g, shape[2], shape[3], K, K, S, PT, PL, OH, OW)
        want = im2col.col2im_reference(g, shape[2], shape[3], K, K, S, PT, PL, OH, OW)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
        check_conv_direct(rng, shape, K, S, PT, PL, OH, OW)
    N, OC, P = 3, 4, 5
    y = rng.standard_normal((OC, N * P)).astype(np.float32)
    b = rng.standard_normal(OC).astype(np.float32)
    np.testing.assert_array_equal(layout.to_nchw_gpu(y, b, N), layout.to_nchw_reference(y, b, N))
    g = rng.standard_normal((N, OC, P)).astype(np.float32)
    np.testing.assert_array_equal(layout.from_nchw_gpu(g), layout.from_nchw_reference(g))
    check_adam_many(rng)
    index = np.array([3, 0, 3, -1, 2])          # a repeat and an index from the end
    g = rng.standard_normal((5, 7)).astype(np.float32)
    np.testing.assert_allclose(rows.add_rows_gpu(4, index, g),
                               rows.add_rows_reference(4, index, g), rtol=1e-6, atol=1e-6)
    x2, mu = (rng.standard_normal(shape).astype(np.float32) for shape in ((3, 10), (10,)))
    np.testing.assert_allclose(minibatch_std.squared_deviations_gpu(x2, mu),
                               minibatch_std.squared_deviations_reference(x2, mu), rtol=1e-5)
    gy2, scale = (rng.standard_normal(shape).astype(np.float32) for shape in ((3, 12), (10,)))
    np.testing.assert_allclose(minibatch_std.input_grad_gpu(gy2, x2, mu, scale),
                               minibatch_std.input_grad_reference(gy2, x2, mu, scale), rtol=1e-5,
                               atol=1e-6)
    print("cuda simulator twins: ok")


if __name__ == "__main__":
    sys.exit(main())
