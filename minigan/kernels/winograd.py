"""Winograd's F(4x4, 3x3) convolution, forward and backward (minigan/functional/conv_winograd.py
derives it; winograd_tiles.py holds the tile transforms).

On the CPU, `convolve_cpu` and `convolve_grads_cpu` run it image by image, each thread on its own
images, so that one image's transformed tiles (36 x 49 x 64 floats for the discriminator's layer,
450 kB) stay in the core's cache between the transform, the GEMMs and the transform back,
instead of 14-29 MB arrays crossing memory three times:

    gather_image, input_tiles     x[n] -> V (36, tiles, C)              B^T d B
    GEMM                          M[t] = V[t] @ U[t]                    U[t] (C, OC), 36 calls
    output_tiles, scatter_output  M -> y[n] (OC, OH, OW), + bias        A^T M A

and backward gather_grad / output_grad_tiles (A gY A^T), the GEMMs dV[t] = dM[t] @ U[t]^T and
dU[t] += dM[t]^T @ V[t] (V computed again from x: cheaper than keeping 14 MB per layer),
input_grad_tiles (B dV B^T) and scatter_input_grad. `convolve_gpu` and `convolve_grads_gpu` run
the whole-batch steps of winograd_batch.py one after the other, with cuBLAS's batched GEMM
between them: the GPU's path, and the CPU's where NumPy has no ILP64 OpenBLAS.
"""
import numba
import numpy as np

from minigan import backend
from minigan.kernels import gemm, winograd_batch
from minigan.kernels.winograd_tiles import (OUT, TILE, gather_grad, gather_image, input_grad_tiles,
                                            input_tiles, output_grad_tiles, output_tiles,
                                            padded_image, scatter_input_grad, scatter_output)

GRAD_PARTS = 8     # backward's runs of images, shared out over the threads (parts_for)


@numba.njit
def tile_products(fn, ta, M, N, K, alpha, a, b, beta, c, size):
    """C[t] (M, N) = alpha A[t] @ B[t] + beta C[t] for the 36 tiles t, one call of the BLAS GEMM
    at `fn` each (on the calling thread). a, b, c: the addresses of stacks of 36 contiguous
    row-major matrices, A[t] (M, K), stored (K, M) and read transposed where ta is TRANS, B[t]
    (K, N) and C[t] (M, N); size: the bytes of an element."""
    lda = K if ta == gemm.NO_TRANS else M
    for t in range(TILE * TILE):
        gemm.call_gemm(fn, np.int32(gemm.ROW_MAJOR), np.int32(ta), np.int32(gemm.NO_TRANS),
                       np.int64(M), np.int64(N), np.int64(K), alpha, a + size * t * M * K,
                       np.int64(lda), b + size * t * K * N, np.int64(N), beta,
                       c + size * t * M * N, np.int64(N))


# The whole convolution. U (36, OC, C) holds the transformed kernels (G g G^T of every
# kernel g, conv_winograd.kernel_transform).

def convolve_reference(x, U, bias, PT, PL, OH, OW):
    N = x.shape[0]
    TH, TW = -(-OH // OUT), -(-OW // OUT)
    M = np.matmul(U, winograd_batch.input_transform_reference(x, PT, PL, TH, TW))
    return winograd_batch.output_transform_reference(M, bias, N, OH, OW, TH, TW)


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
            # M[t] (tiles, OC) = V[t] (tiles, C) @ UT[t] (C, OC)
            tile_products(fn, gemm.NO_TRANS, tiles, OC, C, one, v, u, zero, m, size)
            output_tiles(M, TH, TW, rows, out)
            scatter_output(out, bias, n, y)
    return y


def convolve_gpu(x, U, bias, PT, PL, OH, OW):
    """The transforms and the 36 GEMMs one after the other over the whole batch (on the GPU
    cuBLAS's batched GEMM; also the CPU's path where no BLAS for convolve_cpu is found)."""
    N = x.shape[0]
    TH, TW = -(-OH // OUT), -(-OW // OUT)
    V = winograd_batch.input_transform(x, PT, PL, TH, TW)                       # (36, C, P)
    M = gemm.batched_matmul(U, V)                                               # (36, OC, P)
    return winograd_batch.output_transform(M, bias, N, OH, OW, TH, TW)


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
    dM, db = winograd_batch.output_grad_reference(gy, TH, TW)
    dV = np.matmul(U.transpose(0, 2, 1), dM)
    V = winograd_batch.input_transform_reference(x, PT, PL, TH, TW)
    dU = np.matmul(dM, V.transpose(0, 2, 1))
    return winograd_batch.input_grad_reference(dV, N, H, W, PT, PL, TH, TW), dU, db


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
                # dU[t] (OC, C) += dM[t]^T (OC, tiles) @ V[t] (tiles, C)
                tile_products(fn, gemm.TRANS, OC, C, tiles, one, m, v, beta, du, size)
                beta = one
            if need_dx:
                # dV[t] (tiles, C) = dM[t] (tiles, OC) @ U[t] (OC, C)
                tile_products(fn, gemm.NO_TRANS, tiles, C, OC, one, m, u, zero, v, size)
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
    dM, db = winograd_batch.output_grad(gy, TH, TW)                          # (36, OC, P)
    if need_dx:
        dV = gemm.batched_matmul(U.transpose(0, 2, 1), dM)                    # (36, C, P)
        dx = winograd_batch.input_grad(dV, N, H, W, PT, PL, TH, TW)
    if need_dU:
        V = winograd_batch.input_transform(x, PT, PL, TH, TW)                # (36, C, P)
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
