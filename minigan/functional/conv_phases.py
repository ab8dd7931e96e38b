"""Conv2D and ConvTranspose2D with a 4x4 kernel at stride 2 (the DCGAN layers) by Winograd's
F(4x4, 2x2) on the kernel's four phases: the same functions and gradients as conv.py's Conv2d and
conv_transpose.py's ConvTranspose2d, with 100 products per (output, input) channel pair and 7x7
output where the direct convolution takes 196.

The phases. Writing the kernel's rows and columns as 2a + r and 2b + s (a, b, r, s in {0, 1}),

    y[o, i, j] = sum over c, a, b, r, s of
                 w[o, c, 2a + r, 2b + s] * xpad[c, 2(i + a) + r, 2(j + b) + s]

so with the phases of the padded input Z[(r, s, c), u, v] = xpad[c, 2u + r, 2v + s] (K = 4C
channels) and the phase kernels W2[o, (r, s, c), a, b] = w[o, c, 2a + r, 2b + s], the layer is
the 2x2 stride-1 convolution of Z with W2. F(4x4, 2x2) then computes each 4x4 tile of y from a
5x5 tile of Z (minigan/kernels/conv_phases.py has the transforms):

    U[t] = (G W2 G^T)[t]  (25, OC, K)     V[t] = (B^T d B)[t]     M[t] = U[t] @ V[t]
    y tile = A^T M A

Backward, each step's adjoint: dM = A gY A^T, dV[t] = U[t]^T dM[t] (then B dV B^T, back onto the
phases and the pixels they came from), dU[t] = sum over tiles of dM[t] V[t]^T, and
dW = the phase kernels of G^T dU G, put back in w's order (kernel_grad).

A transposed convolution with weight (C_in, C_out, 4, 4) at stride 2 is the adjoint of the
convolution with that weight as (OC, C, 4, 4): its forward is that convolution's input gradient,
its input gradient that convolution's forward, its weight gradient that convolution's weight
gradient with the roles of x and gy exchanged (functional/conv_per_image.py says the same of
im2col's products).

The transforms' coefficients (up to 3 in B^T, 4/3 in G) make float32 rounding larger than the
direct convolution's, as in F(4x4, 3x3) (conv_winograd.py): tests/test_conv_phases.py states the
bound.
"""
from minigan import backend, kernels
from minigan.autograd import Function
from minigan.kernels.conv_phases import G
from minigan.kernels.winograd_tiles import kron

KERNEL, STRIDE = 4, 2


def fits(kernel_size, stride):
    """The layers this algorithm computes: a 4x4 kernel at stride 2."""
    return tuple(kernel_size) == (KERNEL, KERNEL) and stride == STRIDE


def kernel_transform(weight, channels_first=False):
    """weight (OC, C, 4, 4) -> U (25, OC, 4C): G g G^T of every phase kernel g, the phase
    kernels W2[o, (2r + s)C + c, a, b] = weight[o, c, 2a + r, 2b + s]; channels_first: UT
    (25, 4C, OC), the layout the forward GEMMs read (ordered on the small weight, not on U)."""
    OC, C = weight.shape[:2]
    w2 = weight.reshape(OC, C, 2, 2, 2, 2)                                # (o, c, a, r, b, s)
    w2 = w2.transpose(2, 4, 3, 5, 1, 0) if channels_first else w2.transpose(2, 4, 0, 3, 5, 1)
    KG = kron(G, backend.xp_of(weight), weight.dtype)                    # (25, 4)
    U = kernels.gemm.matmul(KG, w2.reshape(4, OC * 4 * C))
    return U.reshape((25, 4 * C, OC) if channels_first else (25, OC, 4 * C))


def kernel_grad(dU, weight_shape):
    """dW (OC, C, 4, 4) from dU (25, OC, 4C): the adjoint of kernel_transform."""
    OC, C = weight_shape[:2]
    KG = kron(G, backend.xp_of(dU), dU.dtype)
    dw2 = kernels.gemm.matmul(KG.T, dU.reshape(25, OC * 4 * C))           # (4, OC*4C)
    dw2 = dw2.reshape(2, 2, OC, 2, 2, C)                                  # (a, b, o, r, s, c)
    return dw2.transpose(2, 5, 0, 3, 1, 4).reshape(weight_shape)          # (o, c, a, r, b, s)


class Conv2dPhases(Function):
    """y = conv2d(x, W) + b for a 4x4 kernel at stride 2 (conv2d's geometry PT, PL, OH, OW);
    keeps x and W for backward, which transforms W again in the layout its GEMMs read."""

    def __init__(self, PT, PL, OH, OW):
        self.PT, self.PL, self.OH, self.OW = PT, PL, OH, OW

    def forward(self, x, weight, bias=None):
        self.weight, self.has_bias = weight, bias is not None
        self.x = x
        if bias is None:
            bias = x.dtype.type(0) * weight[:, 0, 0, 0]                     # zeros (OC,)
        return kernels.conv_phases.forward(x, kernel_transform(weight, channels_first=True),
                                           bias, self.PT, self.PL, self.OH, self.OW)

    def backward(self, gy):
        H, W = self.x.shape[2:]
        U = kernel_transform(self.weight)                                   # dx's layout
        gx, dU, gb = kernels.conv_phases.grads(self.x, gy, U, H, W, self.PT, self.PL,
                                               self.needs_grad[0], self.needs_grad[1])
        gw = None if dU is None else kernel_grad(dU, self.weight.shape)
        if not self.has_bias:
            return gx, gw
        return gx, gw, gb if self.needs_grad[2] else None


class ConvTranspose2dPhases(Function):
    """y = conv_transpose2d(x, W) + b for a 4x4 kernel at stride 2, as the adjoint of the
    convolution whose weight is W (the module docstring); keeps x and W for backward."""

    def __init__(self, padding, OH, OW):
        self.P, self.OH, self.OW = padding, OH, OW

    def forward(self, x, weight, bias=None):
        self.x, self.weight, self.has_bias = x, weight, bias is not None
        U = kernel_transform(weight)                                        # (25, C_in, 4 C_out)
        y, _, _ = kernels.conv_phases.grads(None, x, U, self.OH, self.OW, self.P, self.P,
                                            need_dx=True, need_dU=False)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)                                  # y is new: in place
        return y

    def backward(self, gy):
        gx = gw = gb = None
        if self.needs_grad[0]:
            zeros = gy.dtype.type(0) * self.weight[:, 0, 0, 0]              # (C_in,): no bias
            gx = kernels.conv_phases.forward(gy, kernel_transform(self.weight, True), zeros,
                                             self.P, self.P, *self.x.shape[2:])
        if self.needs_grad[1]:
            _, dU, _ = kernels.conv_phases.grads(gy, self.x, kernel_transform(self.weight),
                                                 *gy.shape[2:], self.P, self.P, need_dx=False,
                                                 need_dU=True)
            gw = kernel_grad(dU, self.weight.shape)
        if not self.has_bias:
            return gx, gw
        if self.needs_grad[2]:
            gb = gy.sum(axis=(0, 2, 3))
        return gx, gw, gb
