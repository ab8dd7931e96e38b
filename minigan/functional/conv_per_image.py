"""Conv2D and ConvTranspose2D by im2col's products taken image by image
(minigan/kernels/conv_per_image.py): the same functions and gradients as the whole-batch Conv2d
(conv.py) and ConvTranspose2d (conv_transpose.py), each image's columns made and used while in
the core's cache, the results written in NCHW directly.

A transposed convolution is the adjoint of the convolution that maps its output back to its
input, with the same weight (C_in, C_out, KH, KW) read as that convolution's (OC, C, KH, KW)
and its stride and padding; so

    convT(x)       = conv.input_grad(x)          (col2im(W2^T @ x[n]) of every image)
    dx of convT    = conv.forward(gy)            (W2 @ cols(gy[n]), no bias)
    dW of convT    = conv.weight_grad(gy, x)     (sum over n of x[n] @ cols(gy[n])^T)
"""
from minigan import kernels
from minigan.autograd import Function


class Conv2dPerImage(Function):
    """y = conv2d(x, W) + b (conv.py's Conv2d), image by image; keeps x for dW."""

    def __init__(self, stride, PT, PL, OH, OW):
        self.S, self.PT, self.PL, self.OH, self.OW = stride, PT, PL, OH, OW

    def forward(self, x, weight, bias=None):
        OC, _, KH, KW = weight.shape
        self.x, self.weight, self.has_bias = x, weight, bias is not None
        if bias is None:
            bias = x.dtype.type(0) * weight[:, 0, 0, 0]                  # zeros (OC,), x's device
        return kernels.conv_per_image.forward(x, weight.reshape(OC, -1), bias, KH, KW, self.S,
                                              self.PT, self.PL, self.OH, self.OW)

    def backward(self, gy):
        H, W = self.x.shape[2:]
        OC, _, KH, KW = self.weight.shape
        gx = gw = gb = None
        if self.needs_grad[0]:
            gx = kernels.conv_per_image.input_grad(gy, self.weight.reshape(OC, -1), H, W, KH, KW,
                                                   self.S, self.PT, self.PL)
        if self.needs_grad[1]:
            gw = kernels.conv_per_image.weight_grad(self.x, gy, KH, KW, self.S, self.PT,
                                                    self.PL).reshape(self.weight.shape)
        if not self.has_bias:
            return gx, gw
        if self.needs_grad[2]:
            gb = gy.sum(axis=(0, 2, 3))
        return gx, gw, gb


class ConvTranspose2dPerImage(Function):
    """y = conv_transpose2d(x, W) + b (conv_transpose.py's ConvTranspose2d), image by image, as
    the adjoint of a convolution (the module docstring); keeps x for dW."""

    def __init__(self, stride, padding, OH, OW):
        self.S, self.P, self.OH, self.OW = stride, padding, OH, OW

    def forward(self, x, weight, bias=None):
        C = weight.shape[0]
        KH, KW = weight.shape[2:]
        self.x, self.weight, self.has_bias = x, weight, bias is not None
        y = kernels.conv_per_image.input_grad(x, weight.reshape(C, -1), self.OH, self.OW, KH, KW,
                                              self.S, self.P, self.P)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)                                  # y is new: in place
        return y

    def backward(self, gy):
        C, OC, KH, KW = self.weight.shape
        w2 = self.weight.reshape(C, -1)
        gx = gw = gb = None
        if self.needs_grad[0]:
            zeros = gy.dtype.type(0) * self.weight[:, 0, 0, 0]              # no bias: (C,) zeros
            gx = kernels.conv_per_image.forward(gy, w2, zeros, KH, KW, self.S, self.P, self.P,
                                                *self.x.shape[2:])
        if self.needs_grad[1]:
            gw = kernels.conv_per_image.weight_grad(gy, self.x, KH, KW, self.S, self.P,
                                                    self.P).reshape(self.weight.shape)
        if not self.has_bias:
            return gx, gw
        if self.needs_grad[2]:
            gb = gy.sum(axis=(0, 2, 3))
        return gx, gw, gb
