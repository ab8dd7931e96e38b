"""The layers: Sequential, Dense, Conv2D, ConvTranspose2D, BatchNorm1d/2d, Embedding, the
activations, Dropout, LeakyReLUDropout, Flatten, Reshape and the BCE losses, all Modules
(minigan.module), and so `mg.nn.Module`, `mg.nn.Parameter` are here too.
"""
import numpy as np

from minigan import functional as F
from minigan import backend, init
from minigan.module import Buffer, Module, Parameter, StateDictError

__all__ = ["BCELoss", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d", "Buffer", "Conv2D",
           "ConvTranspose2D", "Dense", "Dropout", "Embedding", "Flatten", "LeakyReLU",
           "LeakyReLUDropout", "Module", "Parameter", "ReLU", "Reshape", "Sequential", "Sigmoid",
           "StateDictError", "Tanh"]


def _positive_int(layer, name, value):
    """value as an int >= 1 (a size, a kernel side, a stride), else ValueError naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < 1:
        raise ValueError(f"{layer}: {name} must be a positive int, got {value!r}")
    return int(value)


def _kernel_sides(layer, kernel_size):
    """(KH, KW) from an int or a pair, each a positive int, else ValueError naming the layer."""
    sides = kernel_size if isinstance(kernel_size, (tuple, list)) else (kernel_size,) * 2
    if len(sides) != 2:
        raise ValueError(f"{layer}: kernel_size must be an int or a pair (KH, KW), got "
                         f"{kernel_size!r}")
    return tuple(_positive_int(layer, "kernel_size", k) for k in sides)


class Sequential(Module):
    """Applies its modules in order. Children are named "0", "1", ... as in PyTorch."""

    def __init__(self, *modules):
        for i, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: item {i} is a {type(module).__name__}, not a Module")
            setattr(self, str(i), module)

    def __len__(self):
        return len(self.named_children())

    def __getitem__(self, i):
        return self.named_children()[i][1]  # negative indices count from the end

    def __iter__(self):
        return iter(child for _, child in self.named_children())

    def forward(self, x):
        for module in self:
            x = module(x)
        return x


class Dense(Module):
    """y = x @ W.T + b.    x: (N, in_features) -> y: (N, out_features)."""

    def __init__(self, in_features, out_features, bias=True):
        in_features = _positive_int("Dense", "in_features", in_features)
        out_features = _positive_int("Dense", "out_features", out_features)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(init.glorot_uniform((out_features, in_features)))  # Keras' default
        self.bias = Parameter(init.zeros((out_features,))) if bias else None

    def forward(self, x):
        return F.dense(x, self.weight, self.bias)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Conv2D(Module):
    """2-D convolution. x: (N, in_channels, H, W) -> y: (N, out_channels, OH, OW).
    padding: "same" (Keras' rule), "valid" or an int. Glorot-uniform weights, zero bias.
    algorithm: "auto", "im2col", "winograd" or "direct" (functional.conv.choose_algorithm says
    which runs where)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding="same",
                 bias=True, algorithm="auto"):
        in_channels = _positive_int("Conv2D", "in_channels", in_channels)
        out_channels = _positive_int("Conv2D", "out_channels", out_channels)
        kh, kw = _kernel_sides("Conv2D", kernel_size)
        stride = _positive_int("Conv2D", "stride", stride)
        if not (isinstance(padding, str) and padding in ("same", "valid")
                or isinstance(padding, int) and not isinstance(padding, bool) and padding >= 0):
            raise ValueError(f"Conv2D: padding must be 'same', 'valid' or an int >= 0, got "
                             f"{padding!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        F.conv.check_algorithm("Conv2D", algorithm, (kh, kw), stride)
        self.kernel_size, self.stride, self.padding = (kh, kw), stride, padding
        self.algorithm = algorithm
        self.weight = Parameter(init.glorot_uniform((out_channels, in_channels, kh, kw)))
        self.bias = Parameter(init.zeros((out_channels,))) if bias else None

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding,
                        algorithm=self.algorithm)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, {self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding!r}"
                + ("" if self.algorithm == "auto" else f", algorithm={self.algorithm!r}"))


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d: y = weight * xhat + bias per feature (channel).
    Training uses batch statistics and updates the running ones; eval() uses the running ones.
    momentum and eps are keyword-only: Keras takes momentum second and PyTorch eps, so
    BatchNorm1d(n, 0.8) would mean either."""

    ndim, input_shape = None, None   # the input's dimensions, and how the error names them

    def __init__(self, num_features, *, momentum=0.1, eps=1e-5):
        name = type(self).__name__
        num_features = _positive_int(name, "num_features", num_features)
        self.num_features, self.momentum, self.eps = num_features, momentum, eps
        self.weight = Parameter(init.ones((num_features,)))
        self.bias = Parameter(init.zeros((num_features,)))
        self.running_mean = Buffer(init.zeros((num_features,)))
        self.running_var = Buffer(init.ones((num_features,)))
        self.num_batches_tracked = Buffer(backend.xp(self.weight.device).zeros((), "int64"))

    def forward(self, x):
        if getattr(x, "ndim", None) != self.ndim:
            raise ValueError(f"{type(self).__name__}: x must be {self.input_shape}, got shape "
                             f"{tuple(getattr(x, 'shape', ()))}")
        y = self.normalize(x)               # first: a refused batch is not counted
        if self.training:
            self.num_batches_tracked.data += 1
        return y

    def normalize(self, x):
        """F.batch_norm with this layer's tensors; the statistics are x's (a synchronised twin,
        minigan.distributed.SyncBatchNorm1d/2d, takes them over every process's rows)."""
        return F.batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var,
                            training=self.training, momentum=self.momentum, eps=self.eps)

    def extra_repr(self):
        return f"{self.num_features}, momentum={self.momentum}, eps={self.eps}"


