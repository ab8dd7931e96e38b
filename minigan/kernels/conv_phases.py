"""The 4x4 stride-2 convolution by Winograd's F(4x4, 2x2) on its four phases, forward and backward
(minigan/functional/conv_phases.py derives it), image by image on the CPU.

A 4x4 stride-2 convolution is a 2x2 stride-1 convolution of the input's four phases, stacked as
K = 4C channels: Z[u, v, (2r + s)*C + c] = x[c, 2u + r - PT, 2v + s - PL] (zero outside), and
F(4x4, 2x2) takes each 4x4 output tile from a 5x5 tile of Z with 25 products:

    V = B^T d B   (5x5 tile d of Z, every channel)      M[t] = V[t] @ U[t]   (t = 0..24)
    Y = A^T M A   (the 4x4 output tile)                 U = G g G^T of every 2x2 phase kernel g

with the interpolation points 0, 1, -1, 1/2 and infinity (2 in place of 1/2 puts 8 in A^T and
rounds 1.4x worse; each row of B^T is scaled by a power of 2, exactly, to make it whole):

    B^T = [[1, -2, -1,  2, 0],     A^T = [[1, 1,  1,   1, 0],     G = [[   1,    0],
           [0, -1,  1,  2, 0],            [0, 1, -1, 1/2, 0],          [ 1/2,  1/2],
           [0,  1, -3,  2, 0],            [0, 1,  1, 1/4, 0],          [-1/6,  1/6],
           [0, -2,  0,  2, 0],            [0, 1, -1, 1/8, 1]]          [-4/3, -2/3],
           [0,  1, -2, -1, 2]]                                       [   0,  1/2]]

Tiles are numbered q = th*TW + tw (TH x TW tiles per image, tile (th, tw) reading Z from row 4 th,
column 4 tw); a transformed tile's 25 values are stored at t = 5i + j. Z is held channel-last in
`padded` (4 TH + 1, 4 TW + 1, K), zero where the image has no pixel.

    forward       gather_phases, input_tiles (B^T d B), the 25 GEMMs M[t] = V[t] @ U[t],
                  output_tiles (A^T M A), winograd_tiles.scatter_output (crop, + bias)
    input_grad    winograd_tiles.gather_grad, output_grad_tiles (A g A^T), dV[t] = dM[t] @ U[t]^T,
                  input_grad_tiles (B dV B^T, added back where read), scatter_phase_grad
    weight_grad   dU[t] = dM[t]^T @ V[t] over every tile of the batch, V computed again from x

Each of Numba's threads takes whole groups of GROUP images (their tiles side by side, one GEMM
per t for the group) and calls the BLAS GEMM on one OpenBLAS thread (kernels/gemm.py), as
winograd.py does image by image; dU[t] is one GEMM over the whole batch's tiles, the threads
taking whole t's. The groups are fixed by the batch alone, so no number depends on the thread
count. These
kernels run where NumPy's ILP64 OpenBLAS is (gemm.blas_gemm); elsewhere, the GPU included, the
dispatcher (functional/conv.py, conv_transpose.py) keeps im2col's products. The function they
compute is the convolution's: the tests hold them to conv_per_image's references (im2col and
one GEMM) in float64.
"""
import numba
import numpy as np

from minigan import backend
from minigan.kernels import gemm
from minigan.kernels.winograd_tiles import gather_grad, scatter_output

TILE, OUT = 5, 4      # input tile side, output tile side
GROUP = 4             # images whose tiles share one GEMM per t (4 tiles each at 7x7 outputs)

B_T = np.array([[1, -2, -1, 2, 0], [0, -1, 1, 2, 0], [0, 1, -3, 2, 0], [0, -2, 0, 2, 0],
                [0, 1, -2, -1, 2]], dtype=np.float64)
A_T = np.array([[1, 1, 1, 1, 0], [0, 1, -1, 1 / 2, 0], [0, 1, 1, 1 / 4, 0],
                [0, 1, -1, 1 / 8, 1]])
