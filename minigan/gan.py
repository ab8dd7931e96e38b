"""The MNIST GAN: the seed's generator and discriminator, and the two training steps.

The seed is the classic Keras MNIST GAN: an MLP generator 100 -> 128 -> 256 -> 512 -> 1024 -> 784
(ReLU, tanh output) against a two-layer conv discriminator (32 and 64 3x3 filters, LeakyReLU 0.01,
Dropout 0.3, sigmoid output), binary cross-entropy, Adam(1e-4) for both, batch 64.

The game (Goodfellow et al. 2014): D(x) is the probability that x is real, G(z) an image drawn
from noise z ~ N(0, I).

    D maximises  log D(x) + log(1 - D(G(z)))   i.e. minimises  BCE(D(x), 1) + BCE(D(G(z)), 0)
    G maximises  log D(G(z))                   i.e. minimises  BCE(D(G(z)), 1)

The steps below play it one Adam step each. How a recipe plays it beyond the textbook (label
smoothing, instance noise, feature matching, a conditional GAN's labels...) enters through the
step's `rules`: a target, a view of the images and terms added to a loss (minigan.build makes
them from a Recipe; the seed recipe's rules are the defaults). The DCGAN networks are in
minigan.dcgan, the conditional GAN in minigan.conditional.
"""
import dataclasses
from typing import Callable

import minigan.functional as F
from minigan import backend, nn, optim
from minigan.autograd import Tensor, no_grad, tensor
from minigan.batch import LOCAL_BATCH, LocalBatch
from minigan.gan_layers import MinibatchDiscrimination, MinibatchStd, Pack
from minigan.recipes import DEFAULT, get_recipe

NOISE_DIM = 100
IMAGE_SIZE = 28 * 28
GENERATOR_SIZES = (NOISE_DIM, 128, 256, 512, 1024, IMAGE_SIZE)  # the seed's MLP, layer by layer


