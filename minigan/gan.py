"""The MNIST GAN: the seed's generator and discriminator, and the two training steps.

The seed is the classic Keras MNIST GAN: an MLP generator 100 -> 128 -> 256 -> 512 -> 1024 -> 784
(ReLU, tanh output) against a two-layer conv discriminator (32 and 64 3x3 filters, LeakyReLU 0.01,
Dropout 0.3, sigmoid output), binary cross-entropy, Adam(1e-4) for both, batch 64. How it trains
(learning rates, label smoothing, the tricks against collapse) is a Recipe (minigan.recipes).

Beyond the seed, the recipe can choose a DCGAN generator (transposed convolutions), a DCGAN
discriminator (strided convolutions), and a conditional GAN that is told the digit: G(z, y)
draws a y, D(x, y) judges whether x is a real y. Every step takes `labels` (the real batch's
digits; None for an unconditional GAN), and the fakes are drawn for the same labels.
"""
import numpy as np

import minigan.functional as F
from minigan import backend, nn, optim
from minigan.functional import global_batch
from minigan.autograd import Tensor, concatenate, no_grad, tensor
from minigan.gan_layers import MinibatchDiscrimination, MinibatchStd, Pack
from minigan.recipes import RECIPES, Recipe, get_recipe  # noqa: F401  (also importable from here)

NOISE_DIM = 100
IMAGE_SIZE = 28 * 28
GENERATOR_SIZES = (NOISE_DIM, 128, 256, 512, 1024, IMAGE_SIZE)  # the seed's MLP, layer by layer
DIGITS = 10       # the labels of a conditional GAN: 0-9
LABEL_DIM = 10    # the conditional generator's label embedding, concatenated to z


def build_generator(recipe="stable", sizes=GENERATOR_SIZES, output=nn.Tanh):
    """The recipe's generator, in training mode: z (N, 100) -> images (N, 784) in [-1, 1], or
    (z, labels) -> images for a conditional recipe. recipe.model picks the MLP (`sizes`, with
    `output`) or the DCGAN generator."""
    recipe = get_recipe(recipe)
    extra = LABEL_DIM if recipe.conditional else 0     # the label embedding widens z
    if recipe.model == "dcgan":
        body = build_dcgan_generator(NOISE_DIM + extra)
    else:
        body = build_mlp_generator(recipe, (sizes[0] + extra, *sizes[1:]), output)
    return ConditionalGenerator(body) if recipe.conditional else body


def build_mlp_generator(recipe="stable", sizes=GENERATOR_SIZES, output=nn.Tanh):
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

    The flat output is what the discriminators read. The first BatchNorm1d normalises each of
    the Dense's 6,272 outputs over the batch on its own (6,272 means and variances); a
    per-channel BatchNorm2d after the Reshape would share one per map (128)."""
    wide, narrow = channels
    return nn.Sequential(
        nn.Dense(noise_dim, wide * 7 * 7), nn.BatchNorm1d(wide * 7 * 7), nn.ReLU(),
        nn.Reshape(wide, 7, 7),
        nn.ConvTranspose2D(wide, narrow, 4, stride=2, padding=1), nn.BatchNorm2d(narrow),
        nn.ReLU(),
        nn.ConvTranspose2D(narrow, 1, 4, stride=2, padding=1), nn.Tanh(), nn.Flatten())


class ConditionalGenerator(nn.Module):
    """(z (N, 100), labels (N,)) -> images: body(concatenate(z, E[labels])), E a learned table of
    one 10-vector per digit (nn.Embedding, N(0, 1) rows), as PyTorch-GAN's cgan.py. The body is
    the MLP or DCGAN generator with 10 more inputs; the gradient reaches E through the concat."""

    def __init__(self, body, digits=DIGITS, label_dim=LABEL_DIM):
        self.body = body
        self.embed = nn.Embedding(digits, label_dim)

    def forward(self, z, labels):
        return self.body(concatenate([z, self.embed(labels)], axis=1))


# The discriminators' convolutional parts, for `pack` input channels (one image each).
def seed_features(pack):
    """The seed's: two 3x3 "same" convolutions at full size, LeakyReLU 0.01 and dropout 0.3."""
    return [Pack(pack),                                       # (N, 784) -> (N / m, m, 28, 28)
            nn.Conv2D(pack, 32, 3, padding="same"), nn.LeakyReLUDropout(0.01, 0.3),
            nn.Conv2D(32, 64, 3, padding="same"), nn.LeakyReLUDropout(0.01, 0.3)]


