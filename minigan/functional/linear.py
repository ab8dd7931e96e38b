"""Dense: y = x @ W.T + b."""
from minigan.autograd import Function, as_tensor, check_same_dtype


class Dense(Function):
    """y = x @ W.T + b.    x: (N, in), W: (out, in), b: (out,) -> y: (N, out).

    dx = gy @ W,  dW = gy.T @ x,  db = gy summed over N. Only the gradients an input needs are
    computed, so a frozen layer (W without requires_grad) costs one GEMM in backward, not two.
    """

    def forward(self, x, weight, bias=None):
        self.x, self.weight = x, weight
        y = x @ weight.T  # (N, out)
        if bias is not None:
            y += bias
        return y

    def backward(self, gy):
        gx = gy @ self.weight if self.needs_grad[0] else None        # (N, in)
        gw = gy.T @ self.x if self.needs_grad[1] else None           # (out, in)
        if len(self.needs_grad) == 2:
            return gx, gw
        gb = gy.sum(axis=0) if self.needs_grad[2] else None          # (out,)
        return gx, gw, gb


def dense(x, weight, bias=None):
    """y = x @ weight.T + bias, with x (N, in_features) and weight (out_features, in_features)."""
    weight = as_tensor(weight)
    x = as_tensor(x, like=weight)
    bias = None if bias is None else as_tensor(bias, like=weight)
    if x.ndim != 2 or weight.ndim != 2 or x.shape[1] != weight.shape[1]:
        raise ValueError(f"dense: x must be (N, in_features) and weight (out_features, "
                         f"in_features) with matching in_features; got x {tuple(x.shape)} and "
                         f"weight {tuple(weight.shape)} (flatten images first, e.g. nn.Flatten())")
    check_same_dtype("dense", x, weight, bias)
    if bias is None:
        return Dense()(x, weight)
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"dense: bias must have shape ({weight.shape[0]},), "
                         f"got {tuple(bias.shape)}")
    return Dense()(x, weight, bias)
