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
import sys
import time
from pathlib import Path

import numpy as np

import minigan.functional as F
from minigan import backend, checkpoint, data, gan, visualize
from minigan.autograd import no_grad, tensor
from minigan.checkpoint import CheckpointError, save_atomic  # noqa: F401  (part of this API)
from minigan.run_folder import OutputError, fresh_run_folder, prepare_output  # noqa: F401

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
        for name, minimum in (("epochs", 1), ("batch_size", 1), ("sample_every", 1),
                              ("log_every", 1), ("seed", 0), ("eval_every", 0),
                              ("eval_samples", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name} must be at least {minimum} (a whole number), got "
                                 f"{value!r}")
        for name in ("schedule", "recipe", "device"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string, got {getattr(self, name)!r}")
        if self.schedule not in ("standard", "seed"):
            raise ValueError(f"schedule must be 'standard' or 'seed', got {self.schedule!r}")
        gan.get_recipe(self.recipe)
        self.device = backend.normalize_device(self.device)
        if self.lr is not None and (isinstance(self.lr, bool) or not isinstance(
                self.lr, (int, float)) or not math.isfinite(self.lr) or self.lr <= 0):
            raise ValueError(f"lr must be a positive finite number (or None: the recipe's), "
                             f"got {self.lr!r}")
        if self.out is None:
            self.out = fresh_run_folder()
        elif not isinstance(self.out, (str, os.PathLike)):
            raise ValueError(f"out must be a folder path, got {self.out!r}")
        self.out = str(self.out)


class TrainingDiverged(RuntimeError):
    """A loss, a weight or a running statistic became NaN or infinite."""


# D(x) and D(G(z)) both within this of 0 (or of 1) for a whole logging window: D has saturated.
SATURATION = 1e-3
# A loss beyond this means the run has diverged: BCE is clamped at 100 per term.
LOSS_LIMIT = 1e4


def divergence_warning(means):
    """A sentence when the logged means show a run that failed without a NaN: losses beyond any
    meaningful range, or D's outputs pinned at 0 or at 1 for real and fake alike (D has
    saturated: its gradients vanish and neither network learns). None when all looks sane."""
    huge = [f"loss {k[-1].upper()} {means[k]:.3g}" for k in ("loss_d", "loss_g")
            if k in means and abs(means[k]) > LOSS_LIMIT]
    if huge:
        return (f"{', '.join(huge)} is beyond any meaningful range: the run has diverged "
                "(a lower --lr may help)")
    d_real, d_fake = means.get("d_real"), means.get("d_fake")
    if d_real is None or d_fake is None:
        return None
    for value, pinned in ((0, max(d_real, d_fake) < SATURATION),
                          (1, min(d_real, d_fake) > 1 - SATURATION)):
        if pinned:
            return (f"D(x) {d_real:.4f} and D(G(z)) {d_fake:.4f} are both pinned at {value}: the "
                    "discriminator has saturated and neither network learns (a lower --lr may "
                    "help)")
    return None


class Trainer:
    """Holds the models, optimizers, data and history of one run. `recipe` (a gan.Recipe)
    replaces the one config.recipe names, e.g. to try a variant or to resume one."""

    def __init__(self, config, images, *, log=print, recipe=None, on_epoch_end=None,
                 eval_images=None, overwrite=False):
        if not isinstance(images, np.ndarray) or images.ndim != 2 or images.shape[1] != \
                gan.IMAGE_SIZE or images.dtype != np.float32:
            raise ValueError("images must be a float32 NumPy array (N, 784) in [-1, 1], as "
                             "data.load_mnist returns")
        if config.batch_size > len(images):
            raise ValueError(f"batch size {config.batch_size} is larger than the "
                             f"{len(images)} training images: use a smaller --batch-size (or "
                             "more images)")
        self.config, self.images, self.log = config, images, log
        self.overwrite = overwrite    # a fresh run may replace the outputs in config.out
        self.own_output = False       # True for a run resumed into its checkpoint's folder
        self.output_ready = False
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
                raise TrainingDiverged(f"{key} became {value} at epoch {self.epoch + 1}, "
                                       f"iteration {i}; training stopped. {self.last_good()}")
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
        warning = divergence_warning(means)
        if warning:
            self._epoch_warning = self._epoch_warning or warning
            self.log(f"warning: epoch {self.epoch + 1}, iteration {i}: {warning}")

    def last_good(self):
        """Where the run can be resumed from, for the message that stops it."""
        path = self.out / "checkpoint.npz"
        if path.is_file():
            return f"The last good checkpoint is {path} (resume with --resume {path})"
        return ("No checkpoint was written yet (one is saved after each epoch): start again, "
                "perhaps with a lower --lr")

    def check_finite_state(self):
        """Every weight and buffer of G and D finite: the losses in training mode never see the
        running statistics, and a NaN there would reach every image sampled in eval mode."""
        for net_name, net in (("G", self.G), ("D", self.D)):
            for name, t in net.named_tensors():
                if not bool(backend.xp_of(t.data).isfinite(t.data).all()):
                    raise TrainingDiverged(
                        f"{net_name}.{name} holds NaN or infinite values after epoch "
                        f"{self.epoch}; training stopped before saving. {self.last_good()}")

    # The run
    def train(self):
        if not self.output_ready:
            prepare_output(self.out, overwrite=self.overwrite, own_run=self.own_output)
            for name in ("checkpoint.npz", "generator.npz"):
                checkpoint.remove_orphans(self.out / name)
            self.output_ready = True
        self.log(f"minigan GAN: schedule {self.config.schedule}, recipe {self.recipe.describe()}, "
                 f"device {self.config.device}, output in {self.out}")
        while self.epoch < self.config.epochs:
            self._sums, self._epoch_sums, self._epoch_warning = {}, {}, None
            self._epoch_start = time.perf_counter()
            self.D.train()
            self.G.train()
            try:
                (self.seed_epoch if self.config.schedule == "seed" else self.standard_epoch)()
            except F.DomainError as exc:  # the trainer's labels are valid: D's output is not
                raise TrainingDiverged(f"training stopped in epoch {self.epoch + 1}: {exc}. "
                                       f"{self.last_good()}") from None
            seconds = time.perf_counter() - self._epoch_start
            summary = {k: self._epoch_sums[k] / self._epoch_sums["n_" + k]
                       for k in ("loss_d", "loss_g", "d_real", "d_fake")}
            self.epoch += 1
            self.check_finite_state()
            self.epochs.append({"epoch": self.epoch, "g_steps": self.g_steps,
                                "seconds": round(seconds, 2), **summary})
            if self._epoch_warning:
                self.epochs[-1]["warning"] = self._epoch_warning
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
        """(arrays, document): every array by name, and the rest as JSON-able values."""
        arrays = {f"{prefix}/{k}": v for prefix, net in (("G", self.G), ("D", self.D))
                  for k, v in net.state_dict().items()}
        optimizers = {}
        for prefix, opt in (("opt_d", self.opt_d), ("opt_g", self.opt_g)):
            saved = opt.state_dict()
            plain = []
            for i, per_param in enumerate(saved["state"]):
                plain.append({k: v for k, v in per_param.items() if not hasattr(v, "shape")})
                arrays.update({f"{prefix}/{i}/{k}": v for k, v in per_param.items()
                               if hasattr(v, "shape")})
            optimizers[prefix] = {"hyper": saved["hyper"], "state": plain}
        arrays["fixed_noise"] = self.fixed_noise.numpy()
        arrays.update({f"points/{k}": np.asarray(v, dtype=np.float64)
                       for k, v in self.points.items()})
        arrays["frames"] = np.stack(self.frames) if self.frames else np.zeros((0, 0, 0), np.uint8)
        rngs = {"minigan_cpu": backend.rng("cpu").bit_generator.state,
                "data": self.data_rng.bit_generator.state}
        document = {"config": dataclasses.asdict(self.config),
                    "recipe": dataclasses.asdict(self.recipe), "epoch": self.epoch,
                    "g_steps": self.g_steps, "n_images": len(self.images), "rng": rngs,
                    "optimizers": optimizers, "epochs": self.epochs}
        return arrays, document

    def save_checkpoint(self):
        path = self.out / "checkpoint.npz"
        checkpoint.remove_orphans(path)
        checkpoint.save(path, *self.state())

    def load_state(self, state):
        """Restore what load_checkpoint read; every array is checked (dtype, shape, finite)."""
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.opt_g.load_state_dict(state["opt_g"])
        for name, rng in (("minigan_cpu", backend.rng("cpu")), ("data", self.data_rng)):
            if state["rng"][name].get("bit_generator") != "PCG64":
                raise ValueError(f"random state {name!r} is not a PCG64 state")
            rng.bit_generator.state = state["rng"][name]
        noise = state["fixed_noise"]
        if noise.dtype != np.float32 or noise.shape != self.fixed_noise.shape or \
                not np.isfinite(noise).all():
            raise ValueError(f"fixed_noise must be finite float32 {self.fixed_noise.shape}")
        self.fixed_noise.data = backend.to_device(noise, self.config.device)
        self.epoch, self.g_steps = state["epoch"], state["g_steps"]
        self.points, self.epochs, self.frames = state["points"], state["epochs"], state["frames"]


def load_checkpoint(path):
    """The state a Trainer saved, as one dict (models' and optimizers' state dicts, RNG states,
    history...); FileNotFoundError or CheckpointError (one line) when the file is missing, is not
    a checkpoint (a pickle is never unpickled), or was damaged (SHA-256 mismatch)."""
    arrays, document = checkpoint.load(path)
    try:
        return dict(_assemble(arrays, document), path=str(path))
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise CheckpointError(f"{path} is not a valid minigan checkpoint ({exc})") from None


def _assemble(arrays, document):
    """The nested state dict from the flat arrays and the JSON document; unknown arrays refused."""
    state = {k: document[k] for k in ("config", "recipe", "rng", "epochs")}
    for key in ("epoch", "g_steps", "n_images"):
        if isinstance(document[key], bool) or not isinstance(document[key], int) or \
                document[key] < 0:
            raise ValueError(f"{key} must be a whole number >= 0, got {document[key]!r}")
        state[key] = document[key]
    if not isinstance(state["epochs"], list) or len(state["epochs"]) != state["epoch"] or \
            not all(isinstance(row, dict) for row in state["epochs"]):
        raise ValueError("the epoch history does not match the epoch count")
    state["G"], state["D"] = {}, {}
    state["points"] = {}
    for prefix in ("opt_d", "opt_g"):
        saved = document["optimizers"][prefix]
        state[prefix] = {"hyper": {k: tuple(v) if isinstance(v, list) else v
                                   for k, v in saved["hyper"].items()},
                         "state": [dict(per_param) for per_param in saved["state"]]}
    for name, value in arrays.items():
        head, _, rest = name.partition("/")
        if head in ("G", "D") and rest:
            state[head][rest] = value
        elif head in ("opt_d", "opt_g") and rest.count("/") == 1 and rest[0].isdigit():
            index, key = rest.split("/")
            state[head]["state"][int(index)][key] = value
        elif head == "points" and rest in ("iteration", "loss_d", "loss_g", "d_real", "d_fake"):
            state["points"][rest] = [int(v) for v in value] if rest == "iteration" \
                else value.tolist()
        elif name == "fixed_noise":
            state[name] = value
        elif name == "frames" and value.dtype == np.uint8 and value.ndim == 3:
            state["frames"] = list(value)
        else:
            raise ValueError(f"unexpected array {name!r} {value.dtype} {value.shape}")
    if len(state["points"]) != 5 or len({len(v) for v in state["points"].values()}) != 1:
        raise ValueError("the logged points are incomplete")
    for key in ("fixed_noise", "frames"):
        if key not in state:
            raise ValueError(f"no {key!r} array")
    return state


def resume(source, images, *, epochs=None, device=None, out=None, log=print, eval_images=None,
           eval_every=None, lr=None, sample_every=None, log_every=None, overwrite=False):
    """A Trainer restored from a checkpoint (a path, or the dict load_checkpoint returned), ready
    to continue its planned epochs, or `epochs` in all. Safe to change on the way: the device,
    the output folder, how often it samples, logs and scores, and the learning rate (`lr`: both
    networks', from now on). The data must be the same size as the checkpoint's."""
    state = load_checkpoint(source) if isinstance(source, (str, os.PathLike)) else source
    path = Path(state["path"]) if state.get("path") else None
    where = path or "the checkpoint"
    if path is None and out is None:
        raise ValueError("resume: give `out` when the state does not come from a file")
    try:
        config = TrainConfig(**state["config"])
        recipe = gan.Recipe(**state["recipe"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where} holds an invalid configuration ({exc})") from None
    done = state["epoch"]
    if epochs is not None:
        if epochs < done:
            raise ValueError(f"--epochs {epochs} is fewer than the {done} epochs {where} has "
                             f"already trained: give the new total, more than {done}")
        config.epochs = epochs
    elif done >= config.epochs:
        raise ValueError(f"{where} has already trained its planned {config.epochs} epochs: give "
                         "--epochs with a larger total to train further")
    if len(images) != state["n_images"]:
        raise ValueError(f"{where} was trained on {state['n_images']} images, but "
                         f"{len(images)} were given: resume with the same data (the same "
                         "--limit)")
    for name, value in (("eval_every", eval_every), ("sample_every", sample_every),
                        ("log_every", log_every)):
        if value is not None:
            setattr(config, name, value)
    if device is not None:
        config.device = backend.normalize_device(device)
    own_folder = path.parent if path is not None else None
    config.out = str(out if out is not None else own_folder)
    if eval_images is None:
        config.eval_every = 0  # no real images to score against: resume without scores
    TrainConfig(**dataclasses.asdict(config))  # the changed settings, validated
    trainer = Trainer(config, images, log=log, recipe=recipe, eval_images=eval_images,
                      overwrite=overwrite)
    trainer.own_output = own_folder is not None and \
        Path(config.out).resolve() == own_folder.resolve()
    try:
        trainer.load_state(state)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{where} does not fit the model it describes ({exc})") from None
    if lr is not None:
        trainer.config.lr = lr
        trainer.recipe = dataclasses.replace(trainer.recipe, lr_d=lr, lr_g=lr)
        trainer.opt_d.hyper["lr"] = trainer.opt_g.hyper["lr"] = lr
    return trainer


def progress_printer(stream=sys.stdout):
    """Progress lines overwrite each other on a terminal and stack up in a log file; any other
    line (a warning, a score) starts on a line of its own."""
    interactive = stream.isatty()
    open_line = False  # a progress line is on screen without its newline

    def log(line):
        nonlocal open_line
        if interactive and line.startswith("epoch ") and "/" in line.split()[1]:
            stream.write("\r" + line[:150].ljust(150))
            open_line = "ETA 0s" not in line
            if not open_line:
                stream.write("\n")
        else:
            stream.write(("\n" if open_line else "") + line + "\n")
            open_line = False
        stream.flush()
    return log
