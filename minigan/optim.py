"""Optimizers: SGD (with momentum) and Adam, with PyTorch's exact update rules.

Updates happen in place on `param.data`, in the parameter's dtype. A parameter whose .grad is
None (e.g. a frozen network's) is skipped. Every gradient must have its parameter's exact shape,
dtype and device: all are checked before any parameter changes.
"""
import math
from collections.abc import Mapping

import numpy as np

from minigan import backend, kernels
from minigan.autograd import Tensor


def _finite(opt, name, value, ok, rule):
    """value as a float, which must be finite and pass ok(value) (`rule` says how), else
    ValueError. NaN is refused by the finiteness test: `lr <= 0` reads False for NaN."""
    if isinstance(value, (bool, np.bool_)) or \
            not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{opt}: {name} must be a number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and ok(value)):
        raise ValueError(f"{opt}: need a finite {name} {rule}, got {name}={value!r}")
    return value


class Optimizer:
    """Base class. Subclasses name their per-parameter state's keys (STATE_KEYS; "step" is an
    int, the others arrays of the parameter's shape; NON_NEGATIVE ones hold no value < 0), write
    `validated(**hyper)` (the hyperparameters checked, as a dict) and `update` or `step`."""

    STATE_KEYS = ()
    NON_NEGATIVE = ()

    def __init__(self, params, **hyper):
        self.params = list(dict.fromkeys(params))  # keep order, drop repeats
        if not self.params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        for p in self.params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} optimizes Tensors, got {type(p).__name__}")
        self.hyper = self.validated(**hyper)
        self.state = [{} for _ in self.params]

    @classmethod
    def validated(cls, **hyper):
        return hyper

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def with_grads(self):
        """[(param, grad array, state)] of the parameters that have a gradient. Each gradient
        must be a tensor with its parameter's exact shape, dtype and device: a kernel given a
        shorter gradient would read past its end. All are checked before any is returned, so a
        bad one leaves every parameter unchanged."""
        out = []
        for i, (p, state) in enumerate(zip(self.params, self.state)):
            if p.grad is None:
                continue
            g = p.grad.data if isinstance(p.grad, Tensor) else None
            if g is None or g.dtype != p.data.dtype or g.shape != p.data.shape \
                    or backend.on_gpu(g) != backend.on_gpu(p.data):
                self._bad_grad(i, p)
            out.append((p, g, state))
        return out

    def _bad_grad(self, i, p):
        where = f"{type(self).__name__}.step: parameter {i} (shape {p.shape}, {p.dtype})"
        if not isinstance(p.grad, Tensor):
            raise TypeError(f"{where} has a .grad of type {type(p.grad).__name__}; it must be a "
                            "Tensor (as backward() leaves it) or None")
        g = p.grad.data
        if g.dtype != p.data.dtype:
            raise TypeError(f"{where} has a {g.dtype} gradient; it must have the parameter's "
                            "dtype (nothing is cast)")
        if g.shape != p.data.shape:
            raise ValueError(f"{where} has a gradient of shape {g.shape}; it must have the "
                             "parameter's shape")
        raise ValueError(f"{where} is on {p.device} but its gradient on {backend.device_of(g)}")

    def step(self):
        for p, g, state in self.with_grads():
            self.update(p.data, g, state)

    def update(self, param, grad, state):
        raise NotImplementedError

    def state_dict(self):
        """Hyperparameters and per-parameter state (host NumPy arrays), in parameter order."""
        return {"hyper": dict(self.hyper),
                "state": [{k: backend.to_numpy(v) if hasattr(v, "shape") else v
                           for k, v in s.items()} for s in self.state]}

    def load_state_dict(self, state_dict):
        """Restore what state_dict() gave, all or nothing. Strict: the same hyperparameter names
        (values checked as the constructor does), one state per parameter with only known keys,
        each array of the parameter's exact dtype (nothing is cast) and shape and finite, and
        `step` a positive int. ValueError names the parameter index and key."""
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping) or set(state_dict) != {"hyper", "state"}:
            raise ValueError(f"{name}: expected a dict with keys 'hyper' and 'state' (as "
                             "state_dict() returns)")
        states, hyper = state_dict["state"], state_dict["hyper"]
        if not isinstance(states, (list, tuple)) or len(states) != len(self.params):
            count = len(states) if isinstance(states, (list, tuple)) else type(states).__name__
            raise ValueError(f"{name}: state for {count} parameters, but this optimizer has "
                             f"{len(self.params)}")
        if not isinstance(hyper, Mapping) or set(hyper) != set(self.hyper):
            got = sorted(hyper) if isinstance(hyper, Mapping) else type(hyper).__name__
            raise ValueError(f"{name}: hyperparameters {got}, expected {sorted(self.hyper)}")
        hyper = self.validated(**hyper)
        loaded = [self._loaded_state(name, i, p, s)
                  for i, (p, s) in enumerate(zip(self.params, states))]
        self.hyper, self.state = hyper, loaded

    def _loaded_state(self, name, i, p, s):
        """State s of parameter i, checked, with its arrays copied to p's device."""
        where = f"{name}: parameter {i} (shape {p.shape}, {p.dtype})"
        if not isinstance(s, Mapping):
            raise ValueError(f"{where}: state must be a dict, got {type(s).__name__}")
        keys = set(self.STATE_KEYS)
        unknown = sorted(set(s) - keys)
        if unknown:
            raise ValueError(f"{where}: unknown state keys {unknown}; expected {sorted(keys)}")
        if s and set(s) != keys:
            raise ValueError(f"{where}: state has {sorted(s)}, expected all of {sorted(keys)} "
                             "(or none, for a parameter not stepped yet)")
        out = {}
        for k, v in s.items():
            if k == "step":
                if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) \
                        or v < 1:
                    raise ValueError(f"{where}: 'step' must be an int >= 1, got {v!r}")
                out[k] = int(v)
                continue
            if not (isinstance(v, np.ndarray) or backend.on_gpu(v)):
                raise ValueError(f"{where}: {k!r} is a {type(v).__name__}, expected an array")
            if v.dtype != p.dtype or v.shape != p.shape:
                raise ValueError(f"{where}: {k!r} is {v.dtype} {tuple(v.shape)}, expected "
                                 f"{p.dtype} {p.shape} (nothing is cast)")
            xp = backend.xp_of(v)
            if not bool(xp.isfinite(v).all()):
                raise ValueError(f"{where}: {k!r} holds NaN or infinite values")
            if k in self.NON_NEGATIVE and bool((v < 0).any()):
                raise ValueError(f"{where}: {k!r} holds negative values; it is a mean of "
                                 "squares")
            moved = backend.to_device(v, p.device)
            out[k] = moved.copy() if moved is v else moved  # the dict stays independent
        return out


