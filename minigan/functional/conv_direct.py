"""Conv2D written out for thin inputs: every output is its C*KH*KW multiply-adds, with no GEMM.

    y[n, o, oh, ow] = sum over c, i, j of W[o, c, i, j] * xp[n, c, oh*S + i, ow*S + j] + b[o]

(xp: x zero padded so that every window lies inside it.) im2col would make the discriminator's
first layer, 1 channel in and a 3x3 kernel, a GEMM of depth 9: too shallow for a BLAS to pay
for packing its operands, and the product then crosses memory once more to reach NCHW. The
direct kernels (minigan/kernels/conv_direct.py) write y in NCHW straight away. Backward:

    dW[o, c, i, j] = sum over n, oh, ow of gy[n, o, oh, ow] * xp[n, c, oh*S + i, ow*S + j]
    dx = the window of dxp over x,   dxp[n, c, oh*S + i, ow*S + j] += W[o, c, i, j] gy[n, o, oh, ow]
    db[o] = sum over n, oh, ow of gy[n, o, oh, ow]

The same function and gradients as Conv2d (im2col), summed in another order.
"""
from minigan import kernels
from minigan.autograd import Function


class Conv2dDirect(Function):
    """y = conv2d(x, W) + b by the direct kernels, for conv2d's geometry (S, PT, PL, OH, OW).
    Keeps the padded input for dW."""

    def __init__(self, stride, PT, PL, OH, OW):
        self.S, self.PT, self.PL, self.OH, self.OW = stride, PT, PL, OH, OW

    def forward(self, x, weight, bias=None):
        KH, KW = weight.shape[2:]
        Hp, Wp = kernels.conv_direct.padded_size(KH, KW, self.S, self.OH, self.OW)
        self.x_size, self.weight, self.has_bias = x.shape[2:], weight, bias is not None
        self.xp = kernels.conv_direct.pad(x, Hp, Wp, self.PT, self.PL)   # (N, C, Hp, Wp)
        if bias is None:
            bias = x.dtype.type(0) * weight[:, 0, 0, 0]                  # zeros (OC,), x's device
        return kernels.conv_direct.forward(self.xp, weight, bias, self.S, self.OH, self.OW)

    def backward(self, gy):
        H, W = self.x_size
        KH, KW = self.weight.shape[2:]
        gx = gw = gb = None
        if self.needs_grad[0]:
            gx = kernels.conv_direct.input_grad(gy, self.weight, H, W, self.S, self.PT, self.PL)
        if self.needs_grad[1]:
            gw = kernels.conv_direct.weight_grad(self.xp, gy, KH, KW, self.S)
        if not self.has_bias:
            return gx, gw
        if self.needs_grad[2]:
            gb = gy.sum(axis=(0, 2, 3))
        return gx, gw, gb
