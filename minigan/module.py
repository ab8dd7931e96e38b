"""Module, the base class of every layer, and the tensors a module owns: Parameter (learned) and
Buffer (kept and saved, not learned).

A Module finds its parameters and sub-modules by walking its attributes (`vars(self)`) in
assignment order, so `self.weight = Parameter(...)` is all it takes to register one. state_dict()
and load_state_dict() use these names, with PyTorch's keys and layouts.
"""
from collections.abc import Mapping

import numpy as np

from minigan import backend
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
                t.grad = Tensor(backend.to_device(t.grad.data, device))
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
