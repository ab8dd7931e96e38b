"""Conv2D with a 3x3 kernel at stride 1 by Winograd's minimal filtering F(4x4, 3x3).

One output tile of 4x4 pixels needs an input tile d of 6x6 pixels, and is

    Y = A^T [ (G g G^T) * (B^T d B) ] A          (* elementwise, g the 3x3 kernel)

which takes 36 multiplications instead of 9 * 16 = 144. Summed over the input channels c, the
elementwise product becomes a matrix product for every one of the 36 positions t of a tile:

    M[t] = U[t] @ V[t]      U[t] (OC, C): (G g G^T)[t] of every kernel g = W[o, c]
                            V[t] (C, P):  (B^T d B)[t] of every input tile (P tiles in all)

so the convolution is 36 GEMMs of (OC x C) @ (C x P), a quarter of im2col's multiplications,
between two transforms (minigan/kernels/winograd_tiles.py holds them, with A^T, B^T and G):

    V = input_transform(x)          (36, C, P)      6x6 tiles at stride 4, zero padded
    U = KG @ g                      (36, OC, C)     KG = G kron G (36 x 9), for every kernel
    M[t] = U[t] @ V[t]              (36, OC, P)
    y = output_transform(M) + b     (N, OC, OH, OW)

Backward follows the chain rule back through the products, each step the adjoint of one
forward step: dM = output_grad(gy) (A gY A^T of every 4x4 tile of gy), then

    dV[t] = U[t]^T @ dM[t],  dx = input_grad(dV)    (B dV B^T of every tile, added back onto
                                                     the pixels it was read from)
    dU[t] = dM[t] @ V[t]^T,  dW = KG^T @ dU          db = gy summed over N, H, W
                                                    (read in output_grad's pass over gy).

kernels.winograd.convolve and convolve_grads run these steps; on the CPU image by image, each
of Numba's threads on its own images, so that an image's tiles stay in the core's cache from one
step to the next (the kernels' module docstring shows the loop). V is not kept for backward but
computed again from x: cheaper than writing and reading 14 MB per layer.

The transforms' coefficients (up to 25 in B^T d B, 8 in A^T M A) make float32 rounding larger
than im2col's: tests/test_conv_winograd.py states the bound it checks against float64.
"""
from minigan import backend, kernels
from minigan.autograd import Function
from minigan.kernels.winograd_tiles import G, kron


def kernel_transform(weight):
    """weight (OC, C, 3, 3) -> U (36, OC, C): G g G^T of every kernel g."""
    OC, C = weight.shape[:2]
    KG = kron(G, backend.xp_of(weight), weight.dtype)          # (36, 9)
    return kernels.gemm.matmul(KG, weight.reshape(OC * C, 9).T).reshape(36, OC, C)


def kernel_grad(dU, weight_shape):
    """dW (OC, C, 3, 3) from dU (36, OC, C): the adjoint of kernel_transform."""
    OC, C = weight_shape[:2]
    KG = kron(G, backend.xp_of(dU), dU.dtype)
    return kernels.gemm.matmul(KG.T, dU.reshape(36, OC * C)).T.reshape(weight_shape)


class Conv2dWinograd(Function):
    """y = conv2d(x, W) + b for a 3x3 kernel at stride 1 (conv2d's geometry PT, PL, OH, OW), by
    F(4x4, 3x3); the same function and gradients as Conv2d. Keeps x and U for backward, which
    computes V again (kernels.winograd.convolve_grads)."""

    def __init__(self, PT, PL, OH, OW):
        self.PT, self.PL, self.OH, self.OW = PT, PL, OH, OW

    def forward(self, x, weight, bias=None):
        self.weight_shape, self.has_bias = weight.shape, bias is not None
        self.x, self.U = x, kernel_transform(weight)                           # (36, OC, C)
        if bias is None:
            bias = backend.xp_of(x).zeros(weight.shape[0], dtype=x.dtype)
        return kernels.winograd.convolve(x, self.U, bias, self.PT, self.PL, self.OH, self.OW)

    def backward(self, gy):
        gx, dU, gb = kernels.winograd.convolve_grads(self.x, gy, self.U, self.PT, self.PL,
                                                     self.needs_grad[0], self.needs_grad[1])
        gw = None if dU is None else kernel_grad(dU, self.weight_shape)
        if not self.has_bias:
            return gx, gw
        return gx, gw, gb if self.needs_grad[2] else None
