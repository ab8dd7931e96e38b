"""The lab's 2-D game: minigan.toy_2d's GAN trained one step at a time, with the controls a learner
turns, and the frame the page draws after some steps.

A step is the toy's: one gan.discriminator_step and one gan.generator_step on a batch of the ring,
with the Rules of the current recipe (build.rules) and instance noise annealed over
toy_2d.STEPS steps. A frame holds

    real      points of the ring (the data), the same ones every frame
    fake      G's points for fixed noise (eval mode, as the toy samples)
    surface   D(x) on a SURFACE_SIDE x SURFACE_SIDE grid over the plane, as bytes 0-255 in
              base64, row by row from the top (D's decision surface: where D says real)
    arrows    at the first ARROWS fake points, -dL_G/dx: the gradient of G's loss with respect
              to the point, reversed, i.e. the way G's step pushes that point
    curve     the means of loss D, loss G, D(x), D(G(z)) over the steps since the last frame,
              and the modes the fake points cover (toy_2d.coverage)

D is evaluated in eval mode (no dropout, so surface and arrows do not flicker with the masks), and
a frame draws no random number: when frames are taken does not change the game's numbers.
D's batch-wide layers (minibatch std, minibatch discrimination) see the batch they are given:
the surface is D's answer for grid points judged in batches spread over the plane (Game.surface),
the arrows for the fake points as one batch; the original recipe's D judges each point alone,
and its surface is exact.

Controls (Game.control): the recipe to start from ("original" or "stable"), each trick of
recipes.TRICKS on (the stable recipe's values) or off (the original's), the two learning rates
(the MNIST recipe's: the toy trains at toy_2d.LR_SCALE times them), the seed, and play, pause,
step, reset. Every value is checked as `--set` checks it (recipes.parse_override) before any is
applied: a bad one is refused with one line (ControlError) and nothing changes. A change to
the networks (ARCHITECTURE: the BatchNorm generator, minibatch std, minibatch discrimination)
starts the game again from step 0; every other change takes effect at the next step.
"""
import argparse
import base64
import dataclasses

import numpy as np

import minigan as mg
from minigan import backend, build, gan, toy_2d
from minigan.recipes import RECIPE_ALIASES, RECIPES, TRICKS, parse_override

SURFACE_SIDE = 40          # D's surface: this many grid points a side
EXTENT = toy_2d.RADIUS + 1.0   # the plane drawn: [-EXTENT, EXTENT] on both axes
SHOWN = 300                # fake points per frame (fixed noise); also the real points shown
ARROWS = 48                # fake points that get an arrow
ARCHITECTURE = ("generator", "minibatch_std", "minibatch_kernels")   # a change rebuilds G and D
STARTS = ("original", "stable")
ACTIONS = ("play", "pause", "step", "reset")
CONTROLS = ("recipe", "tricks", "lr_d", "lr_g", "seed", "action")
MAX_SEED = 2 ** 32 - 1


class ControlError(ValueError):
    """A control value refused: its message is one line, for the page."""


def tricks_of(recipe):
    """{trick: on} for every trick of recipes.TRICKS: on when all its fields hold the stable
    recipe's values. The learning rates are shown on their own, so the Adam trick reads beta1."""
    stable = RECIPES["stable"]
    fields = {name: [f for f in TRICKS[name] if f not in ("lr_d", "lr_g")] or list(TRICKS[name])
              for name in TRICKS}
    return {name: all(getattr(recipe, f) == getattr(stable, f) for f in fields[name])
            for name in TRICKS}


def with_trick(recipe, name, on):
    """The recipe with a trick's fields at the stable recipe's values (on) or the original's."""
    source = RECIPES["stable" if on else "original"]
    return dataclasses.replace(recipe, **{f: getattr(source, f) for f in TRICKS[name]})


