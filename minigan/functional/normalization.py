"""Batch normalization: x (N, F) per feature over the batch, or x (N, C, H, W) per channel over
the batch and the pixels (BatchNorm2d)."""
from minigan import backend, kernels
from minigan.functional import global_batch
from minigan.autograd import Function, as_tensor, check_same_dtype, float_tensor


class BatchNorm(Function):
    """y = gamma * xhat + beta, xhat = (x - mean) / sqrt(var + eps), the statistics taken over
    the m values of each feature (m = N for (N, F); m = N*H*W per channel for (N, C, H, W),
    computed by minigan/kernels/batch_norm.py).

    Training: mean and var (biased) are the batch's, so every xhat depends on all m values:
      dx = inv_std / m * (m * g - sum(g) - xhat * sum(g * xhat)),  g = gy * gamma;
    evaluation: mean and var are given constants, so dx = gy * gamma * inv_std.
    dgamma = sum(gy * xhat), dbeta = sum(gy), sums over the same m values.
    In data-parallel training the statistics and the sums in dx are the global batch's
    (synchronised BatchNorm, as PyTorch's SyncBatchNorm): m counts every rank's values.
    """

    def __init__(self, eps, mean=None, var=None):
        self.eps, self.mean, self.var = eps, mean, var

    def forward(self, x, gamma, beta):
        xp = backend.xp_of(x)
        self.batch_stats = self.mean is None
        if self.batch_stats and global_batch.syncs_statistics():
            self.mean, self.var = global_stats(x.reshape(x.shape[0], x.shape[1], -1))
        if x.ndim == 4:   # per channel over N*H*W values, by kernels.batch_norm on (N, C, H*W)
            x3 = x.reshape(x.shape[0], x.shape[1], -1)
            if self.mean is None:
                self.mean, self.var = kernels.batch_norm.stats(x3)
        elif self.mean is None:
            self.mean, self.var = x.mean(axis=0), x.var(axis=0)
        self.inv_std = 1 / xp.sqrt(self.var + x.dtype.type(self.eps))
        self.gamma = gamma
        if x.ndim == 4:
            y, self.xhat = kernels.batch_norm.normalize(x3, self.mean, self.inv_std, gamma, beta)
            return y.reshape(x.shape)
        self.xhat = (x - self.mean) * self.inv_std                  # (N, F)
        return self.xhat * gamma + beta

    def backward(self, gy):
        if self.batch_stats and global_batch.syncs_statistics():
            return self.global_backward(gy)
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

    def global_backward(self, gy):
        """The training-mode backward with the sums of dx over every rank's values."""
        g3 = gy.reshape(gy.shape[0], gy.shape[1], -1)                 # (N, C, L)
        xhat = self.xhat.reshape(g3.shape)
        m = gy.dtype.type(global_batch.statistics_rows(gy.shape[0]) * g3.shape[2])
        g = g3 * self.gamma[:, None]
        sum_g = global_batch.batch_sum(g.sum(axis=(0, 2)))[:, None]
        sum_gx = global_batch.batch_sum((g * xhat).sum(axis=(0, 2)))[:, None]
        gx = (m * g - sum_g - xhat * sum_gx) * (self.inv_std[:, None] / m)
        return gx.reshape(gy.shape), (g3 * xhat).sum(axis=(0, 2)), g3.sum(axis=(0, 2))


def global_stats(x3):
    """(mean, biased var) per channel of x3 (N, C, L) over the global batch's N * L values (two
    passes: the mean first, then the mean squared deviation from it)."""
    m = x3.dtype.type(global_batch.statistics_rows(x3.shape[0]) * x3.shape[2])
    mean = global_batch.batch_sum(x3.sum(axis=(0, 2))) / m
    deviation = x3 - mean[:, None]
    return mean, global_batch.batch_sum((deviation * deviation).sum(axis=(0, 2))) / m


def batch_norm(x, weight, bias, running_mean=None, running_var=None, training=True,
               momentum=0.1, eps=1e-5):
    """Normalize each feature of x (N, F), or each channel of x (N, C, H, W) over N, H and W,
    then scale by weight and shift by bias (both (F,) or (C,)).

    Training: uses the batch's mean and biased variance, and (when given) updates the running
    statistics in place as PyTorch does: running = (1 - momentum) * running + momentum * batch,
    with the unbiased variance (m / (m - 1), m the values per feature). Evaluation: uses the
    running statistics.
    """
    weight = float_tensor("batch_norm", weight)
    x = as_tensor(x, like=weight, op="batch_norm")
    bias = as_tensor(bias, like=weight, op="batch_norm")
    if x.ndim not in (2, 4) or weight.shape != (x.shape[1],) or bias.shape != (x.shape[1],):
        raise ValueError(f"batch_norm: x must be (N, F) or (N, C, H, W) with weight and bias "
                         f"(F,) or (C,); got x {tuple(x.shape)}, weight {tuple(weight.shape)}, "
                         f"bias {tuple(bias.shape)}")
    check_same_dtype("batch_norm", x, weight, bias)
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: evaluation mode needs running_mean and running_var")
        return BatchNorm(eps, running_mean.data, running_var.data)(x, weight, bias)
    m = global_batch.statistics_rows(x.shape[0]) * (x.size // x.shape[0] // x.shape[1])
    if m < 2:
        raise ValueError("batch_norm: training needs at least 2 values per feature (the "
                         "variance of one is 0); use a larger batch, or eval() for single "
                         "samples")
    fn = BatchNorm(eps)
    y = fn(x, weight, bias)
    if running_mean is not None:
        running_mean.data *= 1 - momentum
        running_mean.data += momentum * fn.mean
        running_var.data *= 1 - momentum
        running_var.data += (momentum * m / (m - 1)) * fn.var
    return y
