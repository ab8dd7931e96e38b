"""Batch normalization over the batch axis: x (N, F) -> y (N, F)."""
from minigan import backend
from minigan.autograd import Function, as_tensor, check_same_dtype, float_tensor


class BatchNorm(Function):
    """y = gamma * xhat + beta, xhat = (x - mean) / sqrt(var + eps).

    Training: mean and var (biased) are the batch's, so every xhat depends on the whole batch:
      dx = inv_std / N * (N * g - sum(g) - xhat * sum(g * xhat)),  g = gy * gamma;
    evaluation: mean and var are given constants, so dx = gy * gamma * inv_std.
    dgamma = sum(gy * xhat), dbeta = sum(gy), sums over the batch.
    """

    def __init__(self, eps, mean=None, var=None):
        self.eps, self.mean, self.var = eps, mean, var

    def forward(self, x, gamma, beta):
        xp = backend.xp_of(x)
        self.batch_stats = self.mean is None
        if self.batch_stats:
            self.mean, self.var = x.mean(axis=0), x.var(axis=0)
        self.inv_std = 1 / xp.sqrt(self.var + x.dtype.type(self.eps))
        self.xhat = (x - self.mean) * self.inv_std                  # (N, F)
        self.gamma = gamma
        return self.xhat * gamma + beta

    def backward(self, gy):
        N = gy.shape[0]
        g = gy * self.gamma                                          # (N, F)
        if self.batch_stats:
            gx = (N * g - g.sum(axis=0) - self.xhat * (g * self.xhat).sum(axis=0)) \
                * (self.inv_std / gy.dtype.type(N))
        else:
            gx = g * self.inv_std
        return gx, (gy * self.xhat).sum(axis=0), gy.sum(axis=0)


def batch_norm(x, weight, bias, running_mean=None, running_var=None, training=True,
               momentum=0.1, eps=1e-5):
    """Normalize each feature of x (N, F) over the batch, then scale by weight and shift by bias.

    Training: uses the batch's mean and biased variance, and (when given) updates the running
    statistics in place as PyTorch does: running = (1 - momentum) * running + momentum * batch,
    with the unbiased variance. Evaluation: uses the running statistics.
    """
    weight = float_tensor("batch_norm", weight)
    x = as_tensor(x, like=weight, op="batch_norm")
    bias = as_tensor(bias, like=weight, op="batch_norm")
    if x.ndim != 2 or weight.shape != (x.shape[1],) or bias.shape != (x.shape[1],):
        raise ValueError(f"batch_norm: x must be (N, F) with weight and bias (F,); got x "
                         f"{tuple(x.shape)}, weight {tuple(weight.shape)}, bias "
                         f"{tuple(bias.shape)}")
    check_same_dtype("batch_norm", x, weight, bias)
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: evaluation mode needs running_mean and running_var")
        return BatchNorm(eps, running_mean.data, running_var.data)(x, weight, bias)
    if x.shape[0] < 2:
        raise ValueError("batch_norm: training needs a batch of at least 2 (the variance of one "
                         "sample is 0); use eval() for single samples")
    fn = BatchNorm(eps)
    y = fn(x, weight, bias)
    if running_mean is not None:
        n = x.shape[0]
        running_mean.data *= 1 - momentum
        running_mean.data += momentum * fn.mean
        running_var.data *= 1 - momentum
        running_var.data += (momentum * n / (n - 1)) * fn.var
    return y
