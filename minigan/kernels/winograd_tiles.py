"""The tile transforms of Winograd's F(4x4, 3x3) convolution (minigan/functional/conv_winograd.py
derives it), shared by the image-by-image CPU path (winograd.py) and the whole-batch path
(winograd_batch.py). A 6x6 input tile d becomes V = B^T d B, a 6x6 product tile M becomes the 4x4
output tile Y = A^T M A, and backward a 4x4 gradient tile gY becomes dM = A gY A^T, with

    B^T = [[4,  0, -5,  0, 1, 0],     A^T = [[1, 1,  1, 1,  1, 0],
           [0, -4, -4,  1, 1, 0],            [0, 1, -1, 2, -2, 0],
           [0,  4, -4, -1, 1, 0],            [0, 1,  1, 4,  4, 0],
           [0, -2, -1,  2, 1, 0],            [0, 1, -1, 8, -8, 1]]
           [0,  2, -1, -2, 1, 0],
           [0,  4,  0, -5, 0, 1]]

Layouts: tiles are numbered p = (n*TH + th)*TW + tw (TH x TW tiles per image, tile (th, tw)
starting at input row 4*th - PT, column 4*tw - PL); a transformed tile's 36 values are stored
at t = 6*i + j. Pixels outside the image read as zero; output pixels past OH x OW are not written.
Backward, a 6x6 gradient tile dV goes back to the input as B dV B^T, added onto the pixels the
tile was read from (tiles overlap by 2).

The per-image helpers below work channel-last, V[t] (tiles, C) and M[t] (tiles, OC), every
transform on whole channel vectors (one SIMD loop over c):

    gather_image      x[n] (C, H, W) -> (H', W', C), zero padded
    input_tiles       (H', W', C) -> V (36, tiles, C)          B^T d B
    output_tiles      M (36, tiles, OC) -> (OH', OW', OC)      A^T M A
    scatter_output    (OH', OW', OC) + bias -> y[n] (OC, OH, OW)

and backward gather_grad, output_grad_tiles (A gY A^T), input_grad_tiles (B dV B^T) and
scatter_input_grad.
"""
from fractions import Fraction

import numba
import numpy as np

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


# The transforms, each applied to six (or four) values at once; inlined into the loops below,
# which run them on whole channel vectors.

@numba.njit(inline="always")
def b_transpose(d0, d1, d2, d3, d4, d5):
    """B^T d for a column d of six values."""
    return (FOUR * d0 - FIVE * d2 + d4, d3 + d4 - FOUR * (d1 + d2), FOUR * (d1 - d2) - d3 + d4,
            TWO * (d3 - d1) - d2 + d4, TWO * (d1 - d3) - d2 + d4, FOUR * d1 - FIVE * d3 + d5)


@numba.njit(inline="always")
def b_times(v0, v1, v2, v3, v4, v5):
    """B v for six values v: the adjoint of b_transpose."""
    return (FOUR * v0, FOUR * (v2 - v1 + v5) + TWO * (v4 - v3),
            -FIVE * v0 - FOUR * (v1 + v2) - v3 - v4, v1 - v2 + TWO * (v3 - v4) - FIVE * v5,
            v0 + v1 + v2 + v3 + v4, v5)


@numba.njit(inline="always")
def a_transpose(m0, m1, m2, m3, m4, m5):
    """A^T m for six values m: four."""
    return (m0 + m1 + m2 + m3 + m4, m1 - m2 + TWO * (m3 - m4), m1 + m2 + FOUR * (m3 + m4),
            m1 - m2 + EIGHT * (m3 - m4) + m5)


@numba.njit(inline="always")
def a_times(g0, g1, g2, g3):
    """A g for four values g: six; the adjoint of a_transpose."""
    return (g0, g0 + g1 + g2 + g3, g0 - g1 + g2 - g3, g0 + TWO * g1 + FOUR * g2 + EIGHT * g3,
            g0 - TWO * g1 + FOUR * g2 - EIGHT * g3, g3)


# One image's steps, on channel-last buffers: `padded` (OUT*TH + 2, OUT*TW + 2, C) holds the
# image at offset (PT, PL) with zeros around (padded_image); V (36, TH*TW, C) and M
# (36, TH*TW, OC) the transformed tiles, tile q = th*TW + tw; `rows` (6, 6, channels) one tile
# half transformed; `out` (OUT*TH, OUT*TW, OC) the whole output tiles.

@numba.njit
def gather_image(x, n, PT, PL, padded):
    """padded[h + PT, w + PL, c] = x[n, c, h, w] where it fits; the rest of `padded` is left as
    it is (zeros, written once)."""
    _, C, H, W = x.shape
    for h in range(min(H, padded.shape[0] - PT)):
        for w in range(min(W, padded.shape[1] - PL)):
            for c in range(C):
                padded[h + PT, w + PL, c] = x[n, c, h, w]


@numba.njit
def input_tiles(padded, TH, TW, rows, V):
    """V[6i + j, th*TW + tw, :] = (B^T d B)[i, j] of the tile d at (4 th, 4 tw) of `padded`."""
    C = padded.shape[2]
    for th in range(TH):
        for tw in range(TW):
            q, top, left = th * TW + tw, OUT * th, OUT * tw
            for j in range(TILE):                    # rows = B^T d, column by column
                for c in range(C):
                    r = b_transpose(padded[top, left + j, c], padded[top + 1, left + j, c],
                                    padded[top + 2, left + j, c], padded[top + 3, left + j, c],
                                    padded[top + 4, left + j, c], padded[top + 5, left + j, c])
                    for i in range(TILE):
                        rows[i, j, c] = r[i]
            for i in range(TILE):                    # V = rows B, row by row
                for c in range(C):
                    v = b_transpose(rows[i, 0, c], rows[i, 1, c], rows[i, 2, c], rows[i, 3, c],
                                    rows[i, 4, c], rows[i, 5, c])
                    for j in range(TILE):
                        V[TILE * i + j, q, c] = v[j]


