"""The GAN trainer: schedules, progress, outputs, checkpoints and resume.

Two schedules. "standard": one epoch is one pass over the training set; per batch one D step on
real + fake and one G step. "seed" (what the original Keras script did): per epoch 64 iterations
of {one D step on 64 random real images, one on 64 fresh fakes}, then a single G step.
"""
import csv
import dataclasses
import json
import math
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from minigan import backend, data, gan, visualize
from minigan.autograd import no_grad, tensor

SEED_SCHEDULE = {"epochs": 100, "batch_size": 64, "iterations": 64, "sample_every": 10,
                 "grid": 4}


@dataclasses.dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 64
    schedule: str = "standard"
    recipe: str = "stable"
    lr: float = None            # overrides the recipe's lr_d and lr_g
    sample_every: int = 1       # epochs between sample grids
    out: str = None             # default: runs/<timestamp>
    seed: int = 0
    device: str = "cpu"
    log_every: int = 50         # iterations between progress lines (and host reads of losses)
    eval_every: int = 0         # epochs between quality scores (FID, coverage); 0: never
    eval_samples: int = 5000    # generated images per score

    def __post_init__(self):
        if self.schedule not in ("standard", "seed"):
            raise ValueError(f"schedule must be 'standard' or 'seed', got {self.schedule!r}")
        gan.get_recipe(self.recipe)
        if self.eval_every < 0 or self.eval_samples < 2:
            raise ValueError(f"eval_every must be >= 0 and eval_samples >= 2, got "
                             f"{self.eval_every} and {self.eval_samples}")
        for name in ("epochs", "batch_size", "sample_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.out is None:
            self.out = os.path.join("runs", time.strftime("%Y%m%d-%H%M%S"))


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite."""


def save_atomic(path, write):
    """Call write(file) on a temporary file beside `path`, then rename it over `path`: a crash
    never leaves a half-written file under the final name."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; give it normal rights
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


class Trainer:
    """Holds the models, optimizers, data and history of one run. `recipe` (a gan.Recipe)
    replaces the one config.recipe names, e.g. to try a variant or to resume one."""

    def __init__(self, config, images, *, log=print, recipe=None, on_epoch_end=None,
                 eval_images=None):
        self.config, self.images, self.log = config, images, log
        self.eval_images = eval_images  # real images (test set) for config.eval_every scores
        if config.eval_every and eval_images is None:
            raise ValueError("eval_every needs eval_images: real images (e.g. the MNIST test "
                             "set) to compare generated ones with")
        self.on_epoch_end = on_epoch_end  # called as on_epoch_end(trainer) after each epoch
        backend.set_device(config.device)
        backend.manual_seed(config.seed)
        recipe = gan.get_recipe(recipe or config.recipe)
        if config.lr is not None:
            recipe = dataclasses.replace(recipe, lr_d=config.lr, lr_g=config.lr)
        if config.batch_size % recipe.pack:
            raise ValueError(f"batch size {config.batch_size} is not a multiple of the recipe's "
                             f"pack ({recipe.pack}: D judges that many images at once): use a "
                             f"batch size divisible by {recipe.pack}")
        self.recipe = recipe
        self.G, self.D = gan.build_generator(recipe), gan.build_discriminator(recipe)
        self.opt_d, self.opt_g = gan.make_optimizers(self.G, self.D, recipe)
        self.data_rng = np.random.default_rng(config.seed)
        self.fixed_noise = gan.sample_noise(64, config.device)  # grids stay comparable
        self.epoch = 0
        self.points = {k: [] for k in ("iteration", "loss_d", "loss_g", "d_real", "d_fake")}
        self.epochs = []  # one dict per finished epoch
        self.g_steps = 0
        self.frames = []
        self.out = Path(config.out)

    # The two schedules
    def noise_std(self):
        """Instance noise, annealed linearly from the recipe's value to 0 over the run."""
        return self.recipe.instance_noise * max(0.0, 1 - self.epoch / self.config.epochs)

    def standard_epoch(self):
        n = self.config.batch_size
        batches = len(self.images) // n
        for i, real in enumerate(self.iterate_batches(n)):
            loss_d, d_real, d_fake = gan.discriminator_step(self.G, self.D, self.opt_d, real,
                                                            self.recipe, self.noise_std())
            loss_g, _ = gan.generator_step(self.G, self.D, self.opt_g, n, self.noise_std(), real,
                                           self.recipe.feature_matching)
            self.record(loss_d, loss_g, d_real, d_fake, i + 1, batches)

    def seed_epoch(self):
        n, iterations = self.config.batch_size, SEED_SCHEDULE["iterations"]
        for i in range(iterations):
            real = self.random_batch(n)
            loss_real, d_real, _ = gan.discriminator_step(self.G, self.D, self.opt_d, real,
                                                          self.recipe, parts=("real",))
            loss_fake, _, d_fake = gan.discriminator_step(self.G, self.D, self.opt_d, real,
                                                          self.recipe, parts=("fake",))
            if i < iterations - 1:
                self.accumulate(loss_real + loss_fake, None, d_real, d_fake)
        loss_g, _ = gan.generator_step(self.G, self.D, self.opt_g, n, real=real,  # once per epoch
                                       feature_matching=self.recipe.feature_matching)
        self.record(loss_real + loss_fake, loss_g, d_real, d_fake, iterations, iterations)

    def iterate_batches(self, n):
        for batch in data.batches(self.images, n, self.data_rng):
            yield backend.to_device(batch, self.config.device)

    def random_batch(self, n):
        """As the original: n random training images, drawn with replacement across batches."""
        idx = self.data_rng.integers(0, len(self.images), n)
        return backend.to_device(self.images[idx], self.config.device)

    # Progress: losses stay on the device and are read back every log_every iterations
    def accumulate(self, loss_d, loss_g, d_real, d_fake):
        sums = self._sums
        for key, value in (("loss_d", loss_d), ("loss_g", loss_g), ("d_real", d_real),
                           ("d_fake", d_fake)):
            if value is not None:
                sums[key] = sums.get(key, 0) + value
                sums["n_" + key] = sums.get("n_" + key, 0) + 1

    def record(self, loss_d, loss_g, d_real, d_fake, i, total):
        self.accumulate(loss_d, loss_g, d_real, d_fake)
        if loss_g is not None:
            self.g_steps += 1
        if i % self.config.log_every and i != total:
            return
        means = {k: float(self._sums[k]) / self._sums["n_" + k]
                 for k in ("loss_d", "loss_g", "d_real", "d_fake") if k in self._sums}
        for key, value in means.items():
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"{key} became {value} at epoch {self.epoch + 1}, iteration {i}; training "
                    f"stopped. The last good checkpoint is {self.out / 'checkpoint.pkl'} (resume "
                    "with --resume, perhaps with a lower --lr)")
        self.points["iteration"].append(self.g_steps)
        for key in ("loss_d", "loss_g", "d_real", "d_fake"):
            self.points[key].append(means.get(key, float("nan")))
        for key, value in means.items():
            count = self._sums["n_" + key]
            self._epoch_sums[key] = self._epoch_sums.get(key, 0.0) + value * count
            self._epoch_sums["n_" + key] = self._epoch_sums.get("n_" + key, 0) + count
        self._sums = {}
        elapsed = time.perf_counter() - self._epoch_start
        rate = i * self.config.batch_size / elapsed
        eta = (total - i) / max(i, 1) * elapsed
        bar = "#" * int(20 * i / total)
        self.log(f"epoch {self.epoch + 1}/{self.config.epochs} [{bar:<20}] {i}/{total}  "
                 f"loss D {means['loss_d']:.3f} G {means['loss_g']:.3f}  "
                 f"D(x) {means['d_real']:.3f} D(G(z)) {means['d_fake']:.3f}  "
                 f"{rate:.0f} img/s  ETA {eta:.0f}s")

    # The run
    def train(self):
        self.out.mkdir(parents=True, exist_ok=True)
        self.log(f"minigan GAN: schedule {self.config.schedule}, recipe {self.recipe.describe()}, "
                 f"device {self.config.device}, output in {self.out}")
        while self.epoch < self.config.epochs:
            self._sums, self._epoch_sums = {}, {}
            self._epoch_start = time.perf_counter()
            self.D.train()
            self.G.train()
            (self.seed_epoch if self.config.schedule == "seed" else self.standard_epoch)()
            seconds = time.perf_counter() - self._epoch_start
            summary = {k: self._epoch_sums[k] / self._epoch_sums["n_" + k]
                       for k in ("loss_d", "loss_g", "d_real", "d_fake")}
            self.epoch += 1
            self.epochs.append({"epoch": self.epoch, "g_steps": self.g_steps,
                                "seconds": round(seconds, 2), **summary})
            if self.config.eval_every and self.epoch % self.config.eval_every == 0:
                self.score()
            if self.epoch % self.config.sample_every == 0 or self.epoch == self.config.epochs:
                self.save_samples()
            self.save_checkpoint()
            self.save_history()
            if self.on_epoch_end is not None:
                self.on_epoch_end(self)
        self.finish()
        return self.epochs[-1]

    def generate(self, noise):
        self.G.eval()
        with no_grad():
            images = self.G(noise).numpy()
        self.G.train()
        return images

    def score(self):
        """FID and digit coverage of eval_samples images (minigan.metrics), into this epoch's
        history row and the progress log. Uses its own noise: the training's stream is
        untouched, so scoring does not change the run."""
        from minigan import metrics
        n = self.config.eval_samples
        noise = np.random.default_rng(10_000 + self.epoch).standard_normal((n, gan.NOISE_DIM))
        images = self.generate(tensor(noise.astype(np.float32), device=self.config.device))
        result = metrics.evaluate_images(images, self.eval_images[:n])
        self.epochs[-1].update(fid=round(result["fid"], 4), digits=result["digits_covered"],
                               kl_uniform=round(result["kl_to_uniform"], 4),
                               confidence=round(result["confidence"], 4))
        self.log(f"epoch {self.epoch}: FID {result['fid']:.3f}, digits covered "
                 f"{result['digits_covered']}/10, KL to uniform {result['kl_to_uniform']:.3f}")

    def save_samples(self):
        side = SEED_SCHEDULE["grid"] if self.config.schedule == "seed" else 8
        images = self.generate(self.fixed_noise)
        visualize.save_grid(self.out / f"samples_epoch{self.epoch:03d}.png", images, side, side)
        self.frames.append(visualize.grid(images, 8, 8))

    def save_history(self):
        fields = list(dict.fromkeys(k for row in self.epochs for k in row))  # scores: some rows
        with open(self.out / "history.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(self.epochs)
        scores = [row for row in self.epochs if "fid" in row]
        visualize.save_curves(self.out / "losses.png", self.points,
                              f"minigan GAN, recipe {self.recipe.name}, {self.config.schedule} "
                              "schedule", scores=scores)

    def finish(self):
        images = self.generate(self.fixed_noise)
        visualize.save_grid(self.out / "final_grid.png", images, 8, 8)
        visualize.save_gif(self.out / "progress.gif", self.frames)
        save_atomic(self.out / "generator.npz", lambda f: np.savez(f, **self.G.state_dict()))
        with open(self.out / "recipe.json", "w") as f:
            json.dump(dataclasses.asdict(self.recipe), f, indent=2)

    # Checkpoints: everything needed to continue exactly where the run stopped
    def state(self):
        rngs = {"minigan_cpu": backend.rng("cpu").bit_generator.state,
                "data": self.data_rng.bit_generator.state}
        return {"format": 1, "config": dataclasses.asdict(self.config),
                "recipe": dataclasses.asdict(self.recipe), "epoch": self.epoch,
                "g_steps": self.g_steps, "G": self.G.state_dict(), "D": self.D.state_dict(),
                "opt_d": self.opt_d.state_dict(), "opt_g": self.opt_g.state_dict(), "rng": rngs,
                "fixed_noise": self.fixed_noise.numpy(), "points": self.points,
                "epochs": self.epochs, "frames": self.frames}

    def save_checkpoint(self):
        save_atomic(self.out / "checkpoint.pkl", lambda f: pickle.dump(self.state(), f))

    def load_state(self, state):
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.opt_g.load_state_dict(state["opt_g"])
        backend.rng("cpu").bit_generator.state = state["rng"]["minigan_cpu"]
        self.data_rng.bit_generator.state = state["rng"]["data"]
        self.fixed_noise.data = backend.to_device(state["fixed_noise"], self.config.device)
        self.epoch, self.g_steps = state["epoch"], state["g_steps"]
        self.points, self.epochs, self.frames = state["points"], state["epochs"], state["frames"]


def load_checkpoint(path):
    """The dict a Trainer saved; a clear error when the file is missing or not a checkpoint."""
    try:
        with open(path, "rb") as f:
            state = pickle.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint {path} does not exist") from None
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable minigan checkpoint ({exc})") from exc
    if not isinstance(state, dict) or state.get("format") != 1:
        raise ValueError(f"{path} is not a minigan checkpoint (format 1)")
    return state


def resume(path, images, *, epochs=None, device=None, out=None, log=print, eval_images=None,
           eval_every=None):
    """A Trainer restored from a checkpoint, ready to continue (optionally to more epochs, or
    with scores every `eval_every` epochs where the checkpoint had none or another interval)."""
    state = load_checkpoint(path)
    config = TrainConfig(**state["config"])
    if epochs is not None:
        config.epochs = epochs
    if eval_every is not None:
        config.eval_every = eval_every
    if device is not None:
        config.device = backend.normalize_device(device)
    config.out = out or str(Path(path).parent)
    if eval_images is None:
        config.eval_every = 0  # no real images to score against: resume without scores
    trainer = Trainer(config, images, log=log, recipe=gan.Recipe(**state["recipe"]),
                      eval_images=eval_images)
    trainer.load_state(state)
    return trainer


def progress_printer(stream=sys.stdout):
    """Progress lines overwrite each other on a terminal and stack up in a log file."""
    interactive = stream.isatty()

    def log(line):
        if interactive and line.startswith("epoch "):
            stream.write("\r" + line[:150].ljust(150))
            if "ETA 0s" in line:
                stream.write("\n")
        else:
            stream.write(line + "\n")
        stream.flush()
    return log