def dcgan_features(pack):
    """The DCGAN paper's: 4x4 convolutions of stride 2 (28 -> 14 -> 7) in place of pooling,
    LeakyReLU 0.2, BatchNorm on every layer but the first."""
    return [Pack(pack),
            nn.Conv2D(pack, 64, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2D(64, 128, 4, stride=2, padding=1), nn.BatchNorm2d(128),
            nn.LeakyReLU(0.2)]


# recipe.discriminator -> (its feature layers, the channels and side of the maps they give)
DISCRIMINATOR_FEATURES = {"seed": (seed_features, 64, 28), "dcgan": (dcgan_features, 128, 7)}


class Discriminator(nn.Module):
    """images (N, 784) -> P(real) (N / pack, 1), or (images, labels) -> P(real | label) for a
    conditional recipe, in two parts: `features`, the convolutional feature maps (what feature
    matching compares), and `head`, which judges them. With recipe.classifier > 0 a third part,
    `classifier`, reads the digit from the same features (digit_loss)."""

    def __init__(self, recipe="stable"):
        recipe = get_recipe(recipe)
        build_features, channels, side = DISCRIMINATOR_FEATURES[recipe.discriminator]
        width = side * side * (channels + recipe.minibatch_std)   # the std channel comes last
        # Initial weights are drawn in construction order, which fixes a seed's numbers: the
        # minibatch-discrimination projection first, then the convolutions, then the Dense.
        closeness = [MinibatchDiscrimination(width, recipe.minibatch_kernels)] \
            if recipe.minibatch_kernels else []
        self.features = nn.Sequential(*build_features(recipe.pack),
                                      *([MinibatchStd()] if recipe.minibatch_std else []))
        judge = [nn.Flatten(), *closeness, nn.Dense(width + recipe.minibatch_kernels, 1)]
        self.head = ProjectionHead(nn.Sequential(*judge), width) if recipe.conditional \
            else nn.Sequential(*judge, nn.Sigmoid())
        # recipe.classifier > 0: the auxiliary classifier (AC-GAN), one Dense from the same
        # features to a logit per digit
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dense(width, DIGITS)) \
            if recipe.classifier else None

    def forward(self, x, *labels):
        return self.head(self.features(x), *labels)

    def digit_loss(self, features, labels):
        """The auxiliary classifier's softmax cross-entropy (Odena et al. 2017, AC-GAN):
        -mean log softmax(c(h))[y], with c = `classifier` on the flattened features h and y the
        digits (int64, on D's device). D minimises it on real images: it learns to read digits
        from the data. G minimises it on its fakes: each fake must read as the digit it was
        drawn for, a per-sample signal that the projection's single logit gives only weakly.
        Its gradient is (softmax(c(h)) - onehot(y)) / N with respect to the logits."""
        return F.cross_entropy(self.classifier(features), labels)


