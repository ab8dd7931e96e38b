"""The 2-D toy GAN: a ring of 8 Gaussians learned with the MNIST GAN's recipes and training steps,
so that a recipe's mode collapse (or not) shows in a scatter plot, in seconds rather than hours.
examples/toy_2d.py trains it from the command line and plots it; `minigan lab` (minigan.lab)
trains it live in the browser.

G and D are small MLPs built from the Recipe as gan.build_generator and gan.Discriminator are, and
train with gan.make_optimizers, gan.discriminator_step and gan.generator_step unchanged (the
recipe's Rules from build.rules), so z is 100-d N(0, 1), as in the MNIST GAN. Two things differ from
MNIST: the learning rates are the recipe's times LR_SCALE = 10 (toy_recipe says why), and instance
noise anneals per step, not per epoch.
"""
import dataclasses
import time

import numpy as np

import minigan as mg
from minigan import build, gan, nn, threads
from minigan.gan_layers import MinibatchDiscrimination, MinibatchStd
from minigan.recipes import Recipe, get_recipe

# The data: 8 Gaussians on a circle (Metz et al. 2017, "Unrolled GANs", used std 0.02).
RADIUS = 2.0
STD = 0.1              # wider than Metz's 0.02: at 0.02 or 0.05 no recipe got a mode in seconds
MODES = np.array([[RADIUS * np.cos(a), RADIUS * np.sin(a)]
                  for a in 2 * np.pi * np.arange(8) / 8], dtype=np.float32)      # (8, 2)
# The toy's fixed settings (the recipes are the MNIST ones).
WIDTH = 128            # hidden units per layer, in G and D
HIDDEN_LAYERS = 2      # in G and in D
STEPS = 5000
BATCH_SIZE = 32        # minibatch discrimination costs N^2: 64 made the stable recipe 3x slower
LR_SCALE = 10.0        # the toy's learning rates are the recipe's times this (see toy_recipe)
SAMPLES = 2000         # points drawn (from fixed noise) for each snapshot and the coverage
NEAR = 3.0             # a point within NEAR * STD of a centre belongs to that mode
MIN_SHARE = 0.01       # a mode is covered when at least this share of the points belongs to it


def ring(n, seed=0):
    """n points (float32, (n, 2)) from the ring: a mode picked uniformly, plus N(0, STD^2) noise.
    seed: an int, or a np.random.Generator to draw from (training draws every batch from one)."""
    rng = np.random.default_rng(seed)
    points = MODES[rng.integers(0, len(MODES), n)] + STD * rng.standard_normal((n, 2))
    return points.astype(np.float32)


def coverage(points):
    """(modes covered, high-quality fraction) of points (n, 2). A point is high quality when it
    lies within NEAR * STD (3 std) of some centre; a mode is covered when at least MIN_SHARE (1%)
    of all the points are high-quality points of that mode. ring() itself scores 8 and
    1 - exp(-3**2 / 2) = 0.989 (the share of a 2-D Gaussian within 3 std)."""
    points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    distance = np.linalg.norm(points[:, None] - MODES[None], axis=2)             # (n, 8)
    good = distance.min(axis=1) <= NEAR * STD
    per_mode = np.bincount(distance.argmin(axis=1)[good], minlength=len(MODES))  # (8,)
    return int((per_mode >= max(1, MIN_SHARE * len(points))).sum()), float(good.mean())


def build_generator(recipe):
    """z (N, 100) -> points (N, 2), hidden layers as gan.build_generator makes them: "relu" is
    Dense+ReLU, "batchnorm" Dense+BatchNorm1d+LeakyReLU(0.2) (no BatchNorm on the first). The
    output is linear: the ring reaches radius 2, beyond tanh's [-1, 1]."""
    return gan.build_generator(recipe, sizes=(gan.NOISE_DIM,) + (WIDTH,) * HIDDEN_LAYERS + (2,),
                               output=None)


class Discriminator(nn.Module):
    """points (N, 2) -> P(real) (N, 1), split as gan.Discriminator is: `features`, Dense layers
    with the MNIST D's LeakyReLU(0.01) + Dropout(0.3), then the minibatch-std feature
    (F.minibatch_std takes (N, C, ...); (N, WIDTH) is WIDTH channels, so it appends one column),
    and `head`: minibatch discrimination, Dense, sigmoid."""

    def __init__(self, recipe):
        width = WIDTH + recipe.minibatch_std
        closeness = [MinibatchDiscrimination(width, recipe.minibatch_kernels)] \
            if recipe.minibatch_kernels else []
        layers = []
        for n_in in (2,) + (WIDTH,) * (HIDDEN_LAYERS - 1):
            layers += [nn.Dense(n_in, WIDTH), nn.LeakyReLUDropout(0.01, 0.3)]
        self.features = nn.Sequential(*layers,
                                      *([MinibatchStd()] if recipe.minibatch_std else []))
        self.head = nn.Sequential(*closeness, nn.Dense(width + recipe.minibatch_kernels, 1),
                                  nn.Sigmoid())

    def forward(self, x):
        return self.head(self.features(x))