@numba.njit
def output_tiles(M, TH, TW, rows, out):
    """out[4 th + i, 4 tw + j, :] = (A^T m A)[i, j] of the product tile m = M[:, th*TW + tw]."""
    OC = M.shape[2]
    for th in range(TH):
        for tw in range(TW):
            q = th * TW + tw
            for j in range(TILE):                    # rows = A^T m, column by column
                for o in range(OC):
                    s = a_transpose(M[j, q, o], M[TILE + j, q, o], M[2 * TILE + j, q, o],
                                    M[3 * TILE + j, q, o], M[4 * TILE + j, q, o],
                                    M[5 * TILE + j, q, o])
                    for i in range(OUT):
                        rows[i, j, o] = s[i]
            for i in range(OUT):                     # Y = rows A, row by row
                for o in range(OC):
                    y = a_transpose(rows[i, 0, o], rows[i, 1, o], rows[i, 2, o], rows[i, 3, o],
                                    rows[i, 4, o], rows[i, 5, o])
                    for j in range(OUT):
                        out[OUT * th + i, OUT * tw + j, o] = y[j]


@numba.njit
def scatter_output(out, bias, n, y):
    """y[n, o, h, w] = out[h, w, o] + bias[o]: the tiles cropped to OH x OW, channels first."""
    _, OC, OH, OW = y.shape
    for h in range(OH):
        for o in range(OC):
            b = bias[o]
            for w in range(OW):
                y[n, o, h, w] = out[h, w, o] + b


@numba.njit
def gather_grad(gy, n, padded, bias_grad):
    """padded[h, w, o] = gy[n, o, h, w] (the rest of `padded`, to whole tiles, stays zero), and
    bias_grad[o] += the sum of gy[n, o] (bias_grad in float64)."""
    _, OC, OH, OW = gy.shape
    for h in range(OH):
        for w in range(OW):
            for o in range(OC):
                g = gy[n, o, h, w]
                padded[h, w, o] = g
                bias_grad[o] += g


@numba.njit
def output_grad_tiles(padded, TH, TW, rows, dM):
    """dM[6i + j, th*TW + tw, :] = (A g A^T)[i, j] of the 4x4 gradient tile g at (4 th, 4 tw)."""
    OC = padded.shape[2]
    for th in range(TH):
        for tw in range(TW):
            q, top, left = th * TW + tw, OUT * th, OUT * tw
            for j in range(OUT):                     # rows = A g, column by column
                for o in range(OC):
                    r = a_times(padded[top, left + j, o], padded[top + 1, left + j, o],
                                padded[top + 2, left + j, o], padded[top + 3, left + j, o])
                    for i in range(TILE):
                        rows[i, j, o] = r[i]
            for i in range(TILE):                    # dM = rows A^T, row by row
                for o in range(OC):
                    m = a_times(rows[i, 0, o], rows[i, 1, o], rows[i, 2, o], rows[i, 3, o])
                    for j in range(TILE):
                        dM[TILE * i + j, q, o] = m[j]


@numba.njit
def input_grad_tiles(dV, TH, TW, rows, padded):
    """padded[4 th + i, 4 tw + j, :] += (B v B^T)[i, j] of the gradient tile v = dV[:, th*TW + tw]:
    the adjoint of input_tiles (tiles overlap, so the sums add up)."""
    C = dV.shape[2]
    for th in range(TH):
        for tw in range(TW):
            q, top, left = th * TW + tw, OUT * th, OUT * tw
            for i in range(TILE):                    # rows = v B^T, row by row
                for c in range(C):
                    r = b_times(dV[TILE * i, q, c], dV[TILE * i + 1, q, c],
                                dV[TILE * i + 2, q, c], dV[TILE * i + 3, q, c],
                                dV[TILE * i + 4, q, c], dV[TILE * i + 5, q, c])
                    for j in range(TILE):
                        rows[i, j, c] = r[j]
            for j in range(TILE):                    # B rows, column by column, added on
                for c in range(C):
                    d = b_times(rows[0, j, c], rows[1, j, c], rows[2, j, c], rows[3, j, c],
                                rows[4, j, c], rows[5, j, c])
                    for i in range(TILE):
                        padded[top + i, left + j, c] += d[i]


@numba.njit
def scatter_input_grad(padded, n, PT, PL, dx):
    """dx[n, c, h, w] = padded[h + PT, w + PL, c] (0 past the last tile, which no tile read),
    then `padded` back to zeros for the next image."""
    _, C, H, W = dx.shape
    for h in range(H):
        for c in range(C):
            for w in range(W):
                inside = h + PT < padded.shape[0] and w + PL < padded.shape[1]
                dx[n, c, h, w] = padded[h + PT, w + PL, c] if inside else 0
    padded[:] = 0


@numba.njit
def padded_image(TH, TW, C, dtype):
    """Zeros (OUT*TH + 2, OUT*TW + 2, C): room for the 6x6 tiles of a TH x TW grid."""
    return np.zeros((OUT * TH + 2, OUT * TW + 2, C), dtype=dtype)
