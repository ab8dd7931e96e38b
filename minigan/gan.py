"""The MNIST GAN: the seed's generator and discriminator, and the two training steps.

The seed is the classic Keras MNIST GAN: an MLP generator 100 -> 128 -> 256 -> 512 -> 1024 -> 784
(ReLU, tanh output) against a two-layer conv discriminator (32 and 64 3x3 filters, LeakyReLU 0.01,
Dropout 0.3, sigmoid output), binary cross-entropy, Adam(1e-4) for both, batch 64. How it trains
(learning rates, label smoothing, the tricks against collapse) is a Recipe (minigan.recipes).
"""
import numpy as np

import minigan.functional as F
from minigan import backend, nn, optim
from minigan.autograd import Tensor, no_grad, tensor
from minigan.gan_layers import MinibatchDiscrimination, MinibatchStd, Pack
from minigan.recipes import RECIPES, Recipe, get_recipe  # noqa: F401  (also importable from here)

NOISE_DIM = 100
IMAGE_SIZE = 28 * 28
GENERATOR_SIZES = (NOISE_DIM, 128, 256, 512, 1024, IMAGE_SIZE)  # the seed's MLP, layer by layer


def build_generator(recipe="stable", sizes=GENERATOR_SIZES, output=nn.Tanh):
    """z (N, 100) -> images (N, 784) in [-1, 1]: Dense layers of `sizes`, the hidden ones as the
    recipe says, and `output` (a layer class; None: a linear output, as the 2-D toy's points)."""
    recipe = get_recipe(recipe)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-2], sizes[1:-1])):
        layers.append(nn.Dense(n_in, n_out))
        if recipe.generator == "seed":
            layers.append(nn.ReLU())
        else:  # "batchnorm": normalise every hidden layer but the first, as in PyTorch-GAN
            if i > 0:
                layers.append(nn.BatchNorm1d(n_out, momentum=0.1, eps=1e-5))
            layers.append(nn.LeakyReLU(0.2))
    layers.append(nn.Dense(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers, *([output()] if output is not None else []))


DCGAN_CHANNELS = (128, 64)   # the DCGAN generator's feature maps at 7x7 and 14x14


def build_dcgan_generator(noise_dim=NOISE_DIM, channels=DCGAN_CHANNELS):
    """z (N, 100) -> images (N, 784) in [-1, 1], the DCGAN generator (Radford et al. 2015) for
    28x28: Dense to 128 maps of 7x7, BatchNorm, ReLU, then two transposed convolutions (4x4,
    stride 2, padding 1), each doubling the side, 7 -> 14 -> 28:

        Dense 100 -> 128*7*7, BatchNorm1d, ReLU, Reshape (128, 7, 7)
        ConvTranspose2D 128 -> 64, BatchNorm2d, ReLU                 (N, 64, 14, 14)
        ConvTranspose2D 64 -> 1, Tanh, Flatten                       (N, 784)

    The flat output is what the discriminators read. Normalizing the Dense's 6272 outputs one by
    one (BatchNorm1d) is the 'documented equivalent' of normalizing its 128 maps per channel."""
    wide, narrow = channels
    return nn.Sequential(
        nn.Dense(noise_dim, wide * 7 * 7), nn.BatchNorm1d(wide * 7 * 7), nn.ReLU(),
        nn.Reshape(wide, 7, 7),
        nn.ConvTranspose2D(wide, narrow, 4, stride=2, padding=1), nn.BatchNorm2d(narrow),
        nn.ReLU(),
        nn.ConvTranspose2D(narrow, 1, 4, stride=2, padding=1), nn.Tanh(), nn.Flatten())


class Discriminator(nn.Module):
    """images (N, 784) -> P(real) (N / pack, 1), in two parts: `features`, the convolutional
    feature maps (what feature matching compares), and `head`, which judges them."""

    def __init__(self, recipe="stable"):
        recipe = get_recipe(recipe)
        channels = 64 + recipe.minibatch_std                   # the std channel comes last
        width = 28 * 28 * channels
        # Initial weights are drawn in construction order, which fixes a seed's numbers: the
        # minibatch-discrimination projection first, then the convolutions, then the Dense.
        closeness = [MinibatchDiscrimination(width, recipe.minibatch_kernels)] \
            if recipe.minibatch_kernels else []
        self.features = nn.Sequential(
            Pack(recipe.pack),                                 # (N, 784) -> (N / m, m, 28, 28)
            nn.Conv2D(recipe.pack, 32, 3, padding="same"), nn.LeakyReLUDropout(0.01, 0.3),
            nn.Conv2D(32, 64, 3, padding="same"), nn.LeakyReLUDropout(0.01, 0.3),
            *([MinibatchStd()] if recipe.minibatch_std else []))
        self.head = nn.Sequential(nn.Flatten(), *closeness,
                                  nn.Dense(width + recipe.minibatch_kernels, 1), nn.Sigmoid())

    def forward(self, x):
        return self.head(self.features(x))


def build_discriminator(recipe="stable"):
    """The seed's discriminator, with what the recipe adds: packs of images as channels, the
    minibatch-std channel, minibatch-discrimination features before the final Dense."""
    return Discriminator(recipe)


def make_optimizers(G, D, recipe):
    """Two optimizers: D's alone optimizes D, so the generator step cannot move D."""
    betas = (recipe.beta1, 0.999)
    return (optim.Adam(D.parameters(), lr=recipe.lr_d, betas=betas),
            optim.Adam(G.parameters(), lr=recipe.lr_g, betas=betas))


def sample_noise(n, device=None):
    """z ~ N(0, 1), (n, 100) float32, from minigan's seeded generator."""
    z = backend.rng("cpu").standard_normal((n, NOISE_DIM), dtype=np.float32)
    return tensor(z, device=device)


def _noisy(x, std):
    """Instance noise: D sees real and fake images through the same Gaussian blur of pixels."""
    if std <= 0:
        return x
    noise = backend.rng("cpu").standard_normal(x.shape, dtype=np.float32) * np.float32(std)
    return x + backend.to_device(noise, x.device)


def d_loss(p, target):
    """-(t log p + (1 - t) log(1 - p)), mean over the batch, with every label t = target: D's
    loss on real images (t = 1, or less with label smoothing) and on fakes (t = 0)."""
    labels = backend.xp(p.device).full(p.shape, target, dtype=p.dtype)
    return F.binary_cross_entropy(p, Tensor(labels))


def g_loss(p_fake):
    """-log D(G(z)): the non-saturating generator loss. G maximises log D(G(z)) rather than
    minimising log(1 - D(G(z))), whose gradient vanishes when D confidently rejects the fakes,
    as it does early in training. It is d_loss with the fakes labelled real."""
    return d_loss(p_fake, 1.0)


def discriminator_step(G, D, opt_d, recipe, real, noise_std=0.0, n_fake=None):
    """One Adam step of D on the batch `real` (None: no real images) and n_fake fresh fakes
    (default: as many as real; 0: none): minimise d_loss(D(x), real_label) + d_loss(D(G(z)), 0).
    Returns (loss, mean D(x) or None, mean D(G(z)) or None) as device scalars."""
    if real is None and n_fake is None:
        raise ValueError("discriminator_step: with no real batch, say how many fakes (n_fake)")
    if real is not None and not isinstance(real, Tensor):
        real = Tensor(real)                                    # a batch array (any device)
    n_fake = real.shape[0] if n_fake is None else n_fake
    loss = d_real = d_fake = None
    if real is not None:
        p_real = D(_noisy(real, noise_std))                    # one P(real) per pack of images
        loss = d_loss(p_real, recipe.real_label)
        d_real = p_real.data.mean()
    if n_fake:
        with no_grad():
            fake = G(sample_noise(n_fake, D.device))           # (N, 784); D's step stops here
        p_fake = D(_noisy(fake, noise_std))
        loss = d_loss(p_fake, 0.0) if loss is None else loss + d_loss(p_fake, 0.0)
        d_fake = p_fake.data.mean()
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    return loss.data, d_real, d_fake


def generator_step(G, D, opt_g, recipe, real, noise_std=0.0):
    """One Adam step of G on as many fakes as `real` has images: minimise g_loss(D(G(z))), plus,
    with recipe.feature_matching = w > 0, w * mean((mean D.features(fake) - mean
    D.features(real))**2) (Salimans et al. 2016: G must match the data's statistics, not just
    fool D on one mode). D is frozen: its parameters need no gradient (none is computed) and
    only opt_g steps, so D's weights cannot move. Returns (loss, mean D(G(z)))."""
    if not isinstance(real, Tensor):
        real = Tensor(real)
    z = sample_noise(real.shape[0], D.device)
    D.requires_grad_(False)
    try:
        features = D.features(_noisy(G(z), noise_std))
        p_fake = D.head(features)
        loss = g_loss(p_fake)
        if recipe.feature_matching > 0:
            with no_grad():
                target = D.features(_noisy(real, noise_std)).data.mean(axis=0)
            gap = features.mean(axis=0) - target
            loss = loss + recipe.feature_matching * (gap * gap).mean()
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
    finally:
        D.requires_grad_(True)
    return loss.data, p_fake.data.mean()


_IN_SAMPLING = ("GeneratorError", "generate", "load_generator", "load_pretrained",
                "pretrained_info", "read_arrays", "read_recipe")


def __getattr__(name):
    """Reading and sampling a trained generator live in minigan.sampling (which imports this
    module, so they cannot be imported here); gan.load_generator, gan.load_pretrained and the
    others work as if they were defined here."""
    if name in _IN_SAMPLING:
        from minigan import sampling
        return getattr(sampling, name)
    raise AttributeError(f"module 'minigan.gan' has no attribute {name!r}")