def toy_recipe(recipe, lr_scale=LR_SCALE):
    """The recipe the toy trains with: every field as given, but lr_d and lr_g times lr_scale
    (both recipes alike, so the stable one keeps twice the original's rate). Adam moves each
    weight by about lr per step, and at the MNIST rates 5,000 steps are far too few here: the stable
    recipe covers 3, 2, 4, 4, 2 modes (seeds 0-4) with lr_scale=1, and in a longer trial (std
    0.05, batch 64) still drew one arc over 4 of the 8 modes after 15,000 steps (3.5 minutes).
    pack (PacGAN) stacks images as channels; a point has none, so pack must be 1."""
    recipe = get_recipe(recipe)
    if recipe.pack != 1:
        raise ValueError(f"the 2-D toy judges single points, so pack must be 1, got "
                         f"{recipe.pack} (PacGAN stacks MNIST images as channels): drop "
                         f"--set pack={recipe.pack}")
    return dataclasses.replace(recipe, lr_d=recipe.lr_d * lr_scale, lr_g=recipe.lr_g * lr_scale)


@dataclasses.dataclass
class ToyResult:
    """What train() returns: the final points and their coverage, the snapshots (step, points)
    for plots, and the losses and D outputs at every step."""

    recipe: Recipe
    seed: int
    samples: np.ndarray      # (SAMPLES, 2), from fixed noise
    modes_covered: int
    high_quality: float
    snapshots: list          # [(step, (SAMPLES, 2) points)], step 0 first
    losses: dict             # "loss_d", "loss_g", "d_real", "d_fake": one float per step
    seconds: float


def draw(G, noise):
    G.eval()  # BatchNorm on its running statistics, as the MNIST trainer samples
    with mg.no_grad():
        points = G(noise).numpy()
    G.train()
    return points


def train(recipe="stable", steps=STEPS, batch_size=BATCH_SIZE, seed=0, snapshot_every=None,
          progress=None, lr_scale=LR_SCALE):
    """Train the toy GAN with gan.discriminator_step and gan.generator_step; returns a ToyResult.
    recipe: a name in RECIPES or a Recipe; snapshot_every: default a tenth of the steps;
    progress: None, or a function called with one line of text at every snapshot."""
    recipe = get_recipe(recipe)
    trained = toy_recipe(recipe, lr_scale)
    snapshot_every = snapshot_every or max(1, steps // 10)
    with threads.limited(1):   # tiny arrays: a second thread costs more than it saves
        return _train(recipe, trained, steps, batch_size, seed, snapshot_every, progress)


def _train(recipe, trained, steps, batch_size, seed, snapshot_every, progress):
    mg.manual_seed(seed)
    G, D = build_generator(trained), Discriminator(trained)
    opt_d, opt_g = gan.make_optimizers(G, D, trained)
    data_rng = np.random.default_rng(seed)
    # Own noise, so that sampling leaves the training's random stream unchanged
    noise = np.random.default_rng(10_000 + seed).standard_normal((SAMPLES, gan.NOISE_DIM))
    noise = mg.tensor(noise.astype(np.float32))
    losses = {"loss_d": [], "loss_g": [], "d_real": [], "d_fake": []}
    snapshots = [(0, draw(G, noise))]
    start = time.perf_counter()
    for step in range(steps):
        # Instance noise annealed linearly to 0, as train.Trainer.noise_std (a step is an epoch)
        noise_std = trained.instance_noise * max(0.0, 1 - step / steps)
        real = ring(batch_size, data_rng)
        rules = build.rules(trained, noise_std)
        loss_d, d_real, d_fake = gan.discriminator_step(G, D, opt_d, real, rules)
        loss_g, _ = gan.generator_step(G, D, opt_g, real, rules)
        for key, value in zip(losses, (loss_d, loss_g, d_real, d_fake)):
            losses[key].append(float(value))
        if (step + 1) % snapshot_every == 0 or step + 1 == steps:
            snapshots.append((step + 1, draw(G, noise)))
            if progress is not None:
                modes, quality = coverage(snapshots[-1][1])
                recent = {k: np.mean(v[-snapshot_every:]) for k, v in losses.items()}
                progress(f"step {step + 1:5d}/{steps}  loss D {recent['loss_d']:.3f}  "
                         f"G {recent['loss_g']:.3f}  D(x) {recent['d_real']:.2f}  "
                         f"D(G(z)) {recent['d_fake']:.2f}  modes {modes}/8  "
                         f"high-quality {100 * quality:.0f}%")
    seconds = time.perf_counter() - start
    samples = snapshots[-1][1]
    modes, quality = coverage(samples)
    return ToyResult(recipe, seed, samples, modes, quality, snapshots, losses, seconds)


__all__ = ["BATCH_SIZE", "Discriminator", "HIDDEN_LAYERS", "LR_SCALE", "MIN_SHARE", "MODES",
           "NEAR", "RADIUS", "SAMPLES", "STD", "STEPS", "ToyResult", "WIDTH", "build_generator",
           "coverage", "draw", "ring", "toy_recipe", "train"]
