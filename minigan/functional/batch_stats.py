"""Batch statistics as features: ops whose output for one sample depends on the whole batch, so
the discriminator can see a generator that draws too little variety (minigan.gan_layers)."""
from minigan import backend
from minigan.functional import global_batch
from minigan.autograd import Function, float_tensor


class MinibatchStd(Function):
    """y = x with one more channel, every value of which is s = mean over features f of std_f,
    std_f = sqrt(mean over the batch of (x_f - mu_f)**2 + eps): (N, C, ...) -> (N, C + 1, ...).
    dx = gy[:, :C] + (sum of gy[:, C:]) * (x - mu) / (N * F * std), F = C * (spatial size).
    In data-parallel training N is the global batch and the sums run over every rank's rows."""

    def forward(self, x):
        xp = backend.xp_of(x)
        self.n = global_batch.statistics_rows(x.shape[0])                        # global rows
        self.deviation = x - global_batch.batch_mean_array(x)                    # (N, C, ...)
        self.std = xp.sqrt(global_batch.batch_mean_array(self.deviation * self.deviation)
                           + x.dtype.type(1e-8))
        C = x.shape[1]
        y = xp.empty((x.shape[0], C + 1) + x.shape[2:], dtype=x.dtype)
        y[:, :C] = x
        y[:, C:] = self.std.mean()
        return y

    def backward(self, gy):
        C = self.deviation.shape[1]
        size = self.n * (self.deviation.size // self.deviation.shape[0])       # N * F
        g_extra = global_batch.batch_sum(gy[:, C:].sum()) / gy.dtype.type(size)
        return gy[:, :C] + self.deviation * (g_extra / self.std)


class BatchCloseness(Function):
    """o[i, b] = sum over j != i of c[i, j, b],  c[i, j, b] = exp(-sum_k |M[i, b, k] - M[j, b, k]|):
    M (N, B, K) -> o (N, B), how crowded sample i's neighbourhood in the batch is, per kernel b.
    c is symmetric in i, j, so dM[i, b, k] = -sum_j (go[i, b] + go[j, b]) c[i, j, b]
    sign(M[i, b, k] - M[j, b, k]) (the j = i term is 0: sign(0) = 0, and exp(0) = 1 is removed
    from o as a constant). In data-parallel training i runs over this rank's rows and j over
    the global batch's (gather_rows)."""

    def forward(self, m):
        xp = backend.xp_of(m)
        self.difference = m[:, None] - global_batch.gather_rows(m)[None]   # (N, N, B, K)
        self.closeness = xp.exp(-xp.abs(self.difference).sum(axis=3))    # (N, N, B)
        return self.closeness.sum(axis=1) - m.dtype.type(1)

    def backward(self, go):
        xp = backend.xp_of(go)
        weight = (go[:, None] + global_batch.gather_rows(go)[None]) * self.closeness   # (N, N, B)
        return -(weight[..., None] * xp.sign(self.difference)).sum(axis=1)


def minibatch_std(x):
    """(N, C, ...) -> (N, C + 1, ...): x with one more channel holding the batch's mean std."""
    return MinibatchStd()(float_tensor("minibatch_std", x))


def batch_closeness(m):
    """M (N, B, K) -> (N, B): per sample and kernel, how close the rest of the batch lies."""
    return BatchCloseness()(float_tensor("batch_closeness", m))
