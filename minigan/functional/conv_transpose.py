"""Transposed convolution (the DCGAN generator's upsampling layer) on NCHW: the adjoint of conv2d.

A convolution with kernel W (C_in, C_out, KH, KW), stride S and padding P maps a (C_out, H', W')
image to a (C_in, H, W) one, and is a linear map y = K x' for a sparse matrix K. Its transpose
K^T maps (C_in, H, W) back to (C_out, H', W'), with

    H' = (H - 1) * S - 2 * P + KH + output_padding      (and W' likewise)

(output_padding < S adds rows at the bottom and columns at the right that the convolution would
drop, since several H' give the same H). In the convolution's matrices (conv.py: Y = W2 @ cols,
cols = im2col(x')) K^T is

    y = col2im(W2^T @ X) + b      X = x as (C_in, N*H*W), W2 = W as (C_in, C_out*KH*KW)

so every input pixel scatters a KH x KW patch of weights into the output, at stride S, and
overlapping patches add. Backward is the convolution itself, with the same im2col and GEMMs:

    G = im2col(gy)  (C_out*KH*KW, N*H*W),   dX = W2 @ G,   dW2 = X @ G^T,   db = gy summed
    over N, H', W'.

PyTorch's ConvTranspose2d has the same weight layout (C_in, C_out, KH, KW) and output size.
This is the reference algorithm; on the CPU conv_transpose2d runs a 4x4 stride-2 layer by
Winograd on the kernel's phases (conv_phases.py) and any other by the same products image by
image (conv_per_image.py), each image's columns kept in cache.
"""
from minigan import backend, kernels
from minigan.autograd import Function, as_tensor, check_same_dtype, float_tensor
from minigan.functional import conv_phases
from minigan.functional.conv_per_image import ConvTranspose2dPerImage
from minigan.functional.empty_batch import check_batch

ALGORITHMS = ("auto", "im2col", "per_image", "phases")
PHASES_MIN_CHANNELS = 8   # below, the phases' GEMMs are too thin to pay off (as conv2d's)


def _non_negative_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_arguments(op, stride, padding, output_padding):
    """One clear line for a stride, padding or output_padding that is not allowed."""
    if not (isinstance(stride, int) and not isinstance(stride, bool) and stride >= 1):
        raise ValueError(f"{op}: stride must be an int >= 1, got {stride!r}")
    if not _non_negative_int(padding):
        raise ValueError(f"{op}: padding must be an int >= 0, got {padding!r}")
    if not _non_negative_int(output_padding) or output_padding >= stride:
        raise ValueError(f"{op}: output_padding must be an int in [0, stride) = [0, {stride}), "
                         f"got {output_padding!r}")


def conv_transpose_geometry(H, W, KH, KW, stride, padding, output_padding):
    """(OH, OW), the output size, or one clear line for a geometry that does not fit."""
    check_arguments("conv_transpose2d", stride, padding, output_padding)
    OH = (H - 1) * stride - 2 * padding + KH + output_padding
    OW = (W - 1) * stride - 2 * padding + KW + output_padding
    if OH < 1 or OW < 1:
        raise ValueError(f"conv_transpose2d: padding {padding} crops a {H}x{W} input with a "
                         f"{KH}x{KW} kernel at stride {stride} to nothing ({OH}x{OW}); use a "
                         "smaller padding")
    return OH, OW


class ConvTranspose2d(Function):
    """y = col2im(W2^T @ X) + b (the module docstring gives the shapes and the gradients)."""

    def __init__(self, stride, padding, OH, OW):
        self.S, self.P, self.OH, self.OW = stride, padding, OH, OW

    def forward(self, x, weight, bias=None):
        N, C, H, W = x.shape
        OC, KH, KW = weight.shape[1:]
        self.x_shape, self.weight, self.has_bias = x.shape, weight, bias is not None
        self.X = kernels.layout.from_nchw(x.reshape(N, C, H * W))               # (C, N*H*W), for dW
        cols = kernels.gemm.matmul(weight.reshape(C, -1).T, self.X)             # (OC*KH*KW, N*H*W)
        y = kernels.im2col.col2im(cols, self.OH, self.OW, KH, KW, self.S, self.P, self.P, H, W)
        if bias is not None:
            y += bias.reshape(1, OC, 1, 1)                                      # y is new: in place
        return y

    def backward(self, gy):
        N, C, H, W = self.x_shape
        KH, KW = self.weight.shape[2:]
        G = kernels.im2col.im2col(gy, KH, KW, self.S, self.P, self.P, H, W)     # (OC*KH*KW, N*H*W)
        w2 = self.weight.reshape(C, -1)                                         # (C, OC*KH*KW)
        gx = gw = gb = None
        if self.needs_grad[0]:
            gx = kernels.layout.to_nchw(kernels.gemm.matmul(w2, G), None, N).reshape(N, C, H, W)
        if self.needs_grad[1]:
            gw = kernels.gemm.matmul(self.X, G.T).reshape(self.weight.shape)
        if not self.has_bias:
            return gx, gw
        if self.needs_grad[2]:
            gb = gy.sum(axis=(0, 2, 3))
        return gx, gw, gb


