"""Modules: objects that own parameters and compose ops: Module, Parameter, Sequential and the
layers (Dense, Conv2D, activations, Dropout, Flatten, Reshape, the BCE losses).

A Module finds its parameters and sub-modules by walking its attributes (`vars(self)`) in
assignment order, so `self.weight = Parameter(...)` is all it takes to register one.
"""
import functools
from collections.abc import Mapping

import numpy as np

from minigan import backend, init
from minigan import functional as F
from minigan.autograd import Tensor


class Parameter(Tensor):
    """A tensor that a module learns: requires_grad=True unless told otherwise."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad)


class Buffer(Tensor):
    """A tensor a module keeps and saves but does not learn (e.g. running statistics)."""

    __slots__ = ()

    def __init__(self, data):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=False)


class StateDictError(ValueError):
    """A state dict does not fit the module it is loaded into."""


class Module:
    """Base class: subclasses set parameters and sub-modules as attributes and write forward()."""

    training = True

    def forward(self, *args):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def named_children(self):
        return [(name, v) for name, v in vars(self).items() if isinstance(v, Module)]

    def named_tensors(self, prefix=""):
        """(name, tensor) of every Parameter and Buffer, sub-modules' as 'child.name'."""
        for name, value in vars(self).items():
            if isinstance(value, (Parameter, Buffer)):
                yield prefix + name, value
            elif isinstance(value, Module):
                yield from value.named_tensors(prefix + name + ".")

    def named_parameters(self):
        return [(name, t) for name, t in self.named_tensors() if isinstance(t, Parameter)]

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def train(self, mode=True):
        """Training mode (dropout active, batch statistics); returns self."""
        self.training = mode
        for _, child in self.named_children():
            child.train(mode)
        return self

    def eval(self):
        """Evaluation mode: the same as train(False)."""
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def requires_grad_(self, requires_grad=True):
        """Set requires_grad on every parameter; False freezes the module (no weight gradients)."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    @property
    def device(self):
        for _, t in self.named_tensors():
            return t.device
        return backend.get_device()

    def to(self, device):
        """Move every parameter and buffer (and gradient) to `device`, in place; returns self."""
        device = backend.check_device(device)
        for _, t in self.named_tensors():
            t.data = backend.to_device(t.data, device)
            if t.grad is not None:
                t.grad = Tensor._wrap(backend.to_device(t.grad.data, device))
        return self

    def state_dict(self):
        """{name: host NumPy copy} of every parameter and buffer; keys as in PyTorch."""
        return {name: t.numpy() for name, t in self.named_tensors()}

    def load_state_dict(self, state):
        """Copy arrays from `state` into this module's tensors, all or nothing. Strict: the same
        names, and each value a NumPy/CuPy array (a 0-d one for a scalar buffer) with exactly
        the tensor's dtype (nothing is cast) and shape, finite, and >= 0 in integer buffers
        (counters). StateDictError names every key that fails and why."""
        if not isinstance(state, Mapping):
            raise StateDictError(f"cannot load state dict into {type(self).__name__}: expected "
                                 f"a dict of arrays, got a {type(state).__name__}")
        own = dict(self.named_tensors())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        bad = [f"{k}: {problem}" for k, t in own.items() if k in state
               for problem in [_value_problem(state[k], t)] if problem]
        if missing or unexpected or bad:
            problems = [f"missing keys {missing}" if missing else "",
                        f"unexpected keys {unexpected}" if unexpected else "",
                        "; ".join(bad)]
            raise StateDictError(f"cannot load state dict into {type(self).__name__}: "
                                 + ", ".join(p for p in problems if p)
                                 + " (was it saved from the same architecture?)")
        for name, t in own.items():
            value = state[name]
            value = value.data if isinstance(value, Tensor) else value
            moved = backend.to_device(value, t.device)
            t.data = moved.copy() if moved is value else moved  # the dict stays independent

    def __repr__(self):
        children = self.named_children()
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({name}): " + repr(child).replace("\n", "\n  ") for name, child in children]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"

    def extra_repr(self):
        return ""


def _value_problem(value, t):
    """Why array `value` cannot replace tensor t's data (None when it can)."""
    value = value.data if isinstance(value, Tensor) else value
    if not (isinstance(value, np.ndarray) or backend.on_gpu(value)):
        return f"got {type(value).__name__}, expected an array of {t.dtype} and shape {t.shape}"
    if value.shape != t.shape:
        return f"expected {t.shape}, got {value.shape}"
    if value.dtype != t.dtype:
        return (f"dtype {value.dtype}, expected {t.dtype} (nothing is cast; convert with "
                f".astype('{t.dtype}') if that is meant)")
    xp = backend.xp_of(value)
    if value.dtype.kind == "f" and not bool(xp.isfinite(value).all()):
        return "holds NaN or infinite values"
    if value.dtype.kind == "i" and value.size and bool((value < 0).any()):
        return f"holds a negative count ({value.min()})"
    return None


