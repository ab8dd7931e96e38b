"""im2col's convolution image by image: the same three products as the whole-batch path
(functional/conv.py), one image at a time, so that an image's columns stay in the core's cache
and the products read and write NCHW directly. With K = C*KH*KW, P = OH*OW and W2 = W as
(OC, K):

    forward       y[n] (OC, P) = W2 @ cols(x[n]) (K, P)  + b
    input_grad    dx[n] = col2im(W2^T @ gy[n])            (W2^T @ gy[n]: K x P)
    weight_grad   dW2 = sum over n of gy[n] (OC, P) @ cols(x[n])^T

cols(x[n]) is im2col of one image (row (c, i, j), column (oh, ow) holds
x[n, c, oh*S - PT + i, ow*S - PL + j], zero outside the image) and col2im its adjoint. The
whole-batch path makes cols for the batch at once (C*KH*KW x N*OH*OW: 12.8 MB for the DCGAN
discriminator's 64 -> 128 layer), a GEMM result in (OC, N*P) order and then a pass to NCHW;
here one image's columns (200 kB for that layer) are made, multiplied and used while in cache,
and y[n] = W2 @ cols is already image n's NCHW block.

The transposed convolution (functional/conv_transpose.py) is the adjoint of a convolution of its
output: its forward is input_grad, its input gradient is forward (no bias), its weight gradient
weight_grad with the roles of x and gy exchanged.

On the CPU each of Numba's threads takes whole images and calls the BLAS GEMM (kernels/gemm.py's
cblas_sgemm, or cblas_dgemm for float64) on one OpenBLAS thread per image. y and dx of an image
are that image's own; dW is summed over runs of images fixed by the batch size alone
(parts_for), each run's sum kept apart and the runs added in order, so no number depends on the
thread count. The *_gpu functions are the whole-batch steps (im2col's and col2im's CUDA kernels,
cuBLAS's GEMM): the GPU's path, and the CPU's where NumPy has no ILP64 OpenBLAS.
"""
import numba
import numpy as np

from minigan import backend
from minigan.kernels import gemm, im2col, layout

GRAD_PARTS = 8   # weight_grad's runs of images, shared out over the threads (parts_for)
GROUP = 4        # weight_grad's images per GEMM


@numba.njit(cache=True)
def image_columns(x, n, KH, KW, S, PT, PL, OH, OW, cols):
    """cols (C*KH*KW, OH*OW) = im2col of image n of x (N, C, H, W)."""
    C, H, W = x.shape[1:]
    for c in range(C):
        for i in range(KH):
            for j in range(KW):
                row = cols[(c * KH + i) * KW + j]
                lo, hi = im2col.inside(j, S, PL, W, OW)   # ow whose column is in the image
                for oh in range(OH):
                    h, at = oh * S - PT + i, oh * OW
                    if h < 0 or h >= H:
                        row[at:at + OW] = 0
                        continue
                    row[at:at + lo] = 0
                    src = x[n, c, h]
                    for ow in range(lo, hi):
                        row[at + ow] = src[np.uint64(ow * S - PL + j)]   # >= 0: no wraparound
                    row[at + hi:at + OW] = 0


@numba.njit(cache=True)
def add_image_columns(cols, KH, KW, S, PT, PL, OH, OW, out, n):
    """out[n] (C, H, W) += col2im of one image's columns (C*KH*KW, OH*OW)."""
    C, H, W = out.shape[1:]
    for c in range(C):
        for i in range(KH):
            for j in range(KW):
                row = cols[(c * KH + i) * KW + j]
                lo, hi = im2col.inside(j, S, PL, W, OW)
                for oh in range(OH):
                    h = oh * S - PT + i
                    if h < 0 or h >= H:
                        continue
                    dst, at = out[n, c, h], oh * OW
                    for ow in range(lo, hi):
                        dst[np.uint64(ow * S - PL + j)] += row[at + ow]   # >= 0: no wraparound


# forward: y (N, OC, OH, OW) = the convolution of x with W2 (OC, C*KH*KW), + bias

def forward_reference(x, w2, bias, KH, KW, S, PT, PL, OH, OW):
    N, OC = x.shape[0], w2.shape[0]
    cols = im2col.im2col_reference(x, KH, KW, S, PT, PL, OH, OW)
    y = (w2 @ cols).reshape(OC, N, OH, OW).transpose(1, 0, 2, 3)
    return y + bias.reshape(1, OC, 1, 1)


