"""Conv2D on NCHW float32: im2col -> one GEMM for the whole batch -> NCHW; col2im for dx.

This is the reference algorithm, for every shape. `conv2d` dispatches a 3x3 stride-1
convolution with enough channels to Winograd's F(4x4, 3x3) (conv_winograd.py), which does a
quarter of the multiplications, a stride-1 convolution of a thin input (C*KH*KW up to
DIRECT_MAX_DEPTH, the discriminator's first layer) to the direct kernels (conv_direct.py), and
on the CPU every other one to these same products taken image by image (conv_per_image.py).

Letters: N batch, C/OC in/out channels, H/W height/width, KH/KW kernel, S stride,
PT/PL top/left pad, OH/OW output size.
"""
from minigan import backend, kernels
from minigan.autograd import Function, layer_operands
from minigan.functional import conv_phases
from minigan.functional.conv_direct import Conv2dDirect
from minigan.functional.conv_per_image import Conv2dPerImage
from minigan.functional.conv_phases import Conv2dPhases
from minigan.functional.conv_winograd import Conv2dWinograd
from minigan.functional.empty_batch import check_batch

ALGORITHMS = ("auto", "im2col", "per_image", "winograd", "direct", "phases")
WINOGRAD_MIN_CHANNELS = 8   # below, the GEMMs of (OC x C) @ (C x P) are too thin to pay off
                            # (Winograd's and the phases')
DIRECT_MAX_DEPTH = 32       # above, im2col's GEMM of depth C*KH*KW pays for its packing


