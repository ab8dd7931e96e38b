"""The tile transforms of Winograd's F(4x4, 3x3) convolution (minigan/functional/conv_winograd.py),
and on the CPU the whole convolution, forward and backward, one image at a time.

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
at t = 6*i + j. Pixels outside the image read as zero; output pixels past OH x OW are not written.
Backward, a 6x6 gradient tile dV goes back to the input as B dV B^T, added onto the pixels the
tile was read from (tiles overlap by 2).

The functions input_transform, output_transform, input_grad and output_grad hold one transform
each, on arrays (36, channels, P) for the 36 GEMMs of the whole batch; their references compute
the same with the Kronecker form vec(B^T d B) = (B^T kron B^T) vec(d) over im2col's tiles (one
GEMM each), and the GPU runs those. On the CPU, `convolve_cpu` and `convolve_grads_cpu` run the
whole convolution image by image instead, each thread on its own images, so that one image's
transformed tiles (36 x 49 x 64 floats for the discriminator's layer, 450 kB) stay in the core's
cache between the transform, the GEMMs and the transform back, instead of 14-29 MB arrays
crossing memory three times. Inside, the tiles lie channel-last, V[t] (tiles, C) and
M[t] (tiles, OC), and every transform works on whole channel vectors (one SIMD loop over c):

    gather_image      x[n] (C, H, W) -> (H', W', C), zero padded
    input_tiles       (H', W', C) -> V (36, tiles, C)          B^T d B
    GEMM              M[t] = V[t] @ U[t]                        U[t] (C, OC), 36 calls
    output_tiles      M (36, tiles, OC) -> (OH', OW', OC)      A^T M A
    scatter_output    (OH', OW', OC) + bias -> y[n] (OC, OH, OW)

and backward gather_grad / output_grad_tiles (A gY A^T), the GEMMs dV[t] = dM[t] @ U[t]^T and
dU[t] += dM[t]^T @ V[t] (V computed again from x: cheaper than keeping 14 MB per layer),
input_grad_tiles (B dV B^T) and scatter_input_grad.
"""
from fractions import Fraction

import numba
import numpy as np

from minigan import backend
from minigan.kernels import gemm, im2col

TILE, OUT = 6, 4   # input tile side, output tile side
GRAD_PARTS = 8     # backward's runs of images, shared out over the threads (parts_for)

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


# The transforms one at a time over the whole batch, in the layout (36, channels, P): the steps
# of convolve_gpu and convolve_grads_gpu, with the 36 GEMMs between them.

def input_transform_reference(x, PT, PL, TH, TW):
    C = x.shape[1]
    cols = im2col.im2col_reference(x, TILE, TILE, OUT, PT, PL, TH, TW)   # (C*36, P)
    V = kron(B_T, np, x.dtype) @ cols.reshape(C, TILE * TILE, -1)         # (C, 36, P)
    return np.ascontiguousarray(V.transpose(1, 0, 2))


@numba.njit(cache=True)
def input_transform_cpu(x, PT, PL, TH, TW):
    N, C = x.shape[:2]
    tiles = TH * TW
    V = np.empty((TILE * TILE, C, N * tiles), dtype=x.dtype)
    padded = padded_image(TH, TW, C, x.dtype)
    rows = np.empty((TILE, TILE, C), dtype=x.dtype)
    image = np.empty((TILE * TILE, tiles, C), dtype=x.dtype)
    for n in range(N):
        gather_image(x, n, PT, PL, padded)
        input_tiles(padded, TH, TW, rows, image)
        for t in range(TILE * TILE):
            V[t, :, n * tiles:(n + 1) * tiles] = image[t].T
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


@numba.njit(cache=True)
def input_grad_cpu(dV, N, H, W, PT, PL, TH, TW):
    C = dV.shape[1]
    tiles = TH * TW
    dx = np.empty((N, C, H, W), dtype=dV.dtype)
    padded = padded_image(TH, TW, C, dV.dtype)
    rows = np.empty((TILE, TILE, C), dtype=dV.dtype)
    image = np.empty((TILE * TILE, tiles, C), dtype=dV.dtype)
    for n in range(N):
        for t in range(TILE * TILE):
            image[t] = dV[t, :, n * tiles:(n + 1) * tiles].T
        input_grad_tiles(image, TH, TW, rows, padded)
        scatter_input_grad(padded, n, PT, PL, dx)
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


