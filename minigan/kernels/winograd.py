"""The tile transforms of Winograd's F(4x4, 3x3) convolution (minigan/functional/conv_winograd.py).

A 6x6 input tile d becomes V = B^T d B, a 6x6 product tile M becomes the 4x4 output tile
Y = A^T M A, and backward a 4x4 gradient tile gY becomes dM = A gY A^T, with

    B^T = [[4,  0, -5,  0, 1, 0],     A^T = [[1, 1,  1, 1,  1, 0],
           [0, -4, -4,  1, 1, 0],            [0, 1, -1, 2, -2, 0],
           [0,  4, -4, -1, 1, 0],            [0, 1,  1, 4,  4, 0],
           [0, -2, -1,  2, 1, 0],            [0, 1, -1, 8, -8, 1]]
           [0,  2, -1, -2, 1, 0],
           [0,  4,  0, -5, 0, 1]]

Layouts: tiles are numbered p = (n*TH + th)*TW + tw (TH x TW tiles per image, tile (th, tw)
starting at input row 4*th - PT, column 4*tw - PL); a transformed tile's 36 values are stored
at t = 6*i + j of an array (36, channels, P), so that each t is one contiguous matrix for the
GEMMs. Pixels outside the image read as zero; output pixels past OH x OW are not written.

Backward, a 6x6 gradient tile dV goes back to the input as B dV B^T, added onto the pixels the
tile was read from (tiles overlap by 2). Each transform is one pass per channel. The references
compute the same with the Kronecker form vec(B^T d B) = (B^T kron B^T) vec(d) over im2col's
tiles: one GEMM each.
"""
from fractions import Fraction

import numba
import numpy as np

from minigan import backend
from minigan.kernels import im2col

TILE, OUT = 6, 4   # input tile side, output tile side

B_T = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=np.float64)
A_T = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                [0, 1, -1, 8, -8, 1]], dtype=np.float64)
G = np.array([[Fraction(1, 4), 0, 0],                  # the kernel's transform, G g G^T
              [Fraction(-1, 6), Fraction(-1, 6), Fraction(-1, 6)],
              [Fraction(-1, 6), Fraction(1, 6), Fraction(-1, 6)],
              [Fraction(1, 24), Fraction(1, 12), Fraction(1, 6)],
              [Fraction(1, 24), Fraction(-1, 12), Fraction(1, 6)],
              [0, 0, 1]], dtype=object).astype(np.float64)   # exact fractions, then rounded


def kron(M, xp, dtype):
    """M kron M as an array of `dtype` on the device of xp."""
    return xp.asarray(np.kron(M, M).astype(dtype))


# The constants of the transforms as float32: an integer literal would make Numba compute a
# float32 tile in float64 (float64 arrays stay float64: these are exact in both).
TWO, FOUR, FIVE, EIGHT = (np.float32(v) for v in (2, 4, 5, 8))


def input_transform_reference(x, PT, PL, TH, TW):
    C = x.shape[1]
    cols = im2col.im2col_reference(x, TILE, TILE, OUT, PT, PL, TH, TW)   # (C*36, P)
    V = kron(B_T, np, x.dtype) @ cols.reshape(C, TILE * TILE, -1)         # (C, 36, P)
    return np.ascontiguousarray(V.transpose(1, 0, 2))


