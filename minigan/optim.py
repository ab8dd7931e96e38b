"""Optimizers: SGD (with momentum) and Adam, with PyTorch's exact update rules.

Updates happen in place on `param.data`, in the parameter's dtype. A parameter whose .grad is
None (e.g. a frozen network's) is skipped.
"""

from minigan import backend, kernels
from minigan.autograd import Tensor


class Optimizer:
    def __init__(self, params, **hyper):
        self.params = list(dict.fromkeys(params))  # keep order, drop repeats
        if not self.params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        for p in self.params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} optimizes Tensors, got {type(p).__name__}")
        self.hyper = hyper
        self.state = [{} for _ in self.params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        for p, state in zip(self.params, self.state):
            if p.grad is not None:
                self.update(p.data, p.grad.data, state)

    def update(self, param, grad, state):
        raise NotImplementedError

    def state_dict(self):
        """Hyperparameters and per-parameter state (host NumPy arrays), in parameter order."""
        return {"hyper": dict(self.hyper),
                "state": [{k: backend.to_numpy(v) if hasattr(v, "shape") else v
                           for k, v in s.items()} for s in self.state]}

    def load_state_dict(self, state_dict):
        states = state_dict["state"]
        if len(states) != len(self.params):
            raise ValueError(f"{type(self).__name__}.load_state_dict: state for {len(states)} "
                             f"parameters, but this optimizer has {len(self.params)}")
        for i, (p, s) in enumerate(zip(self.params, states)):
            for k, v in s.items():
                if hasattr(v, "shape") and tuple(v.shape) != p.shape:
                    raise ValueError(f"{type(self).__name__}.load_state_dict: state {k!r} of "
                                     f"parameter {i} has shape {tuple(v.shape)}, "
                                     f"expected {p.shape}")
        self.hyper.update(state_dict["hyper"])
        self.state = [{k: backend.xp(p.device).array(v, dtype=p.dtype) if hasattr(v, "shape")
                       else v for k, v in s.items()} for p, s in zip(self.params, states)]


class SGD(Optimizer):
    """buf = momentum * buf + g (buf = g at the first step);  p -= lr * buf."""

    def __init__(self, params, lr, momentum=0.0):
        if lr <= 0 or not 0.0 <= momentum < 1.0:
            raise ValueError(f"SGD: need lr > 0 and 0 <= momentum < 1, got lr={lr}, "
                             f"momentum={momentum}")
        super().__init__(params, lr=lr, momentum=momentum)

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

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        b1, b2 = betas
        if lr <= 0 or not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0) or eps < 0:
            raise ValueError(f"Adam: need lr > 0, 0 <= betas < 1, eps >= 0; got lr={lr}, "
                             f"betas={betas}, eps={eps}")
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps)

    def step(self):
        """All parameters with a gradient, updated together: on the GPU one launch per group of
        parameters at the same step number and dtype (normally one group: the whole model)."""
        lr, (b1, b2), eps = self.hyper["lr"], self.hyper["betas"], self.hyper["eps"]
        groups = {}
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            if "m" not in state:
                xp = backend.xp_of(p.data)
                state["step"], state["m"], state["v"] = 0, xp.zeros_like(p.data), \
                    xp.zeros_like(p.data)
            state["step"] += 1
            groups.setdefault((state["step"], p.data.dtype), []).append((p, state))
        for (t, _), members in groups.items():
            kernels.adam.step_many([p.data for p, _ in members], [p.grad.data for p, _ in members],
                                   [s["m"] for _, s in members], [s["v"] for _, s in members],
                                   lr, b1, b2, eps, t)