def checked(changes, recipe):
    """(recipe, seed, action) after `changes` (a dict of CONTROLS), each value checked; the
    unchanged ones None. ControlError with one line for the first bad one."""
    if not isinstance(changes, dict):
        raise ControlError("controls must be a JSON object, e.g. {\"action\": \"play\"}")
    unknown = sorted(set(changes) - set(CONTROLS))
    if unknown:
        raise ControlError(f"unknown control {unknown[0]!r}: one of {', '.join(CONTROLS)}")
    if "recipe" in changes:
        start = RECIPE_ALIASES.get(changes["recipe"], changes["recipe"])
        if start not in STARTS:
            raise ControlError(f"recipe must be one of {', '.join(STARTS)}, got "
                               f"{changes['recipe']!r}")
        recipe = dataclasses.replace(RECIPES[start], name="lab")
    tricks = changes.get("tricks", {})
    if not isinstance(tricks, dict):
        raise ControlError("tricks must be an object of trick: true or false")
    for name, on in tricks.items():
        if name not in TRICKS:
            raise ControlError(f"unknown trick {name!r}: one of {', '.join(TRICKS)}")
        if not isinstance(on, bool):
            raise ControlError(f"trick {name!r} is true or false, got {on!r}")
        recipe = with_trick(recipe, name, on)
    for field in ("lr_d", "lr_g"):
        if field in changes:
            value = changes[field]
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ControlError(f"{field} must be a number, got {value!r}")
            try:
                recipe = dataclasses.replace(recipe, **dict([parse_override(f"{field}={value}")]))
            except argparse.ArgumentTypeError as error:
                raise ControlError(str(error)) from None
    seed = changes.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)
                             or not 0 <= seed <= MAX_SEED):
        raise ControlError(f"seed must be a whole number from 0 to {MAX_SEED}, got {seed!r}")
    action = changes.get("action")
    if action is not None and action not in ACTIONS:
        raise ControlError(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
    try:
        toy_2d.toy_recipe(recipe)   # what the toy refuses (pack)
    except ValueError as error:
        raise ControlError(str(error)) from None
    return recipe, seed, action


def surface_grid():
    """The SURFACE_SIDE^2 points (x, y) of D's surface, row by row from the top (y = EXTENT)."""
    axis = np.linspace(-EXTENT, EXTENT, SURFACE_SIDE, dtype=np.float32)
    x, y = np.meshgrid(axis, axis[::-1])
    return np.stack([x.ravel(), y.ravel()], axis=1)


def rounded(points, digits=3):
    return np.round(np.asarray(points, dtype=np.float64), digits).tolist()


class Game:
    """The toy GAN of the lab: control(), step() and frame(). Its random draws come from a stream
    of its own (backend.RunState, as a Trainer's), so two games, or a game and the caller, do not
    draw from each other's; not thread-safe by itself (the server's Player holds a lock around
    each call)."""

    def __init__(self, recipe="stable", seed=0, batch_size=toy_2d.BATCH_SIZE):
        self.recipe = dataclasses.replace(RECIPES[RECIPE_ALIASES.get(recipe, recipe)],
                                          name="lab")
        self.batch_size, self.seed, self.playing = batch_size, seed, False
        self.real = toy_2d.ring(SHOWN, seed=12345)
        self.grid = surface_grid()
        self.order = np.random.default_rng(0).permutation(len(self.grid))   # surface()'s batches
        self.reset()

    def reset(self, seed=None):
        """Step 0 of a new game with the current recipe and `seed` (default: the current)."""
        self.seed = self.seed if seed is None else seed
        trained = toy_2d.toy_recipe(self.recipe)
        self.random = backend.RunState("cpu", self.seed)   # the game's own random stream
        with self.random:
            self.G, self.D = toy_2d.build_generator(trained), toy_2d.Discriminator(trained)
        self.opt_d, self.opt_g = gan.make_optimizers(self.G, self.D, trained)
        self.data_rng = np.random.default_rng(self.seed)
        noise = np.random.default_rng(10_000 + self.seed).standard_normal((SHOWN, gan.NOISE_DIM))
        self.noise = mg.tensor(noise.astype(np.float32))
        self.steps = 0
        self.sums, self.summed = np.zeros(4), 0     # loss D, loss G, D(x), D(G(z)) since a frame

    def control(self, changes):
        """Apply `changes` (a dict of CONTROLS) at once, all or nothing; ControlError (one line)
        for a bad value. Returns the action asked for, if any ("play", "pause", "step",
        "reset"), which the caller carries out."""
        recipe, seed, action = checked(changes, self.recipe)
        rebuilt = any(getattr(recipe, f) != getattr(self.recipe, f) for f in ARCHITECTURE)
        self.recipe = recipe
        if seed is not None:
            self.seed = seed
        if rebuilt or action == "reset":
            self.reset()
        else:
            self.retune()
        return action

    def retune(self):
        """The optimizers' learning rates and beta1 from the current recipe (at the toy's scale);
        Adam's moments are kept."""
        trained = toy_2d.toy_recipe(self.recipe)
        for opt, lr in ((self.opt_d, trained.lr_d), (self.opt_g, trained.lr_g)):
            opt.hyper = opt.validated(**dict(opt.hyper, lr=lr,
                                             betas=(trained.beta1, opt.hyper["betas"][1])))

    def step(self):
        """One D step and one G step, as toy_2d.train takes them."""
        trained = toy_2d.toy_recipe(self.recipe)
        noise_std = trained.instance_noise * max(0.0, 1 - self.steps / toy_2d.STEPS)
        real = toy_2d.ring(self.batch_size, self.data_rng)
        rules = build.rules(trained, noise_std)
        with self.random:
            loss_d, d_real, d_fake = gan.discriminator_step(self.G, self.D, self.opt_d, real,
                                                            rules)
            loss_g, _ = gan.generator_step(self.G, self.D, self.opt_g, real, rules)
        self.sums += [float(loss_d), float(loss_g), float(d_real), float(d_fake)]
        self.summed += 1
        self.steps += 1

    def pushes(self, fake):
        """-dL_G/dx at each fake point x (N, 2): G's loss as gan.generator_step computes it (BCE
        with the fakes labelled real, plus the recipe's G terms, no instance noise), with D in
        eval mode, differentiated with respect to the points."""
        trained = toy_2d.toy_recipe(self.recipe)
        rules = build.rules(trained, 0.0)
        points = mg.tensor(fake, requires_grad=True, dtype=fake.dtype)
        real = mg.tensor(self.real[:len(fake)])    # feature matching's real batch: no draw
        self.D.requires_grad_(False)
        try:
            features = self.D.features(points)
            loss = gan.g_loss(self.D.head(features))
            for term in rules.g_terms:
                loss = loss + term(self.D, features, real, rules)
            loss.backward()
        finally:
            self.D.requires_grad_(True)
        return -points.grad.numpy()

    def surface(self):
        """D(x) at every grid point (SURFACE_SIDE, SURFACE_SIDE): the grid judged in batches of
        the training's size, each a fixed random draw of grid points spread over the plane (the
        batch-wide layers cost N^2 in the batch, and a batch of neighbours would look to them
        like a collapsed G's)."""
        judged = np.empty(len(self.order), dtype=np.float32)
        with mg.no_grad():
            for start in range(0, len(self.order), self.batch_size):
                batch = self.order[start:start + self.batch_size]
                judged[batch] = self.D(mg.tensor(self.grid[batch])).numpy()[:, 0]
        return judged.reshape(SURFACE_SIDE, SURFACE_SIDE)

    def frame(self):
        """The frame after the steps so far (the module docstring lists its parts); the curve's
        means start again from here."""
        fake = toy_2d.draw(self.G, self.noise)
        self.D.eval()
        try:
            surface = self.surface()
            push = self.pushes(fake[:ARROWS])
        finally:
            self.D.train()
        modes, quality = toy_2d.coverage(fake)
        curve = None
        if self.summed:
            means = self.sums / self.summed
            curve = {"step": self.steps, "loss_d": means[0], "loss_g": means[1],
                     "d_real": means[2], "d_fake": means[3], "modes": modes}
            curve = {k: (round(float(v), 4) if isinstance(v, float) else v)
                     for k, v in curve.items()}
            self.sums, self.summed = np.zeros(4), 0
        level = np.clip(np.nan_to_num(surface, nan=0.5) * 255 + 0.5, 0, 255).astype(np.uint8)
        # -dL/dx of the batch mean is 1/N of each point's own loss gradient: times N, that one
        return {"step": self.steps, "seed": self.seed, "playing": self.playing,
                "modes": modes, "high_quality": round(quality, 3),
                "fake": rounded(fake, 2), "arrows": rounded(push * len(push), 3),
                "surface": base64.b64encode(level.tobytes()).decode(), "curve": curve,
                "settings": self.settings()}

    def settings(self):
        """The controls' current values, as the page shows them and puts in its URL."""
        return {"tricks": tricks_of(self.recipe), "lr_d": self.recipe.lr_d,
                "lr_g": self.recipe.lr_g, "seed": self.seed,
                "lr_scale": toy_2d.LR_SCALE}

    def constants(self):
        """What every frame shares: the real points, the modes, the plane's extent."""
        return {"real": rounded(self.real, 2), "modes": rounded(toy_2d.MODES, 3),
                "extent": EXTENT, "tricks": list(TRICKS), "surface_side": SURFACE_SIDE}


__all__ = ["ARCHITECTURE", "ControlError", "Game", "checked", "surface_grid", "tricks_of",
           "with_trick"]