class SGD(Optimizer):
    """buf = momentum * buf + g (buf = g at the first step);  p -= lr * buf."""

    STATE_KEYS = ("momentum_buffer",)

    def __init__(self, params, lr, momentum=0.0):
        super().__init__(params, lr=lr, momentum=momentum)

    @classmethod
    def validated(cls, lr, momentum):
        return {"lr": _finite("SGD", "lr", lr, lambda v: v > 0, "> 0"),
                "momentum": _finite("SGD", "momentum", momentum, lambda v: 0 <= v < 1,
                                    "in [0, 1)")}

    def update(self, param, grad, state):
        lr, momentum = self.hyper["lr"], self.hyper["momentum"]
        if momentum:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = grad.copy()
            else:
                buf = state["momentum_buffer"]
                buf *= momentum
                buf += grad
            grad = state["momentum_buffer"]
        param -= lr * grad


class Adam(Optimizer):
    """m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g**2;  t = t + 1;
    p -= lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)   (PyTorch's form: eps is added
    to the bias-corrected square root, not inside it)."""

    STATE_KEYS = ("step", "m", "v")
    NON_NEGATIVE = ("v",)

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, lr=lr, betas=betas, eps=eps)

    @classmethod
    def validated(cls, lr, betas, eps):
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"Adam: betas must be a pair (b1, b2), got {betas!r}")
        return {"lr": _finite("Adam", "lr", lr, lambda v: v > 0, "> 0"),
                "betas": tuple(_finite("Adam", f"betas[{k}]", b, lambda v: 0 <= v < 1,
                                       "in [0, 1)") for k, b in enumerate(betas)),
                "eps": _finite("Adam", "eps", eps, lambda v: v >= 0, ">= 0")}

    def step(self):
        """All parameters with a gradient, updated together: on the GPU one launch per group of
        parameters at the same step number and dtype (normally one group: the whole model)."""
        lr, (b1, b2), eps = self.hyper["lr"], self.hyper["betas"], self.hyper["eps"]
        groups = {}
        for p, g, state in self.with_grads():
            if "m" not in state:
                xp = backend.xp_of(p.data)
                state["step"], state["m"], state["v"] = 0, xp.zeros_like(p.data), \
                    xp.zeros_like(p.data)
            state["step"] += 1
            groups.setdefault((state["step"], p.data.dtype), []).append((p, g, state))
        for (t, _), members in groups.items():
            kernels.adam.step_many([p.data for p, _, _ in members], [g for _, g, _ in members],
                                   [s["m"] for _, _, s in members], [s["v"] for _, _, s in members],
                                   lr, b1, b2, eps, t)