G = np.array([[1, 0], [1 / 2, 1 / 2], [-1 / 6, 1 / 6], [-4 / 3, -2 / 3], [0, 1 / 2]])

# float32 constants: a Python literal would make Numba compute a float32 tile in float64 (float64
# arrays stay float64: these are exact in both)
TWO, THREE, HALF, QUARTER, EIGHTH = (np.float32(v) for v in (2, 3, 0.5, 0.25, 0.125))


@numba.njit(inline="always")
def b_transpose(d0, d1, d2, d3, d4):
    """B^T d for five values d."""
    return (d0 - d2 + TWO * (d3 - d1), d2 - d1 + TWO * d3, d1 - THREE * d2 + TWO * d3,
            TWO * (d3 - d1), d1 - TWO * d2 - d3 + TWO * d4)


@numba.njit(inline="always")
def b_times(v0, v1, v2, v3, v4):
    """B v for five values v: the adjoint of b_transpose."""
    return (v0, v2 + v4 - v1 - TWO * (v0 + v3), v1 - v0 - THREE * v2 - TWO * v4,
            TWO * (v0 + v1 + v2 + v3) - v4, TWO * v4)


@numba.njit(inline="always")
def a_transpose(m0, m1, m2, m3, m4):
    """A^T m for five values m: four."""
    return (m0 + m1 + m2 + m3, m1 - m2 + HALF * m3, m1 + m2 + QUARTER * m3,
            m1 - m2 + EIGHTH * m3 + m4)


@numba.njit(inline="always")
def a_times(g0, g1, g2, g3):
    """A g for four values g: five; the adjoint of a_transpose."""
    return (g0, g0 + g1 + g2 + g3, g0 - g1 + g2 - g3,
            g0 + HALF * g1 + QUARTER * g2 + EIGHTH * g3, g3)


@numba.njit
def gather_phases(x, n, PT, PL, padded):
    """padded[u, v, (2r + s)*C + c] = x[n, c, h, w] for h + PT = 2u + r, w + PL = 2v + s, where
    it fits; the rest of `padded` is left as it is (zeros)."""
    _, C, H, W = x.shape
    for h in range(H):
        u, r = (h + PT) // 2, (h + PT) % 2
        if u >= padded.shape[0]:
            break
        for w in range(W):
            v, s = (w + PL) // 2, (w + PL) % 2
            if v >= padded.shape[1]:
                break
            base = (2 * r + s) * C
            for c in range(C):
                padded[u, v, base + c] = x[n, c, h, w]


@numba.njit
def scatter_phase_grad(padded, n, PT, PL, dx):
    """dx[n, c, h, w] = padded[u, v, (2r + s)*C + c] (0 where no tile read it), the adjoint of
    gather_phases; then `padded` back to zeros for the next image."""
    _, C, H, W = dx.shape
    for h in range(H):
        u, r = (h + PT) // 2, (h + PT) % 2
        for w in range(W):
            v, s = (w + PL) // 2, (w + PL) % 2
            base = (2 * r + s) * C
            inside = u < padded.shape[0] and v < padded.shape[1]
            for c in range(C):
                dx[n, c, h, w] = padded[u, v, base + c] if inside else 0
    padded[:] = 0


