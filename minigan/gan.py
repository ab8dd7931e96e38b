"""The MNIST GAN: the seed's generator and discriminator, the training recipes, and the two steps.

The seed is the classic Keras MNIST GAN: an MLP generator 100 -> 128 -> 256 -> 512 -> 1024 -> 784
(ReLU, tanh output) against a two-layer conv discriminator (32 and 64 3x3 filters, LeakyReLU 0.01,
Dropout 0.3, sigmoid output), binary cross-entropy, Adam(1e-4) for both, batch 64.
"""
import dataclasses
import json
from pathlib import Path

import numpy as np

import minigan.functional as F
from minigan import backend, checkpoint, init, nn, optim
from minigan.autograd import Function, Tensor, concatenate, no_grad, tensor
from minigan.recipes import RECIPES, Recipe, get_recipe  # noqa: F401  (their old home)

NOISE_DIM = 100
IMAGE_SIZE = 28 * 28
GENERATOR_SIZES = (NOISE_DIM, 128, 256, 512, 1024, IMAGE_SIZE)  # the seed's MLP, layer by layer
class GeneratorError(ValueError):
    """A generator file cannot be used, or a generator draws non-finite images."""


def build_generator(recipe="stable"):
    """z (N, 100) -> images (N, 784) in [-1, 1]."""
    recipe = get_recipe(recipe)
    sizes = GENERATOR_SIZES[:-1]
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Dense(n_in, n_out))
        if recipe.generator == "seed":
            layers.append(nn.ReLU())
        else:  # "batchnorm": the Recipe allows only GENERATORS
            if i > 0:  # as in PyTorch-GAN: no normalization right after the noise
                layers.append(nn.BatchNorm1d(n_out, momentum=0.1, eps=1e-5))
            layers.append(nn.LeakyReLU(0.2))
    layers += [nn.Dense(1024, IMAGE_SIZE), nn.Tanh()]
    return nn.Sequential(*layers)


class MinibatchStdFunction(Function):
    """y = x with one more channel, every value of which is s = mean over features f of std_f,
    std_f = sqrt(mean over the batch of (x_f - mu_f)**2 + eps): (N, C, ...) -> (N, C + 1, ...).
    dx = gy[:, :C] + (sum of gy[:, C:]) * (x - mu) / (N * F * std), F = C * (spatial size)."""

    def forward(self, x):
        xp = backend.xp_of(x)
        self.deviation = x - x.mean(axis=0)                                     # (N, C, ...)
        self.std = xp.sqrt((self.deviation * self.deviation).mean(axis=0) + x.dtype.type(1e-8))
        C = x.shape[1]
        y = xp.empty((x.shape[0], C + 1) + x.shape[2:], dtype=x.dtype)
        y[:, :C] = x
        y[:, C:] = self.std.mean()
        return y

    def backward(self, gy):
        N, C = self.deviation.shape[:2]
        g_extra = gy[:, C:].sum() / gy.dtype.type(self.deviation.size)
        return gy[:, :C] + self.deviation * (g_extra / self.std)


class MinibatchStd(nn.Module):
    """(N, C, ...) -> (N, C + 1, ...): appends a channel holding the batch's mean standard
    deviation. A collapsed generator makes batches with no spread; this channel lets the
    discriminator see that, so the generator is pushed towards variety (Karras et al. 2018,
    'minibatch stddev'). As a whole channel it feeds H*W weights of the next layer, not one."""

    def forward(self, x):
        return MinibatchStdFunction()(x)


class BatchClosenessFunction(Function):
    """o[i, b] = sum over j != i of c[i, j, b],  c[i, j, b] = exp(-sum_k |M[i, b, k] - M[j, b, k]|):
    M (N, B, K) -> o (N, B), how crowded sample i's neighbourhood in the batch is, per kernel b.
    c is symmetric in i, j, so dM[i, b, k] = -sum_j (go[i, b] + go[j, b]) c[i, j, b]
    sign(M[i, b, k] - M[j, b, k]) (the j = i term is 0: sign(0) = 0, and exp(0) = 1 is removed
    from o as a constant)."""

    def forward(self, m):
        xp = backend.xp_of(m)
        self.difference = m[:, None] - m[None]                            # (N, N, B, K)
        self.closeness = xp.exp(-xp.abs(self.difference).sum(axis=3))    # (N, N, B)
        return self.closeness.sum(axis=1) - m.dtype.type(1)

    def backward(self, go):
        xp = backend.xp_of(go)
        weight = (go[:, None] + go[None]) * self.closeness                # (N, N, B)
        return -(weight[..., None] * xp.sign(self.difference)).sum(axis=1)


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
        return concatenate([x, BatchClosenessFunction()(m)], axis=1)

    def extra_repr(self):
        return f"{self.in_features}, kernels={self.kernels}, kernel_dim={self.kernel_dim}"


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


