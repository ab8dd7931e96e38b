"""Walks through a generator's inputs: between two noise vectors z (a latent walk), or, for a
conditional generator, between two digits' label embeddings with z fixed (a digit walk).

The noise z ~ N(0, I) in 100 dimensions lies near the sphere of radius 10 (|z|^2 has mean 100 and
standard deviation 14): the straight line between two draws passes well inside it (its midpoint
has norm about 10 / sqrt(2) for nearly orthogonal draws), where the generator was never trained.
Spherical interpolation (slerp; Shoemake 1985, for GANs White 2016) follows the great circle
instead:

    slerp(z0, z1, t) = sin((1 - t) w) / sin(w) z0 + sin(t w) / sin(w) z1,
    w = the angle between z0 and z1,

which keeps the norm when |z0| = |z1| (and moves it linearly between them otherwise), and is the
straight line (lerp) in the limit w -> 0.
"""
import numpy as np

from minigan import conditional, sampling
from minigan.autograd import no_grad, tensor
from minigan.gan import NOISE_DIM

PARALLEL = 1e-6   # below this angle (radians) slerp is lerp: sin(w) would divide by ~0


def lerp(z0, z1, t):
    """(1 - t) z0 + t z1."""
    return (1 - t) * z0 + t * z1


def slerp(z0, z1, t):
    """The point at fraction t of the great-circle arc from z0 to z1 (the module docstring);
    z0, z1 of one shape (..., d), t a number. Nearly parallel endpoints: lerp."""
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    cosine = (z0 * z1).sum(-1, keepdims=True) / (np.linalg.norm(z0, axis=-1, keepdims=True)
                                                 * np.linalg.norm(z1, axis=-1, keepdims=True))
    w = np.arccos(np.clip(cosine, -1.0, 1.0))
    safe = np.where(w < PARALLEL, 1.0, np.sin(w))
    curved = (np.sin((1 - t) * w) * z0 + np.sin(t * w) * z1) / safe
    return np.where(w < PARALLEL, lerp(z0, z1, t), curved)


def path(z0, z1, steps, spherical=True):
    """(steps, ..., d): `steps` >= 2 points from z0 to z1 (both included), evenly spaced in t."""
    if steps < 2:
        raise ValueError(f"a walk needs at least 2 steps (its two ends), got {steps}")
    step = slerp if spherical else lerp
    return np.stack([step(z0, z1, t) for t in np.linspace(0.0, 1.0, steps)])


def latent_walk(G, walks, steps, seed=0, spherical=True, digit=None):
    """(images (walks, steps, 28, 28) in [-1, 1], the inputs z (walks, steps, 100)): `walks`
    walks of `steps` points between pairs of random z (noise seed `seed`), G's images of each
    point. A conditional G draws `digit` all along (default: walk k draws digit k mod 10)."""
    rng = np.random.default_rng(seed)
    ends = rng.standard_normal((2, walks, NOISE_DIM))
    z = path(ends[0], ends[1], steps, spherical).transpose(1, 0, 2).astype(np.float32)
    labels = None
    if sampling.is_conditional(G):
        labels = np.repeat(np.arange(walks) % 10 if digit is None else np.full(walks, digit),
                           steps)
    images = draw(G, z.reshape(walks * steps, NOISE_DIM), labels)
    return images.reshape(walks, steps, 28, 28), z


def digit_walk(G, from_digit, to_digit, walks, steps, seed=0):
    """(images (walks, steps, 28, 28), label vectors (steps, 10)): a conditional G's images as
    its label embedding moves in a straight line from digit `from_digit`'s to `to_digit`'s, each
    walk with one z of its own held fixed (noise seed `seed`)."""
    if not sampling.is_conditional(G):
        raise ValueError("a digit walk needs a conditional generator (a run trained with "
                         "--conditional)")
    for name, digit in (("from_digit", from_digit), ("to_digit", to_digit)):
        if digit not in range(conditional.DIGITS):
            raise ValueError(f"{name} must be a digit 0-9, got {digit!r}")
    table = G.embed.weight.numpy()
    vectors = path(table[from_digit].astype(np.float64), table[to_digit].astype(np.float64),
                   steps, spherical=False)
    z = np.random.default_rng(seed).standard_normal((walks, NOISE_DIM)).astype(np.float32)
    z_all = np.repeat(z, steps, axis=0)                                 # walk-major
    v_all = np.tile(vectors.astype(np.float32), (walks, 1))
    G.eval()
    with no_grad():
        images = G.from_label_vectors(tensor(z_all, device=G.device),
                                      tensor(v_all, device=G.device)).numpy()
    return images.reshape(walks, steps, 28, 28), vectors


def draw(G, z, labels=None):
    """G's images (N, 784) of the noise z (N, 100) in eval mode, in batches of 1,000."""
    G.eval()
    out = []
    with no_grad():
        for start in range(0, len(z), 1000):
            chunk = tensor(z[start:start + 1000], device=G.device)
            given = None if labels is None else labels[start:start + 1000]
            out.append(conditional.draw(G, chunk, given).numpy())
    return np.concatenate(out)


__all__ = ["digit_walk", "latent_walk", "lerp", "path", "slerp"]