@numba.njit(parallel=True, cache=True)
def input_transform_cpu(x, PT, PL, TH, TW):
    N, C, H, W = x.shape
    tiles = TH * TW                             # per image: q = th*TW + tw, p = n*tiles + q
    V = np.empty((TILE * TILE, C, N * tiles), dtype=x.dtype)
    for c in numba.prange(C):                   # each channel writes its own rows of V
        padded = np.zeros((OUT * TH + 2, OUT * TW + 2), dtype=x.dtype)
        r = np.empty((TILE, TILE, tiles), dtype=x.dtype)
        for n in range(N):
            for h in range(min(H, OUT * TH + 2 - PT)):   # the image, zero padded to the tiles
                for w in range(min(W, OUT * TW + 2 - PL)):
                    padded[h + PT, w + PL] = x[n, c, h, w]
            for j in range(TILE):               # r = B^T d: column j of every tile
                for th in range(TH):
                    top = OUT * th
                    for tw in range(TW):
                        w, q = OUT * tw + j, th * TW + tw
                        d0, d1, d2 = padded[top, w], padded[top + 1, w], padded[top + 2, w]
                        d3, d4, d5 = padded[top + 3, w], padded[top + 4, w], padded[top + 5, w]
                        r[0, j, q] = FOUR * d0 - FIVE * d2 + d4
                        r[1, j, q] = d3 + d4 - FOUR * (d1 + d2)
                        r[2, j, q] = FOUR * (d1 - d2) - d3 + d4
                        r[3, j, q] = TWO * (d3 - d1) - d2 + d4
                        r[4, j, q] = TWO * (d1 - d3) - d2 + d4
                        r[5, j, q] = FOUR * d1 - FIVE * d3 + d5
            p = n * tiles
            for i in range(TILE):               # V = r B: row i of every tile
                t = TILE * i
                for q in range(tiles):
                    r0, r1, r2 = r[i, 0, q], r[i, 1, q], r[i, 2, q]
                    r3, r4, r5 = r[i, 3, q], r[i, 4, q], r[i, 5, q]
                    V[t, c, p + q] = FOUR * r0 - FIVE * r2 + r4
                    V[t + 1, c, p + q] = r3 + r4 - FOUR * (r1 + r2)
                    V[t + 2, c, p + q] = FOUR * (r1 - r2) - r3 + r4
                    V[t + 3, c, p + q] = TWO * (r3 - r1) - r2 + r4
                    V[t + 4, c, p + q] = TWO * (r1 - r3) - r2 + r4
                    V[t + 5, c, p + q] = FOUR * r1 - FIVE * r3 + r5
    return V


def input_transform_gpu(x, PT, PL, TH, TW):
    xp = backend.xp_of(x)
    C = x.shape[1]
    cols = im2col.im2col_gpu(x, TILE, TILE, OUT, PT, PL, TH, TW)
    V = xp.matmul(kron(B_T, xp, x.dtype), cols.reshape(C, TILE * TILE, -1))
    return xp.ascontiguousarray(V.transpose(1, 0, 2))


def input_transform(x, PT, PL, TH, TW):
    """x (N, C, H, W) -> V (36, C, N*TH*TW): B^T d B of every 6x6 tile d."""
    if backend.on_gpu(x):
        return input_transform_gpu(x, PT, PL, TH, TW)
    return input_transform_cpu(np.ascontiguousarray(x), PT, PL, TH, TW)


def input_grad_reference(dV, N, H, W, PT, PL, TH, TW):
    C = dV.shape[1]
    cols = kron(B_T, np, dV.dtype).T @ dV.transpose(1, 0, 2)              # (C, 36, P)
    return im2col.col2im_reference(cols.reshape(C * TILE * TILE, -1), H, W, TILE, TILE, OUT,
                                   PT, PL, TH, TW)


@numba.njit(parallel=True, cache=True)
def input_grad_cpu(dV, N, H, W, PT, PL, TH, TW):
    C = dV.shape[1]
    tiles = TH * TW
    dx = np.empty((N, C, H, W), dtype=dV.dtype)
    for c in numba.prange(C):                   # each channel adds into its own pixels
        padded = np.zeros((OUT * TH + 2, OUT * TW + 2), dtype=dV.dtype)
        s = np.empty((TILE, TILE, tiles), dtype=dV.dtype)
        for n in range(N):
            p = n * tiles
            for i in range(TILE):               # s = dV B^T: rows, every tile at once
                t = TILE * i
                for q in range(tiles):
                    v0, v1, v2 = dV[t, c, p + q], dV[t + 1, c, p + q], dV[t + 2, c, p + q]
                    v3, v4, v5 = dV[t + 3, c, p + q], dV[t + 4, c, p + q], dV[t + 5, c, p + q]
                    s[i, 0, q] = FOUR * v0
                    s[i, 1, q] = FOUR * (v2 - v1 + v5) + TWO * (v4 - v3)
                    s[i, 2, q] = -FIVE * v0 - FOUR * (v1 + v2) - v3 - v4
                    s[i, 3, q] = v1 - v2 + TWO * (v3 - v4) - FIVE * v5
                    s[i, 4, q] = v0 + v1 + v2 + v3 + v4
                    s[i, 5, q] = v5
            for th in range(TH):                # B s: columns, added onto the overlapping tiles
                top = OUT * th
                for tw in range(TW):
                    q, left = th * TW + tw, OUT * tw
                    for k in range(TILE):
                        r0, r1, r2 = s[0, k, q], s[1, k, q], s[2, k, q]
                        r3, r4, r5 = s[3, k, q], s[4, k, q], s[5, k, q]
                        padded[top, left + k] += FOUR * r0
                        padded[top + 1, left + k] += FOUR * (r2 - r1 + r5) + TWO * (r4 - r3)
                        padded[top + 2, left + k] += -FIVE * r0 - FOUR * (r1 + r2) - r3 - r4
                        padded[top + 3, left + k] += r1 - r2 + TWO * (r3 - r4) - FIVE * r5
                        padded[top + 4, left + k] += r0 + r1 + r2 + r3 + r4
                        padded[top + 5, left + k] += r5
            for h in range(H):                  # the image's pixels; padding is dropped
                for w in range(W):
                    if h + PT < OUT * TH + 2 and w + PL < OUT * TW + 2:
                        dx[n, c, h, w] = padded[h + PT, w + PL]
                    else:                       # past the last tile: no tile read it
                        dx[n, c, h, w] = 0
            padded[:] = 0
    return dx