def build_discriminator(recipe="stable"):
    """images (N, 784) -> P(real) (N / pack, 1): the seed's discriminator (plus, when the recipe
    asks, the minibatch-std channel and the minibatch-discrimination features before the final
    Dense, and packs of images as channels)."""
    recipe = get_recipe(recipe)
    extra = [MinibatchStd()] if recipe.minibatch_std else []
    features = 28 * 28 * (64 + len(extra))
    closeness = [MinibatchDiscrimination(features, recipe.minibatch_kernels)] \
        if recipe.minibatch_kernels else []
    return nn.Sequential(
        Pack(recipe.pack),                           # the original fed (N, 784) to a conv: a bug
        nn.Conv2D(recipe.pack, 32, 3, padding="same"), nn.LeakyReLU(0.01), nn.Dropout(0.3),
        nn.Conv2D(32, 64, 3, padding="same"), nn.LeakyReLU(0.01), nn.Dropout(0.3),
        *extra, nn.Flatten(), *closeness,
        nn.Dense(features + recipe.minibatch_kernels, 1), nn.Sigmoid())


def make_optimizers(G, D, recipe):
    """Two optimizers: D's alone optimizes D, so the generator step cannot move D."""
    betas = (recipe.beta1, 0.999)
    return (optim.Adam(D.parameters(), lr=recipe.lr_d, betas=betas),
            optim.Adam(G.parameters(), lr=recipe.lr_g, betas=betas))


def sample_noise(n, device=None):
    """z ~ N(0, 1), (n, 100) float32, from minigan's seeded generator."""
    z = backend.rng("cpu").standard_normal((n, NOISE_DIM), dtype=np.float32)
    return tensor(z, device=device)


def _labels(n, value, like):
    return Tensor._wrap(backend.xp(like.device).full((n, 1), value, dtype=np.float32))


def _noisy(x, std):
    """Instance noise: D sees real and fake images through the same Gaussian blur of pixels."""
    if std <= 0:
        return x
    noise = backend.rng("cpu").standard_normal(x.shape, dtype=np.float32) * np.float32(std)
    return x + backend.to_device(noise, x.device)


def discriminator_step(G, D, opt_d, real, recipe, noise_std=0.0, parts=("real", "fake")):
    """One Adam step of D on `real` (labelled recipe.real_label) and/or fresh fakes (labelled 0):
    maximise log D(x) + log(1 - D(G(z))). Returns (loss, D(x) mean or None, D(G(z)) mean or None)
    as device scalars (no host round trip)."""
    real = real if isinstance(real, Tensor) else Tensor._wrap(real)  # a batch array (any device)
    n = real.shape[0]
    loss, d_real, d_fake = None, None, None
    if "real" in parts:
        p_real = D(_noisy(real, noise_std))                # one P(real) per pack of images
        loss = F.binary_cross_entropy(p_real, _labels(p_real.shape[0], recipe.real_label, real))
        d_real = p_real.data.mean()
    if "fake" in parts:
        with no_grad():
            fake = G(sample_noise(n, real.device))       # (N, 784); no graph: D's step stops here
        p_fake = D(_noisy(fake, noise_std))
        loss_fake = F.binary_cross_entropy(p_fake, _labels(p_fake.shape[0], 0.0, real))
        loss = loss_fake if loss is None else loss + loss_fake
        d_fake = p_fake.data.mean()
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    return loss.data, d_real, d_fake


def features_and_output(D, x):
    """D(x), and the feature maps D's Flatten receives (its last convolutional features)."""
    features = None
    for modules, fn in D.stages():
        if isinstance(modules[0], nn.Flatten):
            features = x
        x = fn(x)
    return features, x