def build_generator(recipe=DEFAULT, sizes=GENERATOR_SIZES, output=nn.Tanh):
    """z (N, 100) -> images (N, 784) in [-1, 1], in training mode: Dense layers of `sizes`, the
    hidden ones as recipe.generator says ("relu": ReLU, the seed's; "batchnorm": BatchNorm but
    after the first, then LeakyReLU 0.2, as PyTorch-GAN), and `output` (a layer class; None: a
    linear output, as the 2-D toy's points)."""
    recipe = get_recipe(recipe)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-2], sizes[1:-1])):
        layers.append(nn.Dense(n_in, n_out))
        if recipe.generator == "relu":
            layers.append(nn.ReLU())
        else:
            if i > 0:
                layers.append(nn.BatchNorm1d(n_out, momentum=0.1, eps=1e-5))
            layers.append(nn.LeakyReLU(0.2))
    layers.append(nn.Dense(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers, *([output()] if output is not None else []))


def original_features(pack):
    """The original discriminator's convolutional part, for `pack` images per input: two 3x3
    "same" convolutions at full size, LeakyReLU 0.01 and dropout 0.3:
    (N, 784) -> (N / pack, 64, 28, 28)."""
    return [Pack(pack),                                       # (N, 784) -> (N / m, m, 28, 28)
            nn.Conv2D(pack, 32, 3, padding="same"), nn.LeakyReLUDropout(0.01, 0.3),
            nn.Conv2D(32, 64, 3, padding="same"), nn.LeakyReLUDropout(0.01, 0.3)]


ORIGINAL_FEATURES = (original_features, 64, 28)   # (the layers, their maps' channels and side)


class Discriminator(nn.Module):
    """images (N, 784) -> P(real) (N / pack, 1), in two parts: `features`, the convolutional
    feature maps (what feature matching compares), and `head`, which judges them: Flatten,
    minibatch discrimination when the recipe asks, Dense to one logit, sigmoid. `features` is
    (its layer list builder, channels, side), e.g. minigan.dcgan.DCGAN_FEATURES."""

    def __init__(self, recipe=DEFAULT, features=ORIGINAL_FEATURES):
        recipe = get_recipe(recipe)
        build_features, channels, side = features
        width = side * side * (channels + recipe.minibatch_std)   # the std channel comes last
        # Initial weights are drawn in construction order, which fixes a seed's numbers: the
        # minibatch-discrimination projection first, then the convolutions, then the Dense.
        closeness = [MinibatchDiscrimination(width, recipe.minibatch_kernels)] \
            if recipe.minibatch_kernels else []
        self.features = nn.Sequential(*build_features(recipe.pack),
                                      *([MinibatchStd()] if recipe.minibatch_std else []))
        self.width = width                                         # of the flat features
        self.head = self.make_head(
            [nn.Flatten(), *closeness, nn.Dense(width + recipe.minibatch_kernels, 1)], width)

    def make_head(self, judge, width):
        """The head from the layers that give the logit: here sigmoid(logit)."""
        return nn.Sequential(*judge, nn.Sigmoid())

    def forward(self, x):
        return self.head(self.features(x))


def make_optimizers(G, D, recipe):
    """Two optimizers: D's alone optimizes D, so the generator step cannot move D."""
    betas = (recipe.beta1, 0.999)
    return (optim.Adam(D.parameters(), lr=recipe.lr_d, betas=betas),
            optim.Adam(G.parameters(), lr=recipe.lr_g, betas=betas))


def sample_noise(n, device=None, batch=LOCAL_BATCH):
    """z ~ N(0, 1), (n, 100) float32, drawn over the batch (minigan.batch)."""
    return tensor(batch.normal((n, NOISE_DIM)), device=device)


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


def unchanged(images):
    return images


@dataclasses.dataclass(frozen=True)
class Rules:
    """How the steps play beyond the textbook's game; the defaults (TEXTBOOK) are the
    textbook's, and the original recipe's."""

    real_label: float = 1.0          # D's target for real images (< 1: label smoothing)
    show: Callable = unchanged       # what D is shown of a batch of images (instance noise)
    batch: LocalBatch = LOCAL_BATCH  # where noise is drawn and means are taken (minigan.batch)
    d_terms: tuple = ()              # term(D, features of the real batch) -> a loss D adds
    g_terms: tuple = ()              # term(D, features of the fakes, real, rules) -> G adds


TEXTBOOK = Rules()


def adam_step(opt, loss):
    """Backpropagate `loss` and let `opt` move its parameters once."""
    opt.zero_grad()
    loss.backward()
    opt.step()


def real_loss(D, real, rules=TEXTBOOK):
    """D on the real batch: BCE(D(x), 1) (or the rules' real label), plus D's terms. Returns
    (loss, mean D(x))."""
    features = D.features(rules.show(real))
    p_real = D.head(features)                                  # one P(real) per pack of images
    loss = d_loss(p_real, rules.real_label)
    for term in rules.d_terms:
        loss = loss + term(D, features)
    return loss, p_real.data.mean()


def fake_loss(G, D, n, rules=TEXTBOOK):
    """D on n fresh fakes: BCE(D(G(z)), 0). Returns (loss, mean D(G(z)))."""
    with no_grad():
        fake = G(sample_noise(n, D.device, rules.batch))       # (n, 784); D's step stops here
    p_fake = D(rules.show(fake))
    return d_loss(p_fake, 0.0), p_fake.data.mean()


def discriminator_step(G, D, opt_d, real, rules=TEXTBOOK):
    """One Adam step of D on the batch `real` and as many fakes:
    minimise BCE(D(x), 1) + BCE(D(G(z)), 0). Returns (loss, mean D(x), mean D(G(z)))."""
    real = real if isinstance(real, Tensor) else Tensor(real)  # a batch array (any device)
    loss_real, d_real = real_loss(D, real, rules)
    loss_fake, d_fake = fake_loss(G, D, real.shape[0], rules)
    loss = loss_real + loss_fake
    adam_step(opt_d, loss)
    return loss.data, d_real, d_fake


def generator_step(G, D, opt_g, real, rules=TEXTBOOK):
    """One Adam step of G on as many fakes as `real` has images: minimise BCE(D(G(z)), 1), plus
    G's terms (which may compare with `real`). D is frozen: its parameters need no gradient
    (none is computed) and only opt_g steps, so D cannot move. Returns (loss, mean D(G(z)))."""
    real = real if isinstance(real, Tensor) else Tensor(real)
    z = sample_noise(real.shape[0], D.device, rules.batch)
    D.requires_grad_(False)
    try:
        features = D.features(rules.show(G(z)))
        p_fake = D.head(features)
        loss = g_loss(p_fake)
        for term in rules.g_terms:
            loss = loss + term(D, features, real, rules)
        adam_step(opt_g, loss)
    finally:
        D.requires_grad_(True)
    return loss.data, p_fake.data.mean()


__all__ = ["Discriminator", "GENERATOR_SIZES", "IMAGE_SIZE", "NOISE_DIM", "ORIGINAL_FEATURES",
           "Rules", "TEXTBOOK", "adam_step", "build_generator", "d_loss", "discriminator_step",
           "fake_loss", "g_loss", "generator_step", "make_optimizers", "original_features",
           "real_loss", "sample_noise", "unchanged"]
