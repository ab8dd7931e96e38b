"""The discriminator's GAN-specific layers: images packed as channels (PacGAN), and two ways to
let it see a batch's variety (the minibatch-std channel, minibatch discrimination)."""
import minigan.functional as F
from minigan import init, nn
from minigan.autograd import concatenate


class Pack(nn.Module):
    """(N, 784) -> (N / m, m, 28, 28): m consecutive images become the m channels of one input,
    so D judges m samples together (PacGAN, Lin et al. 2018). A generator that over-draws some
    digits and drops others makes packs whose joint make-up differs from the data's far more
    than single images do (pairs of the same digit are too common), and D learns to see that.
    m = 1 is the plain (N, 1, 28, 28) view."""

    def __init__(self, m=1):
        if int(m) != m or m < 1:
            raise ValueError(f"pack must be a positive whole number, got {m!r}")
        self.m = int(m)

    def forward(self, x):
        n = x.shape[0]
        if n % self.m:
            raise ValueError(f"a batch of {n} images cannot be packed in groups of {self.m}: "
                             f"use a batch size that is a multiple of {self.m}")
        return x.reshape(n // self.m, self.m, 28, 28)

    def extra_repr(self):
        return str(self.m)


class MinibatchStd(nn.Module):
    """(N, C, ...) -> (N, C + 1, ...): appends a channel holding the batch's mean standard
    deviation. A collapsed generator makes batches with no spread; this channel lets the
    discriminator see that, so the generator is pushed towards variety (Karras et al. 2018,
    'minibatch stddev'). As a whole channel it feeds H*W weights of the next layer, not one."""

    def forward(self, x):
        return F.minibatch_std(x)


class MinibatchDiscrimination(nn.Module):
    """(N, A) -> (N, A + B): appends, for each sample, B numbers that say how close it is to the
    other samples of its batch, measured in B learned projections M = x @ T, T (A, B * K)
    (Salimans et al. 2016, 'minibatch discrimination'). Real batches are spread out; the batch of
    a generator that over-draws a few digits is crowded, and D can see it per sample, which
    pushes each fake away from the others. Stronger than the minibatch-std channel's one number
    for the whole batch."""

    def __init__(self, in_features, kernels, kernel_dim=5):
        if any(int(v) != v or v < 1 for v in (kernels, kernel_dim)):
            raise ValueError(f"kernels and kernel_dim must be positive whole numbers, got "
                             f"{kernels!r} and {kernel_dim!r}")
        self.in_features, self.kernels, self.kernel_dim = in_features, int(kernels), int(kernel_dim)
        self.weight = nn.Parameter(init.glorot_uniform((in_features, kernels * kernel_dim)))

    def forward(self, x):
        m = (x @ self.weight).reshape(x.shape[0], self.kernels, self.kernel_dim)
        return concatenate([x, self.closeness(m)], axis=1)

    def closeness(self, m):
        """(N, B): how close each row of M lies to the batch's (minigan.distributed's twin
        compares it with every process's rows)."""
        return F.batch_closeness(m)

    def extra_repr(self):
        return f"{self.in_features}, kernels={self.kernels}, kernel_dim={self.kernel_dim}"
