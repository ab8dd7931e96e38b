"""Binary cross-entropy: on probabilities (log clamped, as PyTorch) and on logits (stable form)."""
from minigan import backend, kernels
from minigan.autograd import Function, as_tensor, check_same_dtype
from minigan.functional.activation import stable_sigmoid

REDUCTIONS = ("mean", "sum", "none")


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
        self.z, self.t = z, t
        loss = xp.maximum(z, 0) - z * t + xp.log1p(xp.exp(-xp.abs(z)))
        return _reduce(loss, self.reduction)

    def backward(self, gy):
        gy = _gy_per_element(gy, self.z.size, self.reduction)
        return gy * (stable_sigmoid(self.z) - self.t), None


def _checked(name, x, target, reduction):
    x = as_tensor(x)
    target = as_tensor(target, like=x)
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if target.shape != x.shape:
        raise ValueError(f"{name}: target has shape {tuple(target.shape)} but the input has "
                         f"{tuple(x.shape)}; they must match (e.g. labels of shape (N, 1))")
    check_same_dtype(name, x, target)
    return x, target


def binary_cross_entropy(p, target, reduction="mean"):
    """BCE of probabilities p in [0, 1] against targets in [0, 1]; "mean", "sum" or "none"."""
    p, target = _checked("binary_cross_entropy", p, target, reduction)
    return BinaryCrossEntropy(reduction)(p, target)


def binary_cross_entropy_with_logits(logits, target, reduction="mean"):
    """BCE of sigmoid(logits) against targets, computed stably from the logits."""
    logits, target = _checked("binary_cross_entropy_with_logits", logits, target, reduction)
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
    logits = as_tensor(logits)
    labels = backend.xp(logits.device).asarray(
        labels.data if hasattr(labels, "_ctx") else labels).astype("int64")
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"cross_entropy: logits must be (N, K) and labels (N,); got "
                         f"{tuple(logits.shape)} and {tuple(labels.shape)}")
    if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise ValueError(f"cross_entropy: labels must be in [0, {logits.shape[1]})")
    return CrossEntropy(labels)(logits)
