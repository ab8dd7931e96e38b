"""Batch statistics as features: ops whose output for one sample depends on the whole batch, so
the discriminator can see a generator that draws too little variety (minigan.gan_layers).

The batch is x's rows. Each op reaches its batch only through a method or two (rows,
batch_mean, batch_sum, gather_rows), so that a subclass can make the batch larger than x."""
from minigan import backend, kernels
from minigan.autograd import Function, float_tensor
from minigan.functional.empty_batch import check_batch


class MinibatchStd(Function):
    """y = x with one more channel, every value of which is s = mean over features f of std_f,
    std_f = sqrt(mean over the batch of (x_f - mu_f)**2 + eps): (N, C, ...) -> (N, C + 1, ...).
    dx = gy[:, :C] + (sum of gy[:, C:]) * (x - mu) / (N * F * std), F = C * (spatial size),
    N the rows of the batch and the sums over all of them."""

    def forward(self, x):
        xp = backend.xp_of(x)
        self.n, self.x = self.rows(x.shape[0]), x
        x2 = x.reshape(x.shape[0], -1)                                           # (N, F)
        self.mu = self.batch_mean(x2)                                            # (F,)
        squares = self.batch_sum(kernels.minibatch_std.squared_deviations(x2, self.mu))
        self.std = xp.sqrt(squares / x.dtype.type(self.n) + x.dtype.type(1e-8))  # (F,)
        C = x.shape[1]
        y = xp.empty((x.shape[0], C + 1) + x.shape[2:], dtype=x.dtype)
        y[:, :C] = x
        y[:, C:] = self.std.mean()
        return y

    def backward(self, gy):
        N, C = self.x.shape[:2]
        size = self.n * (self.x.size // N)                                      # N * F
        g_extra = self.batch_sum(gy[:, C:].sum()) / gy.dtype.type(size)
        dx2 = kernels.minibatch_std.input_grad(gy.reshape(N, -1), self.x.reshape(N, -1),
                                               self.mu, g_extra / self.std)
        return dx2.reshape(self.x.shape)

    def rows(self, n):
        """The rows of the batch, for x of n rows: x's own."""
        return n

    def batch_mean(self, array):
        """The mean over the batch's rows of an array (n, ...) -> (...)."""
        return array.mean(axis=0)

    def batch_sum(self, total):
        """A sum over x's rows made the sum over the batch's: itself."""
        return total


class BatchCloseness(Function):
    """o[i, b] = sum over j != i of c[i, j, b],  c[i, j, b] = exp(-sum_k |M[i, b, k] - M[j, b, k]|):
    M (N, B, K) -> o (N, B), how crowded sample i's neighbourhood in the batch is, per kernel b.
    c is symmetric in i, j, so dM[i, b, k] = -sum_j (go[i, b] + go[j, b]) c[i, j, b]
    sign(M[i, b, k] - M[j, b, k]) (the j = i term is 0: sign(0) = 0, and exp(0) = 1 is removed
    from o as a constant). i runs over M's rows and j over the batch's (gather_rows)."""

    def forward(self, m):
        xp = backend.xp_of(m)
        self.difference = m[:, None] - self.gather_rows(m)[None]          # (N, N, B, K)
        self.closeness = xp.exp(-xp.abs(self.difference).sum(axis=3))    # (N, N, B)
        return self.closeness.sum(axis=1) - m.dtype.type(1)

    def backward(self, go):
        xp = backend.xp_of(go)
        weight = (go[:, None] + self.gather_rows(go)[None]) * self.closeness   # (N, N, B)
        return -(weight[..., None] * xp.sign(self.difference)).sum(axis=1)

    def gather_rows(self, array):
        """Every row of the batch of a per-row array (n, ...): the array's own."""
        return array


def minibatch_std(x):
    """(N, C, ...) -> (N, C + 1, ...): x with one more channel holding the batch's mean std."""
    x = float_tensor("minibatch_std", x)
    check_batch("minibatch_std", x)
    return MinibatchStd()(x)


def batch_closeness(m):
    """M (N, B, K) -> (N, B): per sample and kernel, how close the rest of the batch lies."""
    m = float_tensor("batch_closeness", m)
    check_batch("batch_closeness", m)
    return BatchCloseness()(m)