class ProjectionHead(nn.Module):
    """(features, labels) -> P(real | label), the projection discriminator (Miyato & Koyama
    2018): with h the flattened features,

        logit = psi(h) + E[y] . h,        P = sigmoid(logit)

    psi is the unconditional judge (minibatch discrimination, Dense) and E a learned vector per
    digit. The optimal D's logit is log p(x, y) / q(x, y) = log p(x) / q(x) + log p(y | x) /
    q(y | x); for a log-linear p(y | x) the second term is exactly the inner product E[y] . h.
    So the label enters as one inner product with the features D already has, not as an input
    channel that every convolution must learn to carry. E starts at zero: D starts as the
    unconditional one. d logit / dE[y] = h, d logit / dh = dpsi/dh + E[y]."""

    def __init__(self, judge, width, digits=DIGITS):
        self.judge = judge
        self.projection = nn.Embedding(digits, width)
        self.projection.weight.data[...] = 0

    def forward(self, features, labels=None):
        if labels is None:
            raise ValueError("a conditional discriminator judges (images, labels): give the "
                             "labels")
        h = features.reshape(features.shape[0], -1)
        match = (self.projection(labels) * h).sum(axis=1, keepdims=True)
        return (self.judge(features) + match).sigmoid()


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
    """z ~ N(0, 1), (n, 100) float32, from minigan's seeded generator (in data-parallel
    training: this rank's rows of the global batch's z)."""
    rng = backend.rng("cpu")
    z = global_batch.rows_of_batch(lambda shape: rng.standard_normal(shape, dtype=np.float32),
                                  (n, NOISE_DIM))
    return tensor(z, device=device)


def draw(G, z, labels=None):
    """G's images for the noise z: G(z), or G(z, labels) for a conditional generator (labels:
    integers 0-9, one per row of z, on any device)."""
    return G(z) if labels is None else G(z, as_labels(labels, z.device))


def as_labels(labels, device):
    """Digit labels as an int64 array on `device` (what nn.Embedding indexes with)."""
    data = labels.data if isinstance(labels, Tensor) else labels
    return backend.to_device(backend.xp_of(data).asarray(data, dtype="int64"), device)


def _noisy(x, std):
    """Instance noise: D sees real and fake images through the same Gaussian blur of pixels."""
    if std <= 0:
        return x
    rng = backend.rng("cpu")
    noise = global_batch.rows_of_batch(lambda shape: rng.standard_normal(shape, dtype=np.float32),
                                      x.shape) * np.float32(std)
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


def _given(labels, recipe, step, device):
    """() or (labels on `device`,): what D and G take besides their input, checked against the
    recipe."""
    if recipe.conditional != (labels is not None):
        given = "given" if labels is not None else "None"
        raise ValueError(f"{step}: a conditional recipe needs the batch's labels, an "
                         f"unconditional one takes none (recipe {recipe.name}, conditional="
                         f"{recipe.conditional}, labels {given})")
    return () if labels is None else (as_labels(labels, device),)


def discriminator_step(G, D, opt_d, recipe, real, noise_std=0.0, n_fake=None, labels=None):
    """One Adam step of D on the batch `real` (None: no real images) and n_fake fresh fakes
    (default: as many as real; 0: none): minimise d_loss(D(x), real_label) + d_loss(D(G(z)), 0),
    plus recipe.classifier * D.digit_loss on the real images.
    A conditional recipe gives `labels`, the digits of the real batch, which the fakes are drawn
    for too (with no real batch: the fakes' labels). Returns (loss, mean D(x) or None,
    mean D(G(z)) or None) as device scalars."""
    if real is None and n_fake is None:
        raise ValueError("discriminator_step: with no real batch, say how many fakes (n_fake)")
    if real is not None and not isinstance(real, Tensor):
        real = Tensor(real)                                    # a batch array (any device)
    n_fake = real.shape[0] if n_fake is None else n_fake
    given = _given(labels, recipe, "discriminator_step", D.device)
    loss = d_real = d_fake = None
    if real is not None:
        features = D.features(_noisy(real, noise_std))
        p_real = D.head(features, *given)                      # one P(real) per pack of images
        loss = d_loss(p_real, recipe.real_label)
        if recipe.classifier > 0:                              # D learns digits from real ones
            loss = loss + recipe.classifier * D.digit_loss(features, *given)
        d_real = p_real.data.mean()
    if n_fake:
        with no_grad():
            fake = G(sample_noise(n_fake, D.device), *given)   # (N, 784); D's step stops here
        p_fake = D(_noisy(fake, noise_std), *given)
        loss = d_loss(p_fake, 0.0) if loss is None else loss + d_loss(p_fake, 0.0)
        d_fake = p_fake.data.mean()
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    return loss.data, d_real, d_fake