def conv_geometry(H, W, KH, KW, S, padding):
    """(PT, PL, OH, OW) for a padding of "valid", "same" or an int.

    "same" follows Keras/TensorFlow: OH = ceil(H / S), with the total padding
    max((OH - 1) * S + KH - H, 0) split as top = total // 2 and the odd pixel at the bottom
    (right). For odd kernels at stride 1 that is (K - 1) / 2 on each side, the output keeps the
    input size, and it equals PyTorch's padding=(K - 1) // 2. For even kernels or stride > 1 the
    padding may be asymmetric, as in Keras (PyTorch has no such mode).
    """
    if padding == "valid":
        PT = PB = PL = PR = 0
    elif padding == "same":
        OH, OW = -(-H // S), -(-W // S)
        pad_h, pad_w = max((OH - 1) * S + KH - H, 0), max((OW - 1) * S + KW - W, 0)
        PT, PB, PL, PR = pad_h // 2, pad_h - pad_h // 2, pad_w // 2, pad_w - pad_w // 2
    elif isinstance(padding, int) and not isinstance(padding, bool) and padding >= 0:
        PT = PB = PL = PR = padding
    else:
        raise ValueError(f"conv2d: padding must be 'same', 'valid' or an int >= 0, got {padding!r}")
    OH, OW = (H + PT + PB - KH) // S + 1, (W + PL + PR - KW) // S + 1
    if OH < 1 or OW < 1:
        raise ValueError(f"conv2d: a {KH}x{KW} kernel does not fit a {H}x{W} input with padding "
                         f"{padding!r} and stride {S}")
    return PT, PL, OH, OW


class Conv2d(Function):
    """y[n, o] = sum over c, i, j of W[o, c, i, j] * xpad[n, c, oh*S + i, ow*S + j] + b[o].

    As matrices: Y = W2 @ cols + b, with W2 = W as (OC, C*KH*KW), cols = im2col(x) as
    (C*KH*KW, N*OH*OW) and Y (OC, N*OH*OW), the batch side by side. Backward, with G = gy in
    the same layout:  dW2 = G @ cols.T,  db = G summed over its columns,  dx = col2im(W2.T @ G).
    """

    def __init__(self, stride, padding):
        self.S, self.padding = stride, padding

    def forward(self, x, weight, bias=None):
        N, C, H, W = x.shape
        OC, _, KH, KW = weight.shape
        PT, PL, OH, OW = conv_geometry(H, W, KH, KW, self.S, self.padding)
        self.geometry = (H, W, KH, KW, self.S, PT, PL, OH, OW)
        self.weight = weight
        self.has_bias = bias is not None  # backward returns one gradient per input given
        self.cols = kernels.im2col.im2col(x, KH, KW, self.S, PT, PL, OH, OW)  # (C*KH*KW, N*OH*OW)
        y = kernels.gemm.matmul(weight.reshape(OC, -1), self.cols)              # (OC, N*OH*OW)
        return kernels.layout.to_nchw(y, bias, N).reshape(N, OC, OH, OW)     # + bias, one pass

    def backward(self, gy):
        H, W, KH, KW, S, PT, PL, OH, OW = self.geometry
        N, OC = gy.shape[:2]
        g = kernels.layout.from_nchw(gy.reshape(N, OC, OH * OW))               # (OC, N*OH*OW)
        w2 = self.weight.reshape(OC, -1)                                        # (OC, C*KH*KW)
        gx = gw = gb = None
        if self.needs_grad[0]:
            gcols = kernels.gemm.matmul(w2.T, g)                                # (C*KH*KW, N*OH*OW)
            gx = kernels.im2col.col2im(gcols, H, W, KH, KW, S, PT, PL, OH, OW)  # (N, C, H, W)
        if self.needs_grad[1]:
            gw = kernels.gemm.matmul(g, self.cols.T).reshape(self.weight.shape)  # (OC, C, KH, KW)
        if not self.has_bias:
            return gx, gw
        if self.needs_grad[2]:
            gb = g.sum(axis=1)                                                  # (OC,)
        return gx, gw, gb


def winograd_fits(kernel_size, stride):
    return tuple(kernel_size) == (3, 3) and stride == 1


def check_algorithm(op, algorithm, kernel_size, stride):
    """One clear line for an unknown algorithm, or for Winograd (of a 3x3 stride-1 kernel, or of
    the phases of a 4x4 stride-2 one) asked of a kernel it cannot run."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"{op}: algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    if algorithm == "winograd" and not winograd_fits(kernel_size, stride):
        raise ValueError(f"{op}: algorithm='winograd' needs a 3x3 kernel at stride 1, got "
                         f"kernel {tuple(kernel_size)}, stride {stride}; use algorithm='auto' "
                         "or 'im2col'")
    if algorithm == "phases" and not conv_phases.fits(kernel_size, stride):
        raise ValueError(f"{op}: algorithm='phases' needs a 4x4 kernel at stride 2, got "
                         f"kernel {tuple(kernel_size)}, stride {stride}; use algorithm='auto' "
                         "or 'im2col'")


def choose_algorithm(algorithm, x, weight_shape, stride):
    """The algorithm conv2d runs. On the CPU: Winograd where it fits (a 3x3 kernel at stride 1)
    and has the channels to pay off; the direct kernels for a stride-1 convolution of depth
    C*KH*KW <= DIRECT_MAX_DEPTH; else im2col's products image by image (per_image). On the GPU
    the whole-batch im2col (cuBLAS runs its GEMM; the others are not measured there yet)."""
    check_algorithm("conv2d", algorithm, weight_shape[2:], stride)
    if algorithm != "auto":
        return algorithm
    if backend.on_gpu(x):
        return "im2col"
    OC, C, KH, KW = weight_shape
    if winograd_fits((KH, KW), stride) and min(C, OC) >= WINOGRAD_MIN_CHANNELS:
        return "winograd"
    if conv_phases.fits((KH, KW), stride) and min(C, OC) >= WINOGRAD_MIN_CHANNELS \
            and kernels.conv_phases.available(x):
        return "phases"
    if stride == 1 and C * KH * KW <= DIRECT_MAX_DEPTH:
        return "direct"
    return "per_image"


def conv2d(x, weight, bias=None, stride=1, padding="same", algorithm="auto"):
    """2-D convolution (cross-correlation, as in every DL library) of NCHW x with
    weight (OC, C, KH, KW); padding "same" (Keras' rule), "valid" or an int. algorithm: "auto"
    (choose_algorithm), "im2col", "per_image", "winograd" or "direct"; they compute the same
    function up to float rounding."""
    x, weight, bias = layer_operands("conv2d", x, weight, bias)
    if x.ndim != 4 or weight.ndim != 4 or x.shape[1] != weight.shape[1]:
        raise ValueError(f"conv2d: x must be (N, C, H, W) and weight (OC, C, KH, KW) with the same "
                         f"C; got x {tuple(x.shape)} and weight {tuple(weight.shape)} (images "
                         "need a channel axis: reshape (N, 28, 28) to (N, 1, 28, 28))")
    check_batch("conv2d", x)
    if 0 in weight.shape:
        raise ValueError(f"conv2d: weight {tuple(weight.shape)} has an empty axis; channels and "
                         "kernel sides must be >= 1")
    if not isinstance(stride, int) or isinstance(stride, bool) or stride < 1:
        raise ValueError(f"conv2d: stride must be an int >= 1, got {stride!r}")
    PT, PL, OH, OW = conv_geometry(x.shape[2], x.shape[3], weight.shape[2], weight.shape[3],
                                   stride, padding)
    chosen = choose_algorithm(algorithm, x.data, weight.shape, stride)
    if chosen == "winograd":
        fn = Conv2dWinograd(PT, PL, OH, OW)
    elif chosen == "direct":
        fn = Conv2dDirect(stride, PT, PL, OH, OW)
    elif chosen == "per_image":
        fn = Conv2dPerImage(stride, PT, PL, OH, OW)
    elif chosen == "phases":
        fn = Conv2dPhases(PT, PL, OH, OW)
    else:
        fn = Conv2d(stride, padding)
    return fn(x, weight) if bias is None else fn(x, weight, bias)