@numba.njit(cache=True)
def output_transform_cpu(M, bias, N, OH, OW, TH, TW):
    OC = M.shape[1]
    tiles = TH * TW
    y = np.empty((N, OC, OH, OW), dtype=M.dtype)
    rows = np.empty((OUT, TILE, OC), dtype=M.dtype)
    image = np.empty((TILE * TILE, tiles, OC), dtype=M.dtype)
    out = np.empty((OUT * TH, OUT * TW, OC), dtype=M.dtype)
    for n in range(N):
        for t in range(TILE * TILE):
            image[t] = M[t, :, n * tiles:(n + 1) * tiles].T
        output_tiles(image, TH, TW, rows, out)
        scatter_output(out, bias, n, y)
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


@numba.njit(cache=True)
def output_grad_cpu(gy, TH, TW):
    N, OC = gy.shape[:2]
    tiles = TH * TW
    dM = np.empty((TILE * TILE, OC, N * tiles), dtype=gy.dtype)
    padded = np.zeros((OUT * TH, OUT * TW, OC), dtype=gy.dtype)
    rows = np.empty((TILE, OUT, OC), dtype=gy.dtype)
    image = np.empty((TILE * TILE, tiles, OC), dtype=gy.dtype)
    bias_grad = np.zeros(OC)
    for n in range(N):
        gather_grad(gy, n, padded, bias_grad)
        output_grad_tiles(padded, TH, TW, rows, image)
        for t in range(TILE * TILE):
            dM[t, :, n * tiles:(n + 1) * tiles] = image[t].T
    return dM, bias_grad.astype(gy.dtype)


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


# The whole convolution. U (36, OC, C) holds the transformed kernels (G g G^T of every
# kernel g, conv_winograd.kernel_transform).

