"""Binary cross-entropy: on probabilities (log clamped, as PyTorch) and on logits (stable form);
softmax cross-entropy. Inputs outside a loss's domain raise DomainError (on the GPU: NaN loss)."""
import numpy as np

from minigan import backend, kernels
from minigan.autograd import (Function, Tensor, as_tensor, check_same_dtype, float_tensor,
                              stable_sigmoid)
from minigan.functional.empty_batch import check_batch

REDUCTIONS = ("mean", "sum", "none")


class DomainError(ValueError):
    """A loss got values outside its domain: a probability or target outside [0, 1] or NaN,
    a non-finite logit. In training this means the model's output has diverged."""


def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    total = loss.sum()
    return total / loss.dtype.type(loss.size) if reduction == "mean" else total


def _gy_per_element(gy, size, reduction):
    """The upstream gradient of each element's loss, before the reduction."""
    return gy / gy.dtype.type(size) if reduction == "mean" else gy


class BinaryCrossEntropy(Function):
    """loss = -(t log p + (1 - t) log(1 - p)), each log clamped at -100.
    dloss/dp = (p - t) / max(p (1 - p), 1e-12). The target gets no gradient."""

    def __init__(self, reduction):
        self.reduction = reduction

    def forward(self, p, t):
        self.p, self.t = p, t
        return _reduce(kernels.bce.forward(p, t), self.reduction)

    def backward(self, gy):
        gy = _gy_per_element(gy, self.p.size, self.reduction)
        return kernels.bce.backward(self.p, self.t, gy), None


class BinaryCrossEntropyWithLogits(Function):
    """loss = max(z, 0) - z t + log(1 + exp(-|z|)), which equals BCE(sigmoid(z), t) but never
    overflows or takes log(0).    dloss/dz = sigmoid(z) - t."""

    def __init__(self, reduction):
        self.reduction = reduction

    def forward(self, z, t):
        xp = backend.xp_of(z)
        t = kernels.bce.nan_outside_domain(t)
        self.z, self.t = z, t
        loss = xp.maximum(z, 0) - z * t + xp.log1p(xp.exp(-xp.abs(z)))
        return _reduce(loss, self.reduction)

    def backward(self, gy):
        gy = _gy_per_element(gy, self.z.size, self.reduction)
        return gy * (stable_sigmoid(self.z) - self.t), None


def _checked(name, x, target, reduction):
    x = float_tensor(name, x)
    target = as_tensor(target, like=x, op=name)
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if target.shape != x.shape:
        raise ValueError(f"{name}: target has shape {tuple(target.shape)} but the input has "
                         f"{tuple(x.shape)}; they must match (e.g. labels of shape (N, 1))")
    check_batch(name, x)
    check_same_dtype(name, x, target)
    return x, target


def _check_unit(name, what, a):
    i = kernels.bce.first_outside_domain(a)
    if i >= 0:
        hint = ("probabilities: end the model in a sigmoid, or pass logits to "
                "binary_cross_entropy_with_logits" if what == "input" else
                "labels (or soft labels) in [0, 1]")
        index = tuple(int(k) for k in np.unravel_index(i, a.shape))
        raise DomainError(f"{name}: all elements of {what} should be between 0 and 1, got "
                          f"{a.flat[i]} at index {index}; {what} must hold {hint}")


def binary_cross_entropy(p, target, reduction="mean"):
    """BCE of probabilities p in [0, 1] against targets in [0, 1]; "mean", "sum" or "none".
    p or target outside [0, 1] (or NaN) raises DomainError on the CPU; on the GPU it gives a NaN
    loss and gradient, which stops the trainer (checking there would wait for the device)."""
    name = "binary_cross_entropy"
    p, target = _checked(name, p, target, reduction)
    _check_unit(name, "input", p.data)
    _check_unit(name, "target", target.data)
    return BinaryCrossEntropy(reduction)(p, target)


def binary_cross_entropy_with_logits(logits, target, reduction="mean"):
    """BCE of sigmoid(logits) against targets in [0, 1], computed stably from the logits.
    Targets are checked as in binary_cross_entropy; non-finite logits raise DomainError on the
    CPU (and give a NaN or infinite loss on the GPU)."""
    name = "binary_cross_entropy_with_logits"
    logits, target = _checked(name, logits, target, reduction)
    _check_unit(name, "target", target.data)
    z = logits.data
    if not backend.on_gpu(z) and not np.isfinite(z).all():
        raise DomainError(f"{name}: all elements of input should be finite, got "
                          f"{z[~np.isfinite(z)][0]}; the logits have diverged")
    return BinaryCrossEntropyWithLogits(reduction)(logits, target)


class CrossEntropy(Function):
    """loss = mean over n of -log softmax(z_n)[label_n], z (N, K) logits, labels (N,) ints.
    dloss/dz = (softmax(z) - onehot(labels)) / N. log-softmax subtracts each row's max first,
    so large logits cannot overflow."""

    def __init__(self, labels):
        self.labels = labels

    def forward(self, z):
        xp = backend.xp_of(z)
        shifted = z - z.max(axis=1, keepdims=True)
        log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))  # (N, K)
        self.probs = xp.exp(log_probs)
        rows = xp.arange(z.shape[0])
        return -log_probs[rows, self.labels].mean()

    def backward(self, gy):
        xp = backend.xp_of(gy)
        g = self.probs.copy()
        g[xp.arange(g.shape[0]), self.labels] -= 1
        return g * (gy / gy.dtype.type(g.shape[0]))


def cross_entropy(logits, labels):
    """Softmax cross-entropy of logits (N, K) against integer class labels (N,), mean over N."""
    logits = float_tensor("cross_entropy", logits)
    labels = labels.data if isinstance(labels, Tensor) else labels
    labels = backend.xp(logits.device).asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: labels must have an integer dtype (class indices), got "
                        f"{labels.dtype}; convert them with .astype('int64') (float labels "
                        "would be truncated)")
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"cross_entropy: logits must be (N, K) and labels (N,); got "
                         f"{tuple(logits.shape)} and {tuple(labels.shape)}")
    check_batch("cross_entropy", logits)
    if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise ValueError(f"cross_entropy: labels must be in [0, {logits.shape[1]}), got values "
                         f"from {labels.min()} to {labels.max()}")
    return CrossEntropy(labels)(logits)
