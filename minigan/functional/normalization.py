"""Batch normalization: x (N, F) per feature over the batch, or x (N, C, H, W) per channel over
the batch and the pixels (BatchNorm2d)."""
from minigan import backend, kernels
from minigan.autograd import Function, as_tensor, check_same_dtype, float_tensor
from minigan.functional.empty_batch import check_batch


class BatchNorm(Function):
    """y = gamma * xhat + beta, xhat = (x - mean) / sqrt(var + eps), the statistics taken over
    the m values of each feature (m = N for (N, F); m = N*H*W per channel for (N, C, H, W),
    computed by minigan/kernels/batch_norm.py).

    Training: mean and var (biased) are the batch's, so every xhat depends on all m values:
      dx = inv_std / m * (m * g - sum(g) - xhat * sum(g * xhat)),  g = gy * gamma;
    evaluation: mean and var are given constants, so dx = gy * gamma * inv_std.
    dgamma = sum(gy * xhat), dbeta = sum(gy), sums over the same m values.
    The batch is x: a subclass whose batch is larger than x replaces rows() and statistics(),
    and the backward's sums.
    """

    def __init__(self, eps, mean=None, var=None):
        self.eps, self.mean, self.var = eps, mean, var

    def forward(self, x, gamma, beta):
        xp = backend.xp_of(x)
        self.batch_stats = self.mean is None
        if self.batch_stats:
            self.mean, self.var = self.statistics(x)
        self.inv_std = 1 / xp.sqrt(self.var + x.dtype.type(self.eps))
        self.gamma = gamma
        if x.ndim == 4:   # per channel over N*H*W values, by kernels.batch_norm on (N, C, H*W)
            x3 = x.reshape(x.shape[0], x.shape[1], -1)
            y, self.xhat = kernels.batch_norm.normalize(x3, self.mean, self.inv_std, gamma, beta)
            return y.reshape(x.shape)
        self.xhat = (x - self.mean) * self.inv_std                  # (N, F)
        return self.xhat * gamma + beta

    def rows(self, n):
        """The rows of the batch the statistics run over, for x of n rows: x's own."""
        return n

    def values_per_feature(self, x):
        """m: the values each feature's statistics run over."""
        return self.rows(x.shape[0]) * (x.size // x.shape[0] // x.shape[1])

    def statistics(self, x):
        """(mean, biased var) per feature over the batch's m values."""
        if x.ndim == 4:
            return kernels.batch_norm.stats(x.reshape(x.shape[0], x.shape[1], -1))  # (N, C, L)
        return x.mean(axis=0), x.var(axis=0)

    def backward(self, gy):
        if gy.ndim == 4:
            dx, dgamma, dbeta = kernels.batch_norm.grad(gy.reshape(self.xhat.shape), self.xhat,
                                                        self.gamma, self.inv_std,
                                                        self.batch_stats)
            return dx.reshape(gy.shape), dgamma, dbeta
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
    """Normalize each feature of x (N, F), or each channel of x (N, C, H, W) over N, H and W,
    then scale by weight and shift by bias (both (F,) or (C,)).

    Training: uses the batch's mean and biased variance, and (when given) updates the running
    statistics in place as PyTorch does: running = (1 - momentum) * running + momentum * batch,
    with the unbiased variance (m / (m - 1), m the values per feature). Evaluation: uses the
    running statistics.
    """
    x, weight, bias = batch_norm_operands(x, weight, bias)
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: evaluation mode needs running_mean and running_var")
        return BatchNorm(eps, running_mean.data, running_var.data)(x, weight, bias)
    return batch_norm_training(BatchNorm(eps), x, weight, bias, running_mean, running_var,
                               momentum)


def batch_norm_operands(x, weight, bias):
    """(x, weight, bias) as tensors of weight's floating-point dtype, x (N, F) or (N, C, H, W)
    and weight, bias (F,) or (C,); else one TypeError or ValueError that says which."""
    weight = float_tensor("batch_norm", weight)
    x = as_tensor(x, like=weight, op="batch_norm")
    bias = as_tensor(bias, like=weight, op="batch_norm")
    if x.ndim not in (2, 4) or weight.shape != (x.shape[1],) or bias.shape != (x.shape[1],):
        raise ValueError(f"batch_norm: x must be (N, F) or (N, C, H, W) with weight and bias "
                         f"(F,) or (C,); got x {tuple(x.shape)}, weight {tuple(weight.shape)}, "
                         f"bias {tuple(bias.shape)}")
    check_batch("batch_norm", x)
    check_same_dtype("batch_norm", x, weight, bias)
    return x, weight, bias


def batch_norm_training(fn, x, weight, bias, running_mean, running_var, momentum):
    """fn(x, weight, bias) for fn a training-mode BatchNorm (statistics of its batch), with the
    running statistics (when given) moved towards the batch's, the variance made unbiased with
    fn's m values per feature."""
    m = fn.values_per_feature(x)
    if m < 2:
        raise ValueError("batch_norm: training needs at least 2 values per feature (the "
                         "variance of one is 0); use a larger batch, or eval() for single "
                         "samples")
    y = fn(x, weight, bias)
    if running_mean is not None:
        running_mean.data *= 1 - momentum
        running_mean.data += momentum * fn.mean
        running_var.data *= 1 - momentum
        running_var.data += (momentum * m / (m - 1)) * fn.var
    return y