def _positive_int(layer, name, value):
    """value as an int >= 1 (a size, a kernel side, a stride), else ValueError naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < 1:
        raise ValueError(f"{layer}: {name} must be a positive int, got {value!r}")
    return int(value)


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

    def stages(self):
        """The modules in order as (modules, fn) stages: each module alone, except that a
        LeakyReLU directly followed by a Dropout in training mode is one stage running the fused
        op (F.leaky_relu_dropout: the same result and random stream as the two in turn, with
        one pass over memory instead of two, forward and backward)."""
        modules = [module for _, module in self.named_children()]
        stages, i = [], 0
        while i < len(modules):
            module, after = modules[i], modules[i + 1] if i + 1 < len(modules) else None
            if type(module) is LeakyReLU and type(after) is Dropout and after.training:
                stages.append(((module, after), functools.partial(
                    F.leaky_relu_dropout, alpha=module.alpha, rate=after.rate)))
                i += 2
            else:
                stages.append(((module,), module))
                i += 1
        return stages

    def forward(self, x):
        for _, fn in self.stages():
            x = fn(x)
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
    padding: "same" (Keras' rule), "valid" or an int. Glorot-uniform weights, zero bias."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding="same",
                 bias=True):
        in_channels = _positive_int("Conv2D", "in_channels", in_channels)
        out_channels = _positive_int("Conv2D", "out_channels", out_channels)
        sides = kernel_size if isinstance(kernel_size, (tuple, list)) else (kernel_size,) * 2
        if len(sides) != 2:
            raise ValueError(f"Conv2D: kernel_size must be an int or a pair (KH, KW), got "
                             f"{kernel_size!r}")
        kh, kw = (_positive_int("Conv2D", "kernel_size", k) for k in sides)
        stride = _positive_int("Conv2D", "stride", stride)
        if not (isinstance(padding, str) and padding in ("same", "valid")
                or isinstance(padding, int) and not isinstance(padding, bool) and padding >= 0):
            raise ValueError(f"Conv2D: padding must be 'same', 'valid' or an int >= 0, got "
                             f"{padding!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = (kh, kw), stride, padding
        self.weight = Parameter(init.glorot_uniform((out_channels, in_channels, kh, kw)))
        self.bias = Parameter(init.zeros((out_channels,))) if bias else None

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, {self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding!r}")


class BatchNorm1d(Module):
    """Normalize each of num_features over the batch: y = weight * xhat + bias (PyTorch's
    BatchNorm1d on (N, F)). Training uses batch statistics and updates the running ones;
    eval() uses the running ones. momentum and eps are keyword-only (a positional 0.8 once set
    eps, not momentum, in a well-known GAN script)."""

    def __init__(self, num_features, *, momentum=0.1, eps=1e-5):
        num_features = _positive_int("BatchNorm1d", "num_features", num_features)
        self.num_features, self.momentum, self.eps = num_features, momentum, eps
        self.weight = Parameter(init.ones((num_features,)))
        self.bias = Parameter(init.zeros((num_features,)))
        self.running_mean = Buffer(init.zeros((num_features,)))
        self.running_var = Buffer(init.ones((num_features,)))
        self.num_batches_tracked = Buffer(backend.xp(self.weight.device).zeros((), "int64"))

    def forward(self, x):
        if self.training:
            self.num_batches_tracked.data += 1
        return F.batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var,
                            training=self.training, momentum=self.momentum, eps=self.eps)

    def extra_repr(self):
        return f"{self.num_features}, momentum={self.momentum}, eps={self.eps}"


class LeakyReLU(Module):
    """y = x if x > 0 else alpha * x (Keras' default alpha is 0.3; the GAN uses 0.01)."""

    def __init__(self, alpha=0.01):
        self.alpha = alpha

    def forward(self, x):
        return F.leaky_relu(x, self.alpha)

    def extra_repr(self):
        return f"{self.alpha}"


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