@numba.njit
def input_tiles(padded, TH, TW, rows, V):
    """V[5i + j, th*TW + tw, :] = (B^T d B)[i, j] of the tile d at (4 th, 4 tw) of `padded`."""
    K = padded.shape[2]
    for th in range(TH):
        for tw in range(TW):
            q, top, left = th * TW + tw, OUT * th, OUT * tw
            for j in range(TILE):                    # rows = B^T d, column by column
                for k in range(K):
                    r = b_transpose(padded[top, left + j, k], padded[top + 1, left + j, k],
                                    padded[top + 2, left + j, k], padded[top + 3, left + j, k],
                                    padded[top + 4, left + j, k])
                    for i in range(TILE):
                        rows[i, j, k] = r[i]
            for i in range(TILE):                    # V = rows B, row by row
                for k in range(K):
                    v = b_transpose(rows[i, 0, k], rows[i, 1, k], rows[i, 2, k], rows[i, 3, k],
                                    rows[i, 4, k])
                    for j in range(TILE):
                        V[TILE * i + j, q, k] = v[j]


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
                                    M[3 * TILE + j, q, o], M[4 * TILE + j, q, o])
                    for i in range(OUT):
                        rows[i, j, o] = s[i]
            for i in range(OUT):                     # Y = rows A, row by row
                for o in range(OC):
                    y = a_transpose(rows[i, 0, o], rows[i, 1, o], rows[i, 2, o], rows[i, 3, o],
                                    rows[i, 4, o])
                    for j in range(OUT):
                        out[OUT * th + i, OUT * tw + j, o] = y[j]


@numba.njit
def output_grad_tiles(padded, TH, TW, rows, dM):
    """dM[5i + j, th*TW + tw, :] = (A g A^T)[i, j] of the 4x4 gradient tile g at (4 th, 4 tw)."""
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
    """padded[4 th + i, 4 tw + j, :] += (B v B^T)[i, j] of the gradient tile v = dV[:, q]: the
    adjoint of input_tiles (tiles overlap by one row and column, so the sums add up)."""
    K = dV.shape[2]
    for th in range(TH):
        for tw in range(TW):
            q, top, left = th * TW + tw, OUT * th, OUT * tw
            for i in range(TILE):                    # rows = v B^T, row by row
                for k in range(K):
                    r = b_times(dV[TILE * i, q, k], dV[TILE * i + 1, q, k],
                                dV[TILE * i + 2, q, k], dV[TILE * i + 3, q, k],
                                dV[TILE * i + 4, q, k])
                    for j in range(TILE):
                        rows[i, j, k] = r[j]
            for j in range(TILE):                    # B rows, column by column, added on
                for k in range(K):
                    d = b_times(rows[0, j, k], rows[1, j, k], rows[2, j, k], rows[3, j, k],
                                rows[4, j, k])
                    for i in range(TILE):
                        padded[top + i, left + j, k] += d[i]


@numba.njit
def tile_products(fn, ta, tb, M, N, K, alpha, a, sa, b, sb, beta, c, sc, size):
    """C[t] (M, N) = alpha A[t] @ B[t] + beta C[t] for the 25 tiles t, one BLAS GEMM each, the
    t-th matrices at a + t sa, b + t sb and c + t sc elements (row-major). A[t] is stored
    (M, K), or (K, M) and read transposed where ta is TRANS; B[t] (K, N), or (N, K) where tb
    is TRANS."""
    lda = K if ta == gemm.NO_TRANS else M
    ldb = N if tb == gemm.NO_TRANS else K
    for t in range(TILE * TILE):
        gemm.call_gemm(fn, np.int32(gemm.ROW_MAJOR), np.int32(ta), np.int32(tb), np.int64(M),
                       np.int64(N), np.int64(K), alpha, a + size * t * sa, np.int64(lda),
                       b + size * t * sb, np.int64(ldb), beta, c + size * t * sc, np.int64(N))