def choose_algorithm(algorithm, x, weight_shape, stride):
    """The algorithm conv_transpose2d runs: "auto" is, on the CPU, Winograd on the phases
    (conv_phases.py) for a 4x4 kernel at stride 2 with at least PHASES_MIN_CHANNELS channels on
    both sides, else per_image; on the GPU the whole-batch im2col (cuBLAS runs its GEMM; the
    others are not measured there yet)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"conv_transpose2d: algorithm must be one of {ALGORITHMS}, got "
                         f"{algorithm!r}")
    if algorithm == "phases" and not conv_phases.fits(weight_shape[2:], stride):
        raise ValueError(f"conv_transpose2d: algorithm='phases' needs a 4x4 kernel at stride 2, "
                         f"got kernel {tuple(weight_shape[2:])}, stride {stride}; use "
                         "algorithm='auto' or 'im2col'")
    if algorithm != "auto":
        return algorithm
    if backend.on_gpu(x):
        return "im2col"
    if conv_phases.fits(weight_shape[2:], stride) and min(weight_shape[:2]) >= \
            PHASES_MIN_CHANNELS and kernels.conv_phases.available(x):
        return "phases"
    return "per_image"


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0,
                     algorithm="auto"):
    """Transposed 2-D convolution of NCHW x (N, C_in, H, W) with weight (C_in, C_out, KH, KW), as
    PyTorch's conv_transpose2d: y (N, C_out, (H - 1)*stride - 2*padding + KH + output_padding,
    likewise for W). The gradient of conv2d with respect to its input, as a layer. algorithm:
    "auto" (choose_algorithm), "im2col", "per_image" or "phases" (a 4x4 kernel at stride 2);
    the same function up to float rounding."""
    weight = float_tensor("conv_transpose2d", weight)
    x = as_tensor(x, like=weight, op="conv_transpose2d")
    bias = None if bias is None else as_tensor(bias, like=weight, op="conv_transpose2d")
    if x.ndim != 4 or weight.ndim != 4 or x.shape[1] != weight.shape[0]:
        raise ValueError(f"conv_transpose2d: x must be (N, C_in, H, W) and weight (C_in, C_out, "
                         f"KH, KW) with the same C_in; got x {tuple(x.shape)} and weight "
                         f"{tuple(weight.shape)}")
    check_batch("conv_transpose2d", x)
    if 0 in weight.shape or 0 in x.shape:
        raise ValueError(f"conv_transpose2d: x {tuple(x.shape)} and weight "
                         f"{tuple(weight.shape)} must have no empty axis")
    if bias is not None and bias.shape != (weight.shape[1],):
        raise ValueError(f"conv_transpose2d: bias must have shape ({weight.shape[1]},) (C_out, "
                         f"the weight's second axis), got {tuple(bias.shape)}")
    check_same_dtype("conv_transpose2d", x, weight, bias)
    OH, OW = conv_transpose_geometry(x.shape[2], x.shape[3], weight.shape[2], weight.shape[3],
                                     stride, padding, output_padding)
    chosen = choose_algorithm(algorithm, x.data, weight.shape, stride)
    if chosen == "phases":
        fn = conv_phases.ConvTranspose2dPhases(padding, OH, OW)
    elif chosen == "per_image":
        fn = ConvTranspose2dPerImage(stride, padding, OH, OW)
    else:
        fn = ConvTranspose2d(stride, padding, OH, OW)
    return fn(x, weight) if bias is None else fn(x, weight, bias)