@numba.njit(parallel=True, cache=True)
def forward_cpu(fn, x, w2, bias, KH, KW, S, PT, PL, OH, OW, pieces):
    """Image by image, `pieces` threads taking contiguous runs of images; fn: the address of
    cblas_sgemm or cblas_dgemm (x's dtype)."""
    N = x.shape[0]
    OC, K = w2.shape
    P, size = OH * OW, x.itemsize
    one, zero = np.ones(1, x.dtype)[0], np.zeros(1, x.dtype)[0]
    y = np.empty((N, OC, P), dtype=x.dtype)
    a, c0 = np.int64(w2.ctypes.data), np.int64(y.ctypes.data)
    for k in numba.prange(pieces):
        cols = np.empty((K, P), dtype=x.dtype)
        b = np.int64(cols.ctypes.data)
        for n in range(N * k // pieces, N * (k + 1) // pieces):
            image_columns(x, n, KH, KW, S, PT, PL, OH, OW, cols)
            # y[n] (OC, P) = w2 (OC, K) @ cols (K, P)
            gemm.call_gemm(fn, np.int32(gemm.ROW_MAJOR), np.int32(gemm.NO_TRANS),
                           np.int32(gemm.NO_TRANS), np.int64(OC), np.int64(P), np.int64(K), one,
                           a, np.int64(K), b, np.int64(P), zero, c0 + size * n * OC * P,
                           np.int64(P))
            for o in range(OC):
                y[n, o] += bias[o]
    return y.reshape(N, OC, OH, OW)


def forward_gpu(x, w2, bias, KH, KW, S, PT, PL, OH, OW):
    """The whole-batch steps: im2col, one GEMM, back to NCHW with the bias."""
    N = x.shape[0]
    cols = im2col.im2col(x, KH, KW, S, PT, PL, OH, OW)
    return layout.to_nchw(gemm.matmul(w2, cols), bias, N).reshape(N, w2.shape[0], OH, OW)


def forward(x, w2, bias, KH, KW, S, PT, PL, OH, OW):
    """y (N, OC, OH, OW) of the convolution of x (N, C, H, W) with W2 (OC, C*KH*KW) at stride S,
    x padded by PT (top) and PL (left); + bias (OC,)."""
    fn = blas(x)
    if not fn:
        return forward_gpu(x, w2, bias, KH, KW, S, PT, PL, OH, OW)
    return gemm.on_one_blas_thread(forward_cpu, fn, np.ascontiguousarray(x),
                                   np.ascontiguousarray(w2), np.ascontiguousarray(bias), KH, KW,
                                   S, PT, PL, OH, OW, threads_for(x.shape[0]))


# input_grad: dx (N, C, H, W) = col2im(W2^T @ gy[n]) of every image

def input_grad_reference(gy, w2, H, W, KH, KW, S, PT, PL):
    N, OC, OH, OW = gy.shape
    g = gy.reshape(N, OC, OH * OW).transpose(1, 0, 2).reshape(OC, N * OH * OW)
    return im2col.col2im_reference(w2.T @ g, H, W, KH, KW, S, PT, PL, OH, OW)


@numba.njit(parallel=True, cache=True)
def input_grad_cpu(fn, gy, w2, H, W, KH, KW, S, PT, PL, pieces):
    """Image by image, as forward_cpu."""
    N, OC, OH, OW = gy.shape
    K = w2.shape[1]
    C, P, size = K // (KH * KW), OH * OW, gy.itemsize
    one, zero = np.ones(1, gy.dtype)[0], np.zeros(1, gy.dtype)[0]
    dx = np.zeros((N, C, H, W), dtype=gy.dtype)
    a, b0 = np.int64(w2.ctypes.data), np.int64(gy.ctypes.data)
    for k in numba.prange(pieces):
        gcols = np.empty((K, P), dtype=gy.dtype)
        c = np.int64(gcols.ctypes.data)
        for n in range(N * k // pieces, N * (k + 1) // pieces):
            # gcols (K, P) = w2^T (K, OC) @ gy[n] (OC, P); w2 is stored (OC, K)
            gemm.call_gemm(fn, np.int32(gemm.ROW_MAJOR), np.int32(gemm.TRANS),
                           np.int32(gemm.NO_TRANS), np.int64(K), np.int64(P), np.int64(OC), one,
                           a, np.int64(K), b0 + size * n * OC * P, np.int64(P), zero, c,
                           np.int64(P))
            add_image_columns(gcols, KH, KW, S, PT, PL, OH, OW, dx, n)
    return dx


def input_grad_gpu(gy, w2, H, W, KH, KW, S, PT, PL):
    """The whole-batch steps: gy to (OC, N*P), one GEMM, col2im."""
    N, OC, OH, OW = gy.shape
    g = layout.from_nchw(gy.reshape(N, OC, OH * OW))
    return im2col.col2im(gemm.matmul(w2.T, g), H, W, KH, KW, S, PT, PL, OH, OW)


def input_grad(gy, w2, H, W, KH, KW, S, PT, PL):
    """dx (N, C, H, W) of the convolution forward() computes, for gy (N, OC, OH, OW)."""
    fn = blas(gy)
    if not fn:
        return input_grad_gpu(gy, w2, H, W, KH, KW, S, PT, PL)
    return gemm.on_one_blas_thread(input_grad_cpu, fn, np.ascontiguousarray(gy),
                                   np.ascontiguousarray(w2), H, W, KH, KW, S, PT, PL,
                                   threads_for(gy.shape[0]))


# weight_grad: dW2 (OC, C*KH*KW) = sum over n of gy[n] @ cols(x[n])^T

def weight_grad_reference(x, gy, KH, KW, S, PT, PL):
    N, OC, OH, OW = gy.shape
    cols = im2col.im2col_reference(x, KH, KW, S, PT, PL, OH, OW)
    g = gy.reshape(N, OC, OH * OW).transpose(1, 0, 2).reshape(OC, N * OH * OW)
    return g @ cols.T


@numba.njit(parallel=True, cache=True)
def weight_grad_cpu(fn, x, gy, KH, KW, S, PT, PL, parts):
    """`parts` contiguous runs of images, each run's sum kept apart, then the runs added in
    order; Numba's threads share out the runs. Within a run, GROUP images at a time: their
    columns side by side (K, GROUP*P) and their gy blocks likewise (OC, GROUP*P), one GEMM of
    depth GROUP*P (one image's P = 49 is too shallow for the BLAS to run at its rate)."""
    N, C = x.shape[:2]
    OC, OH, OW = gy.shape[1:]
    K, P = C * KH * KW, OH * OW
    one, zero = np.ones(1, x.dtype)[0], np.zeros(1, x.dtype)[0]
    g3 = gy.reshape(N, OC, P)
    sums = np.zeros((parts, OC, K), dtype=x.dtype)
    for k in numba.prange(parts):
        cols = np.empty((K, GROUP * P), dtype=x.dtype)
        g = np.empty((OC, GROUP * P), dtype=x.dtype)
        a, b = np.int64(g.ctypes.data), np.int64(cols.ctypes.data)
        c = np.int64(sums[k].ctypes.data)
        beta = zero                                  # the run's first group sets its sum
        lo, hi = N * k // parts, N * (k + 1) // parts
        for n0 in range(lo, hi, GROUP):
            m = min(GROUP, hi - n0)
            for i in range(m):
                image_columns(x, n0 + i, KH, KW, S, PT, PL, OH, OW, cols[:, i * P:(i + 1) * P])
                g[:, i * P:(i + 1) * P] = g3[n0 + i]
            # sums[k] (OC, K) += g (OC, m*P) @ cols^T (m*P, K); cols is stored (K, GROUP*P)
            gemm.call_gemm(fn, np.int32(gemm.ROW_MAJOR), np.int32(gemm.NO_TRANS),
                           np.int32(gemm.TRANS), np.int64(OC), np.int64(K), np.int64(m * P), one,
                           a, np.int64(GROUP * P), b, np.int64(GROUP * P), beta, c, np.int64(K))
            beta = one
    total = sums[0].copy()
    for k in range(1, parts):
        total += sums[k]
    return total


def weight_grad_gpu(x, gy, KH, KW, S, PT, PL):
    """The whole-batch steps: im2col, gy to (OC, N*P), one GEMM."""
    N, OC, OH, OW = gy.shape
    cols = im2col.im2col(x, KH, KW, S, PT, PL, OH, OW)
    return gemm.matmul(layout.from_nchw(gy.reshape(N, OC, OH * OW)), cols.T)


def weight_grad(x, gy, KH, KW, S, PT, PL):
    """dW2 (OC, C*KH*KW) of the convolution forward() computes, for gy (N, OC, OH, OW)."""
    fn = blas(x)
    if not fn:
        return weight_grad_gpu(x, gy, KH, KW, S, PT, PL)
    return gemm.on_one_blas_thread(weight_grad_cpu, fn, np.ascontiguousarray(x),
                                   np.ascontiguousarray(gy), KH, KW, S, PT, PL,
                                   parts_for(x.shape[0]))


def blas(x):
    """The BLAS GEMM the *_cpu kernels call for x's dtype, or 0 where they cannot run: on the
    GPU, where NumPy has no ILP64 OpenBLAS, for dtypes other than float32 and float64."""
    return 0 if backend.on_gpu(x) else gemm.blas_gemm(x.dtype)


def threads_for(N):
    """Numba's threads, at most one per image: each image's result is its own, so which thread
    computes it changes no number."""
    return max(1, min(numba.get_num_threads(), N))


def parts_for(N):
    """The runs of images whose weight gradients are summed apart: a function of the batch alone
    (at most GRAD_PARTS), so that dW does not depend on the thread count."""
    return max(1, min(GRAD_PARTS, N))
