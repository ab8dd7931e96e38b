"""Dense: y = x @ W.T + b."""
from minigan import kernels
from minigan.autograd import Function, layer_operands
from minigan.functional.empty_batch import check_batch


class Dense(Function):
    """y = x @ W.T + b.    x: (N, in), W: (out, in), b: (out,) or None -> y: (N, out).

    dx = gy @ W,  dW = gy.T @ x,  db = gy summed over N. Only the gradients an input needs are
    computed, so a frozen layer (W without requires_grad) costs one GEMM in backward, not two.
    """

    def forward(self, x, weight, bias=None):
        self.x, self.weight = x, weight
        self.has_bias = bias is not None  # backward returns one gradient per input given
        y = kernels.gemm.matmul(x, weight.T)  # (N, out)
        if self.has_bias:
            y += bias
        return y

    def backward(self, gy):
        gx = kernels.gemm.matmul(gy, self.weight) if self.needs_grad[0] else None  # (N, in)
        gw = kernels.gemm.matmul(gy.T, self.x) if self.needs_grad[1] else None     # (out, in)
        if not self.has_bias:
            return gx, gw
        gb = gy.sum(axis=0) if self.needs_grad[2] else None          # (out,)
        return gx, gw, gb


def dense(x, weight, bias=None):
    """y = x @ weight.T + bias, with x (N, in_features) and weight (out_features, in_features)."""
    x, weight, bias = layer_operands("dense", x, weight, bias)
    if x.ndim != 2 or weight.ndim != 2 or x.shape[1] != weight.shape[1]:
        raise ValueError(f"dense: x must be (N, in_features) and weight (out_features, "
                         f"in_features) with matching in_features; got x {tuple(x.shape)} and "
                         f"weight {tuple(weight.shape)} (flatten images first, e.g. nn.Flatten())")
    check_batch("dense", x)
    return Dense()(x, weight) if bias is None else Dense()(x, weight, bias)