def convolve_reference(x, U, bias, PT, PL, OH, OW):
    N = x.shape[0]
    TH, TW = -(-OH // OUT), -(-OW // OUT)
    M = np.matmul(U, input_transform_reference(x, PT, PL, TH, TW))
    return output_transform_reference(M, bias, N, OH, OW, TH, TW)


@numba.njit(parallel=True, cache=True)
def convolve_cpu(fn, x, UT, bias, PT, PL, OH, OW, TH, TW, pieces):
    """Image by image: `fn` is the address of cblas_sgemm or cblas_dgemm (x's dtype;
    kernels/gemm.py), called on one OpenBLAS thread from each of Numba's threads; `pieces`
    threads take the images in contiguous runs. UT (36, C, OC) is U channel-first."""
    N, C = x.shape[:2]
    OC = UT.shape[2]
    tiles, size = TH * TW, x.itemsize
    one, zero = np.ones(1, x.dtype)[0], np.zeros(1, x.dtype)[0]
    y = np.empty((N, OC, OH, OW), dtype=x.dtype)
    u = np.int64(UT.ctypes.data)
    for k in numba.prange(pieces):
        padded = padded_image(TH, TW, C, x.dtype)
        rows = np.empty((TILE, TILE, max(C, OC)), dtype=x.dtype)
        V = np.empty((TILE * TILE, tiles, C), dtype=x.dtype)
        M = np.empty((TILE * TILE, tiles, OC), dtype=x.dtype)
        out = np.empty((OUT * TH, OUT * TW, OC), dtype=x.dtype)
        v, m = np.int64(V.ctypes.data), np.int64(M.ctypes.data)
        for n in range(N * k // pieces, N * (k + 1) // pieces):
            gather_image(x, n, PT, PL, padded)
            input_tiles(padded, TH, TW, rows, V)
            for t in range(TILE * TILE):             # M[t] (tiles, OC) = V[t] @ UT[t]
                gemm.call_gemm(fn, np.int32(gemm.ROW_MAJOR), np.int32(gemm.NO_TRANS),
                               np.int32(gemm.NO_TRANS), np.int64(tiles), np.int64(OC),
                               np.int64(C), one, v + size * t * tiles * C, np.int64(C),
                               u + size * t * C * OC, np.int64(OC), zero,
                               m + size * t * tiles * OC, np.int64(OC))
            output_tiles(M, TH, TW, rows, out)
            scatter_output(out, bias, n, y)
    return y


def convolve_gpu(x, U, bias, PT, PL, OH, OW):
    """The transforms and the 36 GEMMs one after the other over the whole batch (on the GPU
    cuBLAS's batched GEMM; also the CPU's path where no BLAS for convolve_cpu is found)."""
    N = x.shape[0]
    TH, TW = -(-OH // OUT), -(-OW // OUT)
    M = gemm.batched_matmul(U, input_transform(x, PT, PL, TH, TW))          # (36, OC, P)
    return output_transform(M, bias, N, OH, OW, TH, TW)


def convolve(x, U, bias, PT, PL, OH, OW):
    """x (N, C, H, W) -> y (N, OC, OH, OW) = the 3x3 stride-1 convolution of x padded by PT/PL
    with the kernels whose transforms are U (36, OC, C), + bias (OC,)."""
    fn = fused_gemm(x)
    if not fn:
        return convolve_gpu(x, U, bias, PT, PL, OH, OW)
    TH, TW = -(-OH // OUT), -(-OW // OUT)
    UT = np.ascontiguousarray(U.transpose(0, 2, 1))
    return gemm.on_one_blas_thread(convolve_cpu, fn, np.ascontiguousarray(x), UT,
                                   np.ascontiguousarray(bias), PT, PL, OH, OW, TH, TW,
                                   threads_for(x.shape[0]))


def convolve_grads_reference(x, gy, U, PT, PL):
    N, _, H, W = x.shape
    TH, TW = -(-gy.shape[2] // OUT), -(-gy.shape[3] // OUT)
    dM, db = output_grad_reference(gy, TH, TW)
    dV = np.matmul(U.transpose(0, 2, 1), dM)
    dU = np.matmul(dM, input_transform_reference(x, PT, PL, TH, TW).transpose(0, 2, 1))
    return input_grad_reference(dV, N, H, W, PT, PL, TH, TW), dU, db


@numba.njit(parallel=True, cache=True)
def convolve_grads_cpu(fn, x, gy, U, PT, PL, TH, TW, parts, need_dx, need_dU):
    """Image by image, as convolve_cpu: dx (left empty unless need_dx), dU (36, OC, C; left
    empty unless need_dU) and db (in float64) summed over `parts` contiguous runs of images,
    each run's sum kept apart, then the parts added in order; Numba's threads share out the
    parts. V is computed again from x."""
    N, C, H, W = x.shape
    OC = gy.shape[1]
    tiles, size = TH * TW, x.itemsize
    one, zero = np.ones(1, x.dtype)[0], np.zeros(1, x.dtype)[0]
    dx = np.empty((N, C, H, W) if need_dx else (0, C, H, W), dtype=x.dtype)
    dU_parts = np.zeros((parts if need_dU else 0, TILE * TILE, OC, C), dtype=x.dtype)
    db_parts = np.zeros((parts, OC))
    u = np.int64(U.ctypes.data)
    for k in numba.prange(parts):
        padded = padded_image(TH, TW, C, x.dtype)            # x, then dx, of one image
        padded_gy = np.zeros((OUT * TH, OUT * TW, OC), dtype=x.dtype)
        rows = np.empty((TILE, TILE, max(C, OC)), dtype=x.dtype)
        V = np.empty((TILE * TILE, tiles, C), dtype=x.dtype)  # V, then dV
        dM = np.empty((TILE * TILE, tiles, OC), dtype=x.dtype)
        v, m = np.int64(V.ctypes.data), np.int64(dM.ctypes.data)
        du = np.int64(dU_parts[k].ctypes.data) if need_dU else np.int64(0)
        beta = zero                                            # the first image sets dU
        for n in range(N * k // parts, N * (k + 1) // parts):
            gather_grad(gy, n, padded_gy, db_parts[k])
            output_grad_tiles(padded_gy, TH, TW, rows, dM)
            if need_dU:
                gather_image(x, n, PT, PL, padded)
                input_tiles(padded, TH, TW, rows, V)
                padded[:] = 0
                for t in range(TILE * TILE):         # dU[t] (OC, C) += dM[t]^T @ V[t]
                    gemm.call_gemm(fn, np.int32(gemm.ROW_MAJOR), np.int32(gemm.TRANS),
                                   np.int32(gemm.NO_TRANS), np.int64(OC), np.int64(C),
                                   np.int64(tiles), one, m + size * t * tiles * OC, np.int64(OC),
                                   v + size * t * tiles * C, np.int64(C), beta,
                                   du + size * t * OC * C, np.int64(C))
                beta = one
            if need_dx:
                for t in range(TILE * TILE):         # dV[t] (tiles, C) = dM[t] @ U[t]
                    gemm.call_gemm(fn, np.int32(gemm.ROW_MAJOR), np.int32(gemm.NO_TRANS),
                                   np.int32(gemm.NO_TRANS), np.int64(tiles), np.int64(C),
                                   np.int64(OC), one, m + size * t * tiles * OC, np.int64(OC),
                                   u + size * t * OC * C, np.int64(C), zero,
                                   v + size * t * tiles * C, np.int64(C))
                input_grad_tiles(V, TH, TW, rows, padded)
                scatter_input_grad(padded, n, PT, PL, dx)
    dU = dU_parts[0] if need_dU else np.empty((0, OC, C), dtype=x.dtype)
    for k in range(1, dU_parts.shape[0]):
        dU += dU_parts[k]
    return dx, dU, db_parts.sum(axis=0)


def convolve_grads_gpu(x, gy, U, PT, PL, need_dx, need_dU):
    """As convolve_gpu: the transforms and GEMMs one after the other over the whole batch."""
    N, _, H, W = x.shape
    TH, TW = -(-gy.shape[2] // OUT), -(-gy.shape[3] // OUT)
    dx = dU = None
    dM, db = output_grad(gy, TH, TW)                                          # (36, OC, P)
    if need_dx:
        dV = gemm.batched_matmul(U.transpose(0, 2, 1), dM)                    # (36, C, P)
        dx = input_grad(dV, N, H, W, PT, PL, TH, TW)
    if need_dU:
        V = input_transform(x, PT, PL, TH, TW)                                # (36, C, P)
        dU = gemm.batched_matmul(dM, V.transpose(0, 2, 1))                    # (36, OC, C)
    return dx, dU, db


def convolve_grads(x, gy, U, PT, PL, need_dx=True, need_dU=True):
    """(dx (N, C, H, W), dU (36, OC, C), db (OC,)) of y = convolve(x, U, b, PT, PL, OH, OW) for
    the upstream gradient gy (N, OC, OH, OW); dx or dU None where not needed."""
    fn = fused_gemm(x)
    if not fn:
        return convolve_grads_gpu(x, gy, U, PT, PL, need_dx, need_dU)
    TH, TW = -(-gy.shape[2] // OUT), -(-gy.shape[3] // OUT)
    dx, dU, db = gemm.on_one_blas_thread(
        convolve_grads_cpu, fn, np.ascontiguousarray(x), np.ascontiguousarray(gy),
        np.ascontiguousarray(U), PT, PL, TH, TW, parts_for(x.shape[0]), need_dx, need_dU)
    return dx if need_dx else None, dU if need_dU else None, db.astype(x.dtype)


def fused_gemm(x):
    """The BLAS GEMM convolve_cpu and convolve_grads_cpu call for x's dtype, or 0 where they
    cannot run: on the GPU, where NumPy has no ILP64 OpenBLAS, for dtypes other than float32
    and float64."""
    return 0 if backend.on_gpu(x) else gemm.blas_gemm(x.dtype)


def threads_for(N):
    """Numba's threads, at most one per image: forward, each image's output is its own, so
    which thread computes it changes no number."""
    return max(1, min(numba.get_num_threads(), N))


def parts_for(N):
    """The runs of images whose weight gradients backward sums apart: a function of the batch
    alone (at most GRAD_PARTS), so that dU and db do not depend on the thread count."""
    return max(1, min(GRAD_PARTS, N))