@numba.njit(parallel=True, cache=True)
def forward_cpu(fn, x, UT, bias, PT, PL, OH, OW, TH, TW, pieces):
    """y (N, OC, OH, OW), GROUP images at a time (their tiles side by side in V and M, one GEMM
    per t for the group: one image's few tiles make too thin a GEMM). UT (25, K, OC) is U
    channel-first: the GEMMs read both operands untransposed, which OpenBLAS runs fastest."""
    N = x.shape[0]
    K, OC = UT.shape[1:]
    tiles, size = TH * TW, x.itemsize
    rows_max = GROUP * tiles
    one, zero = np.ones(1, x.dtype)[0], np.zeros(1, x.dtype)[0]
    y = np.empty((N, OC, OH, OW), dtype=x.dtype)
    u = np.int64(UT.ctypes.data)
    for p in numba.prange(pieces):
        padded = np.zeros((OUT * TH + 1, OUT * TW + 1, K), dtype=x.dtype)
        rows = np.empty((TILE, TILE, max(K, OC)), dtype=x.dtype)
        V = np.empty((TILE * TILE, rows_max, K), dtype=x.dtype)
        M = np.empty((TILE * TILE, rows_max, OC), dtype=x.dtype)
        out = np.empty((OUT * TH, OUT * TW, OC), dtype=x.dtype)
        v, m = np.int64(V.ctypes.data), np.int64(M.ctypes.data)
        groups = -(-N // GROUP)                      # groups fixed by the batch alone: a
        for g in range(groups * p // pieces, groups * (p + 1) // pieces):   # row's GEMM does
            n0 = g * GROUP                           # not depend on the thread count
            group = min(GROUP, N - n0)
            for i in range(group):
                gather_phases(x, n0 + i, PT, PL, padded)
                input_tiles(padded, TH, TW, rows, V[:, i * tiles:(i + 1) * tiles])
            # M[t] (group*tiles, OC) = V[t] (group*tiles, K) @ UT[t] (K, OC)
            tile_products(fn, gemm.NO_TRANS, gemm.NO_TRANS, group * tiles, OC, K, one, v,
                          rows_max * K, u, OC * K, zero, m, rows_max * OC, size)
            for i in range(group):
                output_tiles(M[:, i * tiles:(i + 1) * tiles], TH, TW, rows, out)
                scatter_output(out, bias, n0 + i, y)
    return y


@numba.njit(parallel=True, cache=True)
def grads_cpu(fn, x, gy, U, H, W, PT, PL, TH, TW, pieces, need_dx, need_dU):
    """dx (N, C, H, W; left empty unless need_dx), dU (25, OC, K; empty unless need_dU) and db
    (float64). First, GROUP images at a time as forward_cpu, dM of every tile (and V again from
    x, for dU), and dx from dM; then each dU[t] as one GEMM over every tile of the batch, which
    Numba's threads share out by t: no sum depends on the thread count."""
    N, OC = gy.shape[:2]
    K = U.shape[2]
    C = K // 4
    tiles, size = TH * TW, gy.itemsize
    one, zero = np.ones(1, gy.dtype)[0], np.zeros(1, gy.dtype)[0]
    dx = np.empty((N, C, H, W) if need_dx else (0, C, H, W), dtype=gy.dtype)
    dM = np.empty((TILE * TILE, N * tiles, OC), dtype=gy.dtype)
    V = np.empty((TILE * TILE, N * tiles if need_dU else 0, K), dtype=gy.dtype)
    db_images = np.zeros((N, OC))
    u, m = np.int64(U.ctypes.data), np.int64(dM.ctypes.data)
    groups = -(-N // GROUP)
    for p in numba.prange(pieces):
        padded = np.zeros((OUT * TH + 1, OUT * TW + 1, K), dtype=gy.dtype)   # Z, then dZ
        padded_gy = np.zeros((OUT * TH, OUT * TW, OC), dtype=gy.dtype)
        rows = np.empty((TILE, TILE, max(K, OC)), dtype=gy.dtype)
        dV = np.empty((TILE * TILE, GROUP * tiles, K), dtype=gy.dtype)
        dv = np.int64(dV.ctypes.data)
        for g in range(groups * p // pieces, groups * (p + 1) // pieces):
            n0 = g * GROUP
            group = min(GROUP, N - n0)
            for i in range(group):
                q = (n0 + i) * tiles
                gather_grad(gy, n0 + i, padded_gy, db_images[n0 + i])
                output_grad_tiles(padded_gy, TH, TW, rows, dM[:, q:q + tiles])
                if need_dU:
                    gather_phases(x, n0 + i, PT, PL, padded)
                    input_tiles(padded, TH, TW, rows, V[:, q:q + tiles])
            if need_dU:
                padded[:] = 0
            if need_dx:
                # dV[t] (group*tiles, K) = dM[t] (group*tiles, OC) @ U[t] (OC, K)
                tile_products(fn, gemm.NO_TRANS, gemm.NO_TRANS, group * tiles, K, OC, one,
                              m + size * n0 * tiles * OC, N * tiles * OC, u, OC * K, zero, dv,
                              GROUP * tiles * K, size)
                for i in range(group):
                    input_grad_tiles(dV[:, i * tiles:(i + 1) * tiles], TH, TW, rows, padded)
                    scatter_phase_grad(padded, n0 + i, PT, PL, dx)
    dU = np.empty((TILE * TILE if need_dU else 0, OC, K), dtype=gy.dtype)
    for t in numba.prange(dU.shape[0]):
        # dU[t] (OC, K) = dM[t]^T (OC, N*tiles) @ V[t] (N*tiles, K); the addresses are taken
        # here, from the arrays, which keeps them alive (Numba frees an array after its last
        # use as one, and a GEMM reading it through an address is no use)
        gemm.call_gemm(fn, np.int32(gemm.ROW_MAJOR), np.int32(gemm.TRANS),
                       np.int32(gemm.NO_TRANS), np.int64(OC), np.int64(K),
                       np.int64(N * tiles), one, np.int64(dM[t].ctypes.data), np.int64(OC),
                       np.int64(V[t].ctypes.data), np.int64(K), zero,
                       np.int64(dU[t].ctypes.data), np.int64(K))
    db = np.zeros(OC)
    for n in range(N):                               # in image order, in float64
        db += db_images[n]
    return dx, dU, db


def tiles_for(OH, OW):
    """(TH, TW): the 4x4 output tiles that cover an OH x OW output."""
    return -(-OH // OUT), -(-OW // OUT)


def threads_for(N):
    """Numba's threads, at most one per image (each image's output is its own)."""
    return max(1, min(numba.get_num_threads(), N))


def forward(x, UT, bias, PT, PL, OH, OW):
    """y (N, OC, OH, OW): the 4x4 stride-2 convolution of x (N, C, H, W), padded by PT (top)
    and PL (left), whose phase kernels' transforms are UT (25, 4C, OC), channel-first; + bias
    (OC,). CPU only (available()): on the GPU functional/conv.py runs im2col instead."""
    TH, TW = tiles_for(OH, OW)
    return gemm.on_one_blas_thread(forward_cpu, gemm.blas_gemm(x.dtype), np.ascontiguousarray(x),
                                   np.ascontiguousarray(UT), np.ascontiguousarray(bias), PT, PL,
                                   OH, OW, TH, TW, threads_for(x.shape[0]))


def grads(x, gy, U, H, W, PT, PL, need_dx=True, need_dU=True):
    """(dx (N, C, H, W), dU (25, OC, 4C), db (OC,)) of y = forward(x, U, b, PT, PL, ...) for
    the upstream gradient gy (N, OC, OH, OW); dx or dU None where not needed. x is read only for
    dU: where only dx is needed it may be None (a transposed convolution's forward)."""
    TH, TW = tiles_for(*gy.shape[2:])
    if x is None:
        x = np.empty((0, U.shape[2] // 4, H, W), dtype=gy.dtype)
    dx, dU, db = gemm.on_one_blas_thread(
        grads_cpu, gemm.blas_gemm(gy.dtype), np.ascontiguousarray(x), np.ascontiguousarray(gy),
        np.ascontiguousarray(U), H, W, PT, PL, TH, TW, threads_for(gy.shape[0]), need_dx,
        need_dU)
    return dx if need_dx else None, dU if need_dU else None, db.astype(gy.dtype)


def available(x):
    """True where these kernels run: on the CPU, with NumPy's ILP64 OpenBLAS, for float32 and
    float64."""
    return not backend.on_gpu(x) and bool(gemm.blas_gemm(x.dtype))