class BatchNorm1d(_BatchNorm):
    """Normalize each of num_features over the batch (PyTorch's BatchNorm1d on (N, F))."""
    ndim, input_shape = 2, "(N, F)"


class BatchNorm2d(_BatchNorm):
    """Normalize each of num_features channels over the batch and the pixels (PyTorch's
    BatchNorm2d on (N, C, H, W)): the DCGAN generator's normalization."""
    ndim, input_shape = 4, "(N, C, H, W)"


class ConvTranspose2D(Module):
    """Transposed 2-D convolution (functional.conv_transpose2d), the upsampling layer of a DCGAN
    generator. x: (N, in_channels, H, W) -> y: (N, out_channels, (H - 1)*stride - 2*padding +
    KH + output_padding, likewise for W). Weight (in_channels, out_channels, KH, KW) as PyTorch's
    ConvTranspose2d, Glorot-uniform; zero bias."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, bias=True):
        name = "ConvTranspose2D"
        in_channels = _positive_int(name, "in_channels", in_channels)
        out_channels = _positive_int(name, "out_channels", out_channels)
        kh, kw = _kernel_sides(name, kernel_size)
        stride = _positive_int(name, "stride", stride)
        F.conv_transpose.check_arguments(name, stride, padding, output_padding)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = (kh, kw), stride
        self.padding, self.output_padding = padding, output_padding
        self.weight = Parameter(init.glorot_uniform((in_channels, out_channels, kh, kw)))
        self.bias = Parameter(init.zeros((out_channels,))) if bias else None

    def forward(self, x):
        return F.conv_transpose2d(x, self.weight, self.bias, stride=self.stride,
                                  padding=self.padding, output_padding=self.output_padding)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, {self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}"
                + (f", output_padding={self.output_padding}" if self.output_padding else ""))


class Embedding(Module):
    """A table of num_embeddings learned vectors of size dim: integer labels (N,) -> (N, dim).
    N(0, 1) initial rows, as PyTorch's Embedding."""

    def __init__(self, num_embeddings, dim):
        self.num_embeddings = _positive_int("Embedding", "num_embeddings", num_embeddings)
        self.dim = _positive_int("Embedding", "dim", dim)
        self.weight = Parameter(init.normal((self.num_embeddings, self.dim)))

    def forward(self, indices):
        return F.embedding(indices, self.weight)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.dim}"


class LeakyReLU(Module):
    """y = x if x > 0 else alpha * x (Keras' default alpha is 0.3; the GAN uses 0.01)."""

    def __init__(self, alpha=0.01):
        self.alpha = alpha

    def forward(self, x):
        return F.leaky_relu(x, self.alpha)

    def extra_repr(self):
        return f"{self.alpha}"


class LeakyReLUDropout(Module):
    """LeakyReLU(alpha) then Dropout(rate), fused into one pass over memory forward and backward
    (F.leaky_relu_dropout: the same values, gradients and random stream as the two in turn).
    After eval() it is LeakyReLU alone."""

    def __init__(self, alpha, rate):
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"LeakyReLUDropout: rate must be in [0, 1), got {rate}")
        self.alpha, self.rate = alpha, rate

    def forward(self, x):
        return F.leaky_relu_dropout(x, self.alpha, self.rate, training=self.training)

    def extra_repr(self):
        return f"{self.alpha}, rate={self.rate}"


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Dropout(Module):
    """Zero a fraction `rate` of the inputs while training (scaling the rest by 1/(1 - rate));
    the identity after eval()."""

    def __init__(self, rate):
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate}")
        self.rate = rate

    def forward(self, x):
        return F.dropout(x, self.rate, training=self.training)

    def extra_repr(self):
        return f"{self.rate}"


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...)."""

    def forward(self, x):
        return x.reshape(x.shape[0], -1)


class Reshape(Module):
    """(N, ...) -> (N, *shape): the batch axis is kept, e.g. Reshape(1, 28, 28) for images."""

    def __init__(self, *shape):
        self.shape = shape

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self):
        return ", ".join(map(str, self.shape))


class BCELoss(Module):
    """Binary cross-entropy of probabilities (the model ends in a sigmoid)."""

    def __init__(self, reduction="mean"):
        self.reduction = reduction

    def forward(self, p, target):
        return F.binary_cross_entropy(p, target, reduction=self.reduction)


class BCEWithLogitsLoss(Module):
    """Binary cross-entropy of logits (the model has no final sigmoid): numerically stable."""

    def __init__(self, reduction="mean"):
        self.reduction = reduction

    def forward(self, logits, target):
        return F.binary_cross_entropy_with_logits(logits, target, reduction=self.reduction)
