"""The conditional GAN, beside the seed's: G(z, y) draws a digit y, D(x, y) judges whether x is a
real y (Mirza & Osindero 2014), trained by the seed GAN's own steps.

How it composes with minigan.gan: for each batch, `given` binds the batch's labels to G and D,
so that G(z) means G(z, y) and D.head(h) means D.head(h, y); the steps then run unchanged. What
a conditional recipe adds are terms of the steps' Rules: the auxiliary classifier's loss
(digit_term, AC-GAN) and feature matching per digit (per_digit_feature_matching).
"""
import minigan.functional as F
from minigan import backend, nn
from minigan.autograd import Tensor, concatenate
from minigan.gan import ORIGINAL_FEATURES, Discriminator
from minigan.recipes import DEFAULT, get_recipe
from minigan.tricks import real_features

DIGITS = 10       # the labels: 0-9
LABEL_DIM = 10    # the generator's label embedding, concatenated to z


class ConditionalGenerator(nn.Module):
    """(z (N, 100), labels (N,)) -> images: body(concatenate(z, E[labels])), E a learned table of
    one 10-vector per digit (nn.Embedding, N(0, 1) rows), as PyTorch-GAN's cgan.py. The body is
    the MLP or DCGAN generator with 10 more inputs; the gradient reaches E through the concat."""

    def __init__(self, body, digits=DIGITS, label_dim=LABEL_DIM):
        self.body = body
        self.embed = nn.Embedding(digits, label_dim)

    def forward(self, z, labels=None):
        if labels is None:
            raise ValueError("a conditional generator draws (z, labels): give the labels (the "
                             "steps take G and D bound to them: conditional.given)")
        return self.from_label_vectors(z, self.embed(labels))

    def from_label_vectors(self, z, vectors):
        """body(concatenate(z, vectors)): the images for label vectors (N, 10) given directly,
        e.g. points between two digits' embeddings (minigan.latent.digit_walk)."""
        return self.body(concatenate([z, vectors], axis=1))


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
                             "labels (the steps take G and D bound to them: conditional.given)")
        h = features.reshape(features.shape[0], -1)
        match = (self.projection(labels) * h).sum(axis=1, keepdims=True)
        return (self.judge(features) + match).sigmoid()


class ConditionalDiscriminator(Discriminator):
    """(images, labels) -> P(real | label): the seed's discriminator with a ProjectionHead, and
    with recipe.classifier > 0 a third part, `classifier`, one Dense from the same features to
    a logit per digit (AC-GAN, digit_loss). Weights are drawn in the seed's order, then E, then
    the classifier's."""

    def __init__(self, recipe=DEFAULT, features=ORIGINAL_FEATURES):
        recipe = get_recipe(recipe)
        super().__init__(recipe, features)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dense(self.width, DIGITS)) \
            if recipe.classifier else None

    def make_head(self, judge, width):
        return ProjectionHead(nn.Sequential(*judge), width)

    def forward(self, x, labels=None):
        return self.head(self.features(x), labels)

    def digit_loss(self, features, labels):
        """The auxiliary classifier's softmax cross-entropy (Odena et al. 2017, AC-GAN):
        -mean log softmax(c(h))[y], with c = `classifier` on the flattened features h and y the
        digits (int64, on D's device). D minimises it on real images: it learns to read digits
        from the data. G minimises it on its fakes: each fake must read as the digit it was
        drawn for, a per-sample signal that the projection's single logit gives only weakly.
        Its gradient is (softmax(c(h)) - onehot(y)) / N with respect to the logits."""
        return F.cross_entropy(self.classifier(features), labels)


def as_labels(labels, device):
    """Digit labels as an int64 array on `device` (what nn.Embedding indexes with)."""
    data = labels.data if isinstance(labels, Tensor) else labels
    return backend.to_device(backend.xp_of(data).asarray(data, dtype="int64"), device)


class Given:
    """A conditional network with one batch's labels bound: called as the unconditional one
    (G(z), D(x), D.head(h), D.digit_loss(h)), so the seed GAN's steps train it unchanged.
    Everything else (features, device, requires_grad_...) is the network's."""

    def __init__(self, net, labels, y):
        self.net, self.labels = net, labels   # labels: as given (the batch's digits)
        self.y = y                            # and as the embeddings index with them

    def __call__(self, x):
        return self.net(x, self.y)

    def head(self, features):
        return self.net.head(features, self.y)

    def digit_loss(self, features):
        return self.net.digit_loss(features, self.y)

    def __getattr__(self, name):
        return getattr(self.net, name)


def given(G, D, labels):
    """(G, D) with the batch's labels bound (the fakes are drawn for the real batch's digits)."""
    y = as_labels(labels, D.device)
    return Given(G, labels, y), Given(D, labels, y)


def draw(G, z, labels=None):
    """G's images for the noise z: G(z), or G(z, labels) for a conditional generator (labels:
    integers 0-9, one per row of z, on any device)."""
    return G(z) if labels is None else G(z, as_labels(labels, z.device))


def digit_term(weight):
    """A term of both steps: w * D.digit_loss(features) on the batch's labels. In D's step (on
    real images) D learns to read digits; in G's (on fakes) each fake must read as its digit."""
    def term(D, features, *unused):
        return weight * D.digit_loss(features)
    return term


def per_digit_feature_matching(weight):
    """G's term w * mean(gap ** 2) with the gap per digit of the batch (Rules.batch's
    class_mean_gap): each digit's fakes are pulled towards that digit's real features."""
    def term(D, features, real, rules):
        gap = rules.batch.class_mean_gap(D.labels, features, real_features(D, real, rules))
        return weight * (gap * gap).mean()
    return term


__all__ = ["ConditionalDiscriminator", "ConditionalGenerator", "DIGITS", "Given", "LABEL_DIM",
           "ProjectionHead", "as_labels", "digit_term", "draw", "given",
           "per_digit_feature_matching"]