def input_grad_gpu(dV, N, H, W, PT, PL, TH, TW):
    xp = backend.xp_of(dV)
    C = dV.shape[1]
    cols = xp.matmul(kron(B_T, xp, dV.dtype).T, dV.transpose(1, 0, 2))
    return im2col.col2im_gpu(cols.reshape(C * TILE * TILE, -1), H, W, TILE, TILE, OUT, PT, PL,
                             TH, TW)


def input_grad(dV, N, H, W, PT, PL, TH, TW):
    """dV (36, C, N*TH*TW) -> dx (N, C, H, W): B dV B^T of every tile, added onto the pixels the
    tile was read from; the gradient of input_transform."""
    if backend.on_gpu(dV):
        return input_grad_gpu(dV, N, H, W, PT, PL, TH, TW)
    return input_grad_cpu(np.ascontiguousarray(dV), N, H, W, PT, PL, TH, TW)


def output_transform_reference(M, bias, N, OH, OW, TH, TW):
    OC = M.shape[1]
    Y = kron(A_T, np, M.dtype) @ M.transpose(1, 0, 2)                     # (OC, 16, P)
    y = im2col.col2im_reference(Y.reshape(OC * OUT * OUT, -1), OH, OW, OUT, OUT, OUT, 0, 0,
                                TH, TW)
    return y + bias.reshape(1, -1, 1, 1)