def generator_step(G, D, opt_g, n, noise_std=0.0, real=None, feature_matching=0.0):
    """One Adam step of G: maximise log D(G(z)), i.e. label the fakes "real" (non-saturating
    loss). D is frozen: its parameters need no gradient (so none is computed) and only opt_g
    steps, so D's weights do not move (the original Keras code got this wrong).

    With feature_matching > 0 (and a real batch), G also minimises the squared distance between
    the mean D-features of real and fake images (Salimans et al. 2016): it must match the data's
    statistics, not just fool D on one mode."""
    if real is not None and not isinstance(real, Tensor):
        real = Tensor._wrap(real)
    z = sample_noise(n, D.device)
    D.requires_grad_(False)
    try:
        features, p_fake = features_and_output(D, _noisy(G(z), noise_std))
        loss = F.binary_cross_entropy(p_fake, _labels(p_fake.shape[0], 1.0, p_fake))
        if feature_matching > 0:
            with no_grad():
                target = features_and_output(D, _noisy(real, noise_std))[0].data.mean(axis=0)
            gap = features.mean(axis=0) - target
            loss = loss + feature_matching * (gap * gap).mean()
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
    finally:
        D.requires_grad_(True)
    return loss.data, p_fake.data.mean()


def read_recipe(path):
    """The Recipe in a run's recipe.json (a JSON object of Recipe fields), checked."""
    try:
        fields = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GeneratorError(f"{path}: cannot read it as JSON ({exc}); it should be the "
                             "recipe.json written by examples/mnist_gan.py") from None
    if not isinstance(fields, dict):
        raise GeneratorError(f"{path}: holds a JSON {type(fields).__name__}, not an object of "
                             "recipe fields such as examples/mnist_gan.py writes")
    known = [f.name for f in dataclasses.fields(Recipe)]
    unknown = sorted(set(fields) - set(known))
    if unknown or "name" not in fields:
        problem = f"unknown fields {unknown}" if unknown else "no 'name' field"
        raise GeneratorError(f"{path}: {problem}; a recipe has the fields {known}")
    try:
        return Recipe(**fields)
    except ValueError as exc:
        raise GeneratorError(f"{path}: {exc}") from None


def read_arrays(path):
    """{name: array} from an .npz of plain numeric arrays. Files we read are data, never code:
    pickles (and .npz entries holding Python objects, which are pickles) are refused unread."""
    expected = "a minigan generator file (.npz of arrays)"
    arrays = checkpoint.read_npz(path, expected, GeneratorError)
    for key, value in arrays.items():
        if value.dtype.kind not in "biuf":
            raise GeneratorError(f"{path} is not {expected}: entry {key!r} is not an array of "
                                 "numbers")
    return arrays


def load_generator(path):
    """A generator in eval mode from a run folder or a generator.npz (with recipe.json beside it;
    without one, the default recipe's architecture). Every weight and running statistic must be
    finite: a NaN there would only show as blank samples."""
    path = Path(path)
    npz = path / "generator.npz" if path.is_dir() else path
    if not npz.is_file():
        raise FileNotFoundError(f"no generator weights at {npz} (expected a run folder or a "
                                "generator.npz written by examples/mnist_gan.py)")
    recipe_file = npz.parent / "recipe.json"
    recipe = read_recipe(recipe_file) if recipe_file.is_file() else RECIPES["stable"]
    state = read_arrays(npz)
    broken = [key for key, value in state.items() if not np.isfinite(value).all()]
    if broken:
        raise GeneratorError(f"{npz}: non-finite values (NaN or inf) in {broken}: the weights "
                             "or running statistics are broken; use an earlier generator")
    G = build_generator(recipe)
    try:
        G.load_state_dict(state)
    except nn.StateDictError as exc:
        raise GeneratorError(f"{npz} (recipe {recipe.name}): {exc}") from None
    return G.eval()


def generate(G, n, seed=0, batch_size=1000):
    """n images (n, 28, 28) in [-1, 1] from G, with noise from seed (manual_seed(seed)).
    Refuses to return non-finite images, which broken weights or running statistics draw."""
    backend.manual_seed(seed)
    out = []
    with no_grad():
        for start in range(0, n, batch_size):
            z = sample_noise(min(batch_size, n - start), G.device)
            images = G(z).numpy()                         # (batch, 784)
            if not np.isfinite(images).all():
                raise GeneratorError("the generator draws non-finite images (NaN or inf): its "
                                     "weights or running statistics are broken; use an earlier "
                                     "generator")
            out.append(images)
    return np.concatenate(out).reshape(n, 28, 28)