def class_means(labels, n, dtype, device):
    """A (digits present, n) matrix whose product with n rows gives each digit's mean row: row k
    holds 1 / n_k at the samples labelled with the k-th digit present, 0 elsewhere. Built on
    the host from the batch's labels (the trainer's are host arrays: no copy back)."""
    labels = np.asarray(backend.to_device(labels.data if isinstance(labels, Tensor) else labels,
                                          "cpu"))
    present = np.unique(labels)
    onehot = (labels[None, :] == present[:, None]).astype(dtype)
    return Tensor(backend.to_device(onehot / onehot.sum(axis=1, keepdims=True), device))


def class_mean_gap(labels, features, real_features):
    """(digits present, F): per digit of the batch, the mean of the fakes' features minus the
    mean of the real images' (features (N, ...) a Tensor, real_features an array). In
    data-parallel training the means are the global batch's: each rank weighs its rows by
    1 / (the digit's count over all ranks) and the weighted sums are summed over the ranks."""
    n = features.shape[0]
    fake, real = features.reshape(n, -1), real_features.reshape(n, -1)
    if not global_batch.syncs_statistics():
        means = class_means(labels, n, features.dtype, features.device)
        return means @ fake - means @ real
    labels = np.asarray(backend.to_device(labels.data if isinstance(labels, Tensor) else labels,
                                          "cpu"))
    onehot = (labels[None, :] == np.arange(DIGITS)[:, None]).astype(features.dtype)
    counts = global_batch.batch_sum(onehot.sum(axis=1))
    present = counts > 0
    weights = backend.to_device(onehot[present] / counts[present][:, None], features.device)
    return global_batch.BatchSum()(Tensor(weights) @ fake) - \
        global_batch.batch_sum(weights @ real)


def generator_step(G, D, opt_g, recipe, real, noise_std=0.0, labels=None):
    """One Adam step of G on as many fakes as `real` has images (drawn for the real batch's
    `labels` in a conditional recipe): minimise g_loss(D(G(z))), plus,
    with recipe.feature_matching = w > 0, w * mean((mean D.features(fake) - mean
    D.features(real))**2) (Salimans et al. 2016: G must match the data's statistics, not just
    fool D on one mode); in a conditional recipe the means are taken per digit of the batch
    (class_means), so each digit's fakes are pulled towards that digit's real features; plus
    recipe.classifier * D.digit_loss on the fakes and the digits they were drawn for. D is
    frozen: its parameters need no gradient (none is computed) and only opt_g steps, so D's
    weights cannot move. Returns (loss, mean D(G(z)))."""
    if not isinstance(real, Tensor):
        real = Tensor(real)
    given = _given(labels, recipe, "generator_step", D.device)
    z = sample_noise(real.shape[0], D.device)
    D.requires_grad_(False)
    try:
        features = D.features(_noisy(G(z, *given), noise_std))
        p_fake = D.head(features, *given)
        loss = g_loss(p_fake)
        if recipe.feature_matching > 0:
            with no_grad():
                real_features = D.features(_noisy(real, noise_std))
            if given:
                gap = class_mean_gap(labels, features, real_features.data)
            else:
                gap = global_batch.batch_mean(features) - \
                    global_batch.batch_mean_array(real_features.data)
            loss = loss + recipe.feature_matching * (gap * gap).mean()
        if recipe.classifier > 0:                              # fakes must read as their digit
            loss = loss + recipe.classifier * D.digit_loss(features, *given)
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
    finally:
        D.requires_grad_(True)
    return loss.data, p_fake.data.mean()