@numba.njit(parallel=True, cache=True)
def output_transform_cpu(M, bias, N, OH, OW, TH, TW):
    OC = M.shape[1]
    tiles = TH * TW
    y = np.empty((N, OC, OH, OW), dtype=M.dtype)
    for o in numba.prange(OC):                  # each channel reads its own rows of M
        s = np.empty((OUT, TILE, tiles), dtype=M.dtype)
        Y = np.empty((OUT, OUT, tiles), dtype=M.dtype)
        b = bias[o]
        for n in range(N):
            p = n * tiles
            for j in range(TILE):               # s = A^T M: columns, every tile at once
                for q in range(tiles):
                    m0, m1, m2 = M[j, o, p + q], M[TILE + j, o, p + q], M[2 * TILE + j, o, p + q]
                    m3, m4 = M[3 * TILE + j, o, p + q], M[4 * TILE + j, o, p + q]
                    m5 = M[5 * TILE + j, o, p + q]
                    s[0, j, q] = m0 + m1 + m2 + m3 + m4
                    s[1, j, q] = m1 - m2 + TWO * (m3 - m4)
                    s[2, j, q] = m1 + m2 + FOUR * (m3 + m4)
                    s[3, j, q] = m1 - m2 + EIGHT * (m3 - m4) + m5
            for i in range(OUT):                # Y = s A + b: rows
                for q in range(tiles):
                    s0, s1, s2 = s[i, 0, q], s[i, 1, q], s[i, 2, q]
                    s3, s4, s5 = s[i, 3, q], s[i, 4, q], s[i, 5, q]
                    Y[i, 0, q] = s0 + s1 + s2 + s3 + s4 + b
                    Y[i, 1, q] = s1 - s2 + TWO * (s3 - s4) + b
                    Y[i, 2, q] = s1 + s2 + FOUR * (s3 + s4) + b
                    Y[i, 3, q] = s1 - s2 + EIGHT * (s3 - s4) + s5 + b
            for th in range(TH):                # place the tiles, cropped at the image's edge
                for i in range(min(OUT, OH - OUT * th)):
                    h = OUT * th + i
                    for w in range(OW):
                        y[n, o, h, w] = Y[i, w % OUT, th * TW + w // OUT]
    return y


def output_transform_gpu(M, bias, N, OH, OW, TH, TW):
    xp = backend.xp_of(M)
    OC = M.shape[1]
    Y = xp.matmul(kron(A_T, xp, M.dtype), M.transpose(1, 0, 2))
    y = im2col.col2im_gpu(Y.reshape(OC * OUT * OUT, -1), OH, OW, OUT, OUT, OUT, 0, 0, TH, TW)
    return y + bias.reshape(1, -1, 1, 1)


def output_transform(M, bias, N, OH, OW, TH, TW):
    """M (36, OC, N*TH*TW) + bias (OC,) -> y (N, OC, OH, OW): A^T M A of every tile, cropped."""
    if backend.on_gpu(M):
        return output_transform_gpu(M, bias, N, OH, OW, TH, TW)
    return output_transform_cpu(np.ascontiguousarray(M), np.ascontiguousarray(bias), N, OH, OW,
                                TH, TW)


def output_grad_reference(gy, TH, TW):
    OC = gy.shape[1]
    cols = im2col.im2col_reference(gy, OUT, OUT, OUT, 0, 0, TH, TW)      # (OC*16, P)
    dM = kron(A_T, np, gy.dtype).T @ cols.reshape(OC, OUT * OUT, -1)      # (OC, 36, P)
    return np.ascontiguousarray(dM.transpose(1, 0, 2)), gy.sum(axis=(0, 2, 3))


@numba.njit(parallel=True, cache=True)
def output_grad_cpu(gy, TH, TW):
    N, OC, OH, OW = gy.shape
    tiles = TH * TW
    dM = np.empty((TILE * TILE, OC, N * tiles), dtype=gy.dtype)
    db = np.empty(OC, dtype=gy.dtype)
    for o in numba.prange(OC):                  # each channel writes its own rows of dM
        padded = np.zeros((OUT * TH, OUT * TW), dtype=gy.dtype)
        r = np.empty((TILE, OUT, tiles), dtype=gy.dtype)
        columns = np.zeros(OW)                  # db's sums by column, in float64
        for n in range(N):
            for h in range(OH):                 # gy, zero padded to whole tiles
                for w in range(OW):
                    g = gy[n, o, h, w]
                    padded[h, w] = g
                    columns[w] += g
            for j in range(OUT):                # r = A g: column j of every tile
                for th in range(TH):
                    top = OUT * th
                    for tw in range(TW):
                        w, q = OUT * tw + j, th * TW + tw
                        g0, g1 = padded[top, w], padded[top + 1, w]
                        g2, g3 = padded[top + 2, w], padded[top + 3, w]
                        r[0, j, q] = g0
                        r[1, j, q] = g0 + g1 + g2 + g3
                        r[2, j, q] = g0 - g1 + g2 - g3
                        r[3, j, q] = g0 + TWO * g1 + FOUR * g2 + EIGHT * g3
                        r[4, j, q] = g0 - TWO * g1 + FOUR * g2 - EIGHT * g3
                        r[5, j, q] = g3
            p = n * tiles
            for i in range(TILE):               # dM = r A^T: row i of every tile
                t = TILE * i
                for q in range(tiles):
                    r0, r1, r2, r3 = r[i, 0, q], r[i, 1, q], r[i, 2, q], r[i, 3, q]
                    dM[t, o, p + q] = r0
                    dM[t + 1, o, p + q] = r0 + r1 + r2 + r3
                    dM[t + 2, o, p + q] = r0 - r1 + r2 - r3
                    dM[t + 3, o, p + q] = r0 + TWO * r1 + FOUR * r2 + EIGHT * r3
                    dM[t + 4, o, p + q] = r0 - TWO * r1 + FOUR * r2 - EIGHT * r3
                    dM[t + 5, o, p + q] = r3
        db[o] = columns.sum()
    return dM, db


def output_grad_gpu(gy, TH, TW):
    xp = backend.xp_of(gy)
    OC = gy.shape[1]
    cols = im2col.im2col_gpu(gy, OUT, OUT, OUT, 0, 0, TH, TW)
    dM = xp.matmul(kron(A_T, xp, gy.dtype).T, cols.reshape(OC, OUT * OUT, -1))
    return xp.ascontiguousarray(dM.transpose(1, 0, 2)), gy.sum(axis=(0, 2, 3))


def output_grad(gy, TH, TW):
    """gy (N, OC, OH, OW) -> (dM (36, OC, N*TH*TW), db (OC,)): A gY A^T of every 4x4 tile gY,
    the gradient of output_transform with respect to M, and gy summed over N, OH and OW, the
    bias's gradient (on the CPU in the same pass over gy, summed in float64)."""
    if backend.on_gpu(gy):
        return output_grad_gpu(gy, TH, TW)
    return output_grad_cpu(np.ascontiguousarray(gy), TH, TW)
