"""The transforms of Winograd's convolution one at a time over the whole batch, in the layout
(36, channels, N*TH*TW): the steps of winograd.convolve_gpu and convolve_grads_gpu, with the 36
GEMMs between them. The references compute each with the Kronecker form vec(B^T d B) =
(B^T kron B^T) vec(d) over im2col's tiles (one GEMM each); the GPU runs the same on CuPy. The CPU
runs the references: it takes this path only where NumPy has no ILP64 OpenBLAS for the
image-by-image kernels (winograd.py), so it has no Numba twin.
"""
import numpy as np

from minigan import backend
from minigan.kernels import im2col
from minigan.kernels.winograd_tiles import A_T, B_T, OUT, TILE, kron


def input_transform_reference(x, PT, PL, TH, TW):
    C = x.shape[1]
    cols = im2col.im2col_reference(x, TILE, TILE, OUT, PT, PL, TH, TW)   # (C*36, P)
    V = kron(B_T, np, x.dtype) @ cols.reshape(C, TILE * TILE, -1)         # (C, 36, P)
    return np.ascontiguousarray(V.transpose(1, 0, 2))


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
    return input_transform_reference(x, PT, PL, TH, TW)


def input_grad_reference(dV, N, H, W, PT, PL, TH, TW):
    C = dV.shape[1]
    cols = kron(B_T, np, dV.dtype).T @ dV.transpose(1, 0, 2)              # (C, 36, P)
    return im2col.col2im_reference(cols.reshape(C * TILE * TILE, -1), H, W, TILE, TILE, OUT,
                                   PT, PL, TH, TW)


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
    return input_grad_reference(dV, N, H, W, PT, PL, TH, TW)


def output_transform_reference(M, bias, N, OH, OW, TH, TW):
    OC = M.shape[1]
    Y = kron(A_T, np, M.dtype) @ M.transpose(1, 0, 2)                     # (OC, 16, P)
    y = im2col.col2im_reference(Y.reshape(OC * OUT * OUT, -1), OH, OW, OUT, OUT, OUT, 0, 0,
                                TH, TW)
    return y + bias.reshape(1, -1, 1, 1)


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
    return output_transform_reference(M, bias, N, OH, OW, TH, TW)


def output_grad_reference(gy, TH, TW):
    OC = gy.shape[1]
    cols = im2col.im2col_reference(gy, OUT, OUT, OUT, 0, 0, TH, TW)      # (OC*16, P)
    dM = kron(A_T, np, gy.dtype).T @ cols.reshape(OC, OUT * OUT, -1)      # (OC, 36, P)
    return np.ascontiguousarray(dM.transpose(1, 0, 2)), gy.sum(axis=(0, 2, 3))


def output_grad_gpu(gy, TH, TW):
    xp = backend.xp_of(gy)
    OC = gy.shape[1]
    cols = im2col.im2col_gpu(gy, OUT, OUT, OUT, 0, 0, TH, TW)
    dM = xp.matmul(kron(A_T, xp, gy.dtype).T, cols.reshape(OC, OUT * OUT, -1))
    return xp.ascontiguousarray(dM.transpose(1, 0, 2)), gy.sum(axis=(0, 2, 3))


def output_grad(gy, TH, TW):
    """gy (N, OC, OH, OW) -> (dM (36, OC, N*TH*TW), db (OC,)): A gY A^T of every 4x4 tile gY,
    the gradient of output_transform with respect to M, and gy summed over N, OH and OW, the
    bias's gradient."""
    if backend.on_gpu(gy):
        return output_grad_gpu(gy, TH, TW)
    return output_grad_reference(gy, TH, TW)
