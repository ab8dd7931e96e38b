"""The GAN trainer: it builds the recipe's networks (minigan.build), runs the configured schedule
(minigan.schedules) epoch by epoch, scores, samples, saves checkpoints and resumes from them.
Its settings are a TrainConfig (minigan.config); progress lines come from minigan.progress,
files from minigan.run_writer.
"""
import dataclasses
import os
from pathlib import Path

import numpy as np

import minigan.functional as F
from minigan import (backend, build, checkpoint, conditional, data, distributed, ema, gan,
                     sampling, threads)
from minigan.autograd import no_grad, tensor
from minigan.batch import LOCAL_BATCH
from minigan.checkpoint import CheckpointError, save_atomic  # noqa: F401  (part of this API)
from minigan.config import MINIMUMS, SCHEDULE_DEFAULTS, TrainConfig  # noqa: F401  (this API's)
from minigan.progress import (ProgressMeter, TerminalLog, TrainingDiverged,  # noqa: F401
                              as_log, divergence_warning)
from minigan.recipes import Recipe, get_recipe
from minigan.run_checks import (check_batch_statistics, check_data_parallel, check_images,
                                check_labels, check_ranks, data_parallel_settings)
from minigan.run_folder import OutputError, fresh_run_folder, prepare_output  # noqa: F401
from minigan.run_writer import RunWriter, RunWriteError, finish_command
from minigan.schedules import SCHEDULES


class Trainer:
    """Holds the models, optimizers, data and history of one run. `recipe` (a Recipe) replaces
    the one config.recipe names, e.g. to try a variant or to resume one. `labels` (the images'
    digits) are what a conditional recipe trains with; others ignore them. `log` takes each line
    of progress (print by default; a progress.TerminalLog redraws them on a terminal). `comm` (a
    distributed.Communicator) makes the run data-parallel: every rank runs this trainer on its
    share of each batch (minigan.distributed); rank 0 alone logs and writes the outputs."""

    def __init__(self, config, images, *, labels=None, log=print, recipe=None,
                 on_epoch_end=None, eval_images=None, overwrite=False, comm=None):
        recipe = get_recipe(recipe or config.recipe)
        check_images(images, config, recipe)
        if comm is not None:
            check_ranks(comm, config, recipe)
        if comm is not None and (config.early_stop or config.target_fid
                                 or config.stop_on_divergence):
            raise ValueError("early stopping (--early-stop, --target-fid, --stop-on-divergence) "
                             "runs on one process: leave it out of a --distributed run")
        self.comm = comm
        self.is_root = comm is None or comm.rank == 0    # the rank that logs and writes
        self.labels = check_labels(labels, images, recipe)   # None: an unconditional run
        if config.eval_every and eval_images is None:
            raise ValueError("eval_every needs eval_images: real images (e.g. the MNIST test "
                             "set) to compare generated ones with")
        self.config, self.images, self.recipe = config, images, recipe
        self.eval_images = eval_images    # real images (test set) for the scores
        self.on_epoch_end = on_epoch_end  # called as on_epoch_end(trainer) after each epoch
        self.overwrite = overwrite        # a fresh run may replace the outputs in config.out
        self.own_output = False           # True for a run resumed into its checkpoint's folder
        self.resumed_from = None          # the checkpoint a resumed run started from
        self.saved = None                 # (path, epoch) of the last good checkpoint
        self.finish_command = finish_command   # (checkpoint, epochs) -> how to finish the run
        self.log = as_log(log if self.is_root else lambda line: None)
        self.meter = ProgressMeter(self.log, config.log_every, config.batch_size, config.epochs)
        # A conditional run's grids have one row per digit, ten samples each.
        self.writer = RunWriter(config.out, conditional.DIGITS if recipe.conditional
                                else SCHEDULE_DEFAULTS[config.schedule]["grid"],
                                frame=conditional.DIGITS if recipe.conditional else 8)
        # This run's device and random stream, current only while it builds, trains and samples
        self.run_state = backend.RunState(config.device, config.seed)
        with self.run_state:
            self.build_networks(recipe, comm)
            side = self.writer.frame
            self.fixed_noise = gan.sample_noise(side * side, config.device)  # comparable grids
        self.data_rng = np.random.default_rng(config.seed)
        self.fixed_labels = np.repeat(np.arange(conditional.DIGITS), conditional.DIGITS) \
            if recipe.conditional else None                  # row r of the grid: digit r
        self.epoch = 0
        self.g_steps = 0
        self.epochs = []  # one dict per finished epoch
        self.stop_reason = None   # why the run stops before its planned epochs (stop_rule)

    out = property(lambda self: self.writer.out)

    def build_networks(self, recipe, comm):
        """G, D, their optimizers, and what the steps take besides them; in a data-parallel run
        rank 0's start for every rank and gradients averaged before each step."""
        self.G, self.D, self.opt_d, self.opt_g = build.build(recipe)
        check_batch_statistics(self.G, self.D, self.config, recipe, comm)
        self.given = build.networks_given(recipe)   # (G, D, labels) -> what a step trains
        self.batch = LOCAL_BATCH     # where the steps draw noise and take means (minigan.batch)
        if comm is not None:   # batch-wide layers over the global batch, one start for all
            self.G = distributed.convert(self.G, comm)
            self.D = distributed.convert(self.D, comm)
            self.batch = distributed.GlobalBatch(comm)
            comm.broadcast(self.G)
            comm.broadcast(self.D)
            self.opt_d = distributed.AveragingOptimizer(self.opt_d, comm)
            self.opt_g = distributed.AveragingOptimizer(self.opt_g, comm)
        # The generator the run samples, scores and keeps: G, or the average of its weights
        self.sampled = self.G
        if self.recipe.ema:
            self.opt_g = ema.WeightAveraging(self.opt_g, self.G, self.recipe.ema)
            self.sampled = self.opt_g.average

    def noise_std(self):
        """Instance noise, annealed linearly from the recipe's value to 0 over the run."""
        return self.recipe.instance_noise * max(0.0, 1 - self.epoch / self.config.epochs)

    def iterations(self):
        return SCHEDULES[self.config.schedule].iterations(self)

    def iterate_batches(self):
        """(images, labels or None) of one shuffled pass over the training set."""
        n = self.config.batch_size
        for order in data.batches(np.arange(len(self.images)), n, self.data_rng):
            yield self.batch_at(order)

    def random_batch(self, n):
        """As the original: n random training images, drawn with replacement across batches."""
        return self.batch_at(self.data_rng.integers(0, len(self.images), n))

    def batch_at(self, idx):
        """The images at idx on the run's device, and their labels in a conditional run; in
        data-parallel training, this rank's share of them (idx is the global batch)."""
        if self.comm is not None:
            share = len(idx) // self.comm.size
            idx = idx[self.comm.rank * share:(self.comm.rank + 1) * share]
        labels = None if self.labels is None else self.labels[idx]
        return backend.to_device(self.images[idx], self.config.device), labels

    def global_values(self, **values):
        """The step's losses and mean outputs as one process would report them on the whole
        batch: each rank's averaged over the ranks (its batch means are over equal shares)."""
        if self.comm is None:
            return values
        names = [name for name, value in values.items() if value is not None]
        means = self.comm.mean_of([values[name] for name in names])
        return dict(values, **dict(zip(names, means)))

    # The run
    def train(self):
        """Train the planned epochs; returns the last epoch's row. Holds the run folder meanwhile
        (RunWriter.open: a second run on it stops at once). Keeps freed memory in the heap for
        the process (backend.keep_freed_memory_in_heap: the loop reuses warm pages) and
        OpenBLAS on one thread for the loop (threads.blas_on_one_thread)."""
        backend.keep_freed_memory_in_heap()
        note = self.writer.open(self.overwrite, self.own_output, self.resumed_from) \
            if self.is_root else None
        try:
            processes = f", {self.comm.size} processes ({self.comm.collectives.name})" \
                if self.comm is not None else ""
            self.log.line(f"minigan GAN: schedule {self.config.schedule}, recipe "
                          f"{self.recipe.describe()}, device {self.config.device}{processes}, "
                          f"output in {self.out}")
            if note:   # a killed run's lock file, taken over
                self.log.line(note)
            with self.run_state, threads.blas_on_one_thread():
                while self.epoch < self.config.epochs and self.stop_reason is None:
                    self.run_epoch()
                    self.end_epoch()
                if self.is_root:
                    self.writer.finish(self.generate(self.fixed_noise, self.fixed_labels),
                                       self.sampled.state_dict(), self.recipe,
                                       self.G.state_dict() if self.recipe.ema else None)
                    self.log_best()
                    self.writer.report(self.training_floor())
        except RunWriteError as exc:
            raise exc.told(self.saved, self.config.epochs, self.finish_command) from None
        finally:
            self.writer.close()
        return self.epochs[-1]

    def run_epoch(self):
        self.D.train()
        self.G.train()
        self.meter.start_epoch(self.epoch, self.iterations())
        try:
            SCHEDULES[self.config.schedule].epoch(self)
        except TrainingDiverged as exc:
            raise TrainingDiverged(f"{exc} {self.last_good()}") from None
        except F.DomainError as exc:  # the trainer's labels are valid: D's output is not
            raise TrainingDiverged(f"training stopped in epoch {self.epoch + 1}: {exc}. "
                                   f"{self.last_good()}") from None
        except distributed.DistributedError as exc:   # a rank stopped coming (a timeout)
            raise distributed.DistributedError(f"{exc}. {self.last_good()}") from None

    def end_epoch(self):
        """Check the state, record the epoch, score and sample when due, save everything."""
        self.epoch += 1
        self.check_finite_state()
        self.epochs.append({"epoch": self.epoch, "g_steps": self.g_steps,
                            **self.meter.summary()})
        if not self.is_root:   # rank 0 scores and writes; the others train on
            return
        if self.config.eval_every and self.epoch % self.config.eval_every == 0:
            self.score()
            best = best_row(self.epochs)
            for row in self.epochs:       # history.csv's "best" column: 1 on the best epoch
                if "fid" in row:
                    row["best"] = int(row is best)
            if best is self.epochs[-1]:
                self.writer.best(best, self.sampled.state_dict(), self.recipe)
            self.stop_reason = stop_rule(self.epochs, self.config)
        diverged = self.config.stop_on_divergence and "warning" in self.epochs[-1]
        if diverged:
            self.stop_reason = f"diverged: {self.epochs[-1]['warning']}"
        if self.stop_reason is not None:
            self.epochs[-1]["stop"] = self.stop_reason
        if self.config.samples_after(self.epoch):
            self.writer.samples(self.epoch, self.generate(self.fixed_noise, self.fixed_labels))
        self.writer.history(self.epochs, self.meter.points, f"minigan GAN, recipe "
                            f"{self.recipe.name}, {self.config.schedule} schedule")
        if diverged:   # this epoch's weights are not saved: the last good checkpoint stays
            raise TrainingDiverged(f"epoch {self.epoch} {self.stop_reason} "
                                   "(--stop-on-divergence: its weights are not saved).")
        # Last: a checkpoint's epoch has all its files, so resuming from it repeats none.
        self.writer.checkpoint(*checkpoint.flatten(self.state()))
        self.saved = (self.out / "checkpoint.npz", self.epoch)
        if self.stop_reason is not None:
            self.log.line(f"stopped after epoch {self.epoch} of {self.config.epochs}: "
                          f"{self.stop_reason}; --resume {self.saved[0]} continues it")
        if self.on_epoch_end is not None:
            self.on_epoch_end(self)

    def training_floor(self):
        """The honest FID floor for the run's report (metrics.training_floor): training images
        scored against the test images the run was scored against; None when the run scored
        nothing or has fewer training images than it scores."""
        from minigan import metrics
        n = self.config.eval_samples
        if best_row(self.epochs) is None or len(self.images) < n:
            return None
        return metrics.training_floor(self.images, self.eval_images[:n])

    def log_best(self):
        """The best-scored epoch against the last scored one, when the run scored any."""
        best, scored = best_row(self.epochs), [row for row in self.epochs if "fid" in row]
        if best is None:
            return
        last = scored[-1]
        gain = (f", {last['fid'] - best['fid']:.3f} below the last score (epoch {last['epoch']}, "
                f"FID {last['fid']:.3f})" if best is not last else ", the last one scored")
        self.log.line(f"best generator: epoch {best['epoch']}, FID {best['fid']:.3f}{gain}; "
                      f"{self.out / 'generator_best.npz'}")

    def last_good(self):
        """Where the run can be resumed from, for the message that stops it."""
        if self.saved is not None:
            return (f"The last good checkpoint is {self.saved[0]} (resume with --resume "
                    f"{self.saved[0]})")
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

    def generate(self, noise, labels=None, G=None):
        """The sampled generator's images (N, 784) of the noise in eval mode (or G's); a
        conditional one draws `labels` (default: each digit in turn)."""
        G = self.sampled if G is None else G
        if self.recipe.conditional and labels is None:
            labels = sampling.digit_labels(len(noise))
        training = G.training
        G.eval()
        with self.run_state, no_grad():
            images = conditional.draw(G, noise, labels).numpy()
        G.train(training)
        return images

    def score(self):
        """FID and digit coverage of eval_samples images (minigan.metrics), into this epoch's
        history row and the progress log. Uses its own noise: the training's stream is
        untouched, so scoring does not change the run."""
        from minigan import metrics
        n = self.config.eval_samples
        noise = np.random.default_rng(10_000 + self.epoch).standard_normal((n, gan.NOISE_DIM))
        labels = sampling.digit_labels(n) if self.recipe.conditional else None
        noise = tensor(noise.astype(np.float32), device=self.config.device)
        result = metrics.evaluate_images(self.generate(noise, labels), self.eval_images[:n],
                                         labels=labels)
        self.epochs[-1].update(fid=round(result["fid"], 4), digits=result["digits_covered"],
                               kl_uniform=round(result["kl_to_uniform"], 4),
                               confidence=round(result["confidence"], 4))
        raw = ""
        if self.recipe.ema:   # the trained generator too, on the same noise
            trained = metrics.evaluate_images(self.generate(noise, labels, self.G),
                                              self.eval_images[:n], labels=labels)
            self.epochs[-1].update(fid_raw=round(trained["fid"], 4),
                                   digits_raw=trained["digits_covered"])
            raw = f" (averaged generator; the trained one: FID {trained['fid']:.3f})"
        accuracy = ""
        if labels is not None:
            self.epochs[-1]["label_accuracy"] = round(result["label_accuracy"], 4)
            accuracy = f", label accuracy {100 * result['label_accuracy']:.1f}%"
        self.log.line(f"epoch {self.epoch}: FID {result['fid']:.3f}, digits covered "
                      f"{result['digits_covered']}/10, KL to uniform "
                      f"{result['kl_to_uniform']:.3f}{accuracy}{raw}")

    # Checkpoints: everything needed to continue exactly where the run stopped
    def state(self):
        with self.run_state:
            minigan_cpu = backend.rng("cpu").bit_generator.state
        rngs = {"minigan_cpu": minigan_cpu,
                "data": self.data_rng.bit_generator.state}
        return {"config": dataclasses.asdict(self.config),
                "recipe": dataclasses.asdict(self.recipe), "epoch": self.epoch,
                "g_steps": self.g_steps, "n_images": len(self.images), "rng": rngs,
                "epochs": self.epochs, "G": self.G.state_dict(), "D": self.D.state_dict(),
                "opt_d": self.opt_d.state_dict(), "opt_g": self.opt_g.state_dict(),
                "fixed_noise": self.fixed_noise.numpy(), "points": self.meter.points,
                "frames": self.writer.frames, "data_parallel": self.data_parallel(),
                **({"G_average": self.sampled.state_dict(),
                    "average_updates": self.opt_g.updates} if self.recipe.ema else {})}

    def data_parallel(self):
        """How the run's processes share it: their number, and whether each keeps its own batch
        statistics (--local-statistics: then the run depends on the number)."""
        return {"processes": 1 if self.comm is None else self.comm.size,
                "local_statistics": self.comm is not None and not self.comm.sync_statistics}

    def load_state(self, state):
        """Restore what load_checkpoint read; every array is checked (dtype, shape, finite). The
        learning rates are the trainer's recipe's (a resumed run may be given new ones)."""
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        if self.recipe.ema:
            if "G_average" not in state:
                raise ValueError("the checkpoint has no averaged generator: resume it with "
                                 "--ema 0, as it was trained")
            self.sampled.load_state_dict(state["G_average"])
            self.opt_g.updates = state["average_updates"]
        self.opt_d.load_state_dict(state["opt_d"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.hyper["lr"], self.opt_g.hyper["lr"] = self.recipe.lr_d, self.recipe.lr_g
        with self.run_state:
            minigan_cpu = backend.rng("cpu")
        for name, rng in (("minigan_cpu", minigan_cpu), ("data", self.data_rng)):
            if state["rng"][name].get("bit_generator") != "PCG64":
                raise ValueError(f"random state {name!r} is not a PCG64 state")
            rng.bit_generator.state = state["rng"][name]
        noise = state["fixed_noise"]
        if noise.dtype != np.float32 or noise.shape != self.fixed_noise.shape or \
                not np.isfinite(noise).all():
            raise ValueError(f"fixed_noise must be finite float32 {self.fixed_noise.shape}")
        self.fixed_noise.data = backend.to_device(noise, self.config.device)
        self.epoch, self.g_steps, self.epochs = state["epoch"], state["g_steps"], state["epochs"]
        self.meter.points, self.writer.frames = state["points"], state["frames"]


def stop_rule(epochs, config):
    """Why the run stops after its last scored epoch, or None: config.target_fid reached, or
    no FID better than the best for config.early_stop scores."""
    scored = [row for row in epochs if "fid" in row]
    last, best = scored[-1], best_row(epochs)
    if config.target_fid and last["fid"] <= config.target_fid:
        return f"FID {last['fid']:.3f} reached the target {config.target_fid:g} (--target-fid)"
    since = len(scored) - 1 - next(i for i, row in enumerate(scored) if row is best)
    if config.early_stop and since >= config.early_stop:
        return (f"FID has not improved for {since} scores (best {best['fid']:.3f} at epoch "
                f"{best['epoch']}; --early-stop {config.early_stop})")
    return None


def best_row(epochs):
    """The history row of the lowest FID (the first of equals), or None when none was scored."""
    scored = [row for row in epochs if "fid" in row]
    return min(scored, key=lambda row: row["fid"]) if scored else None


def load_checkpoint(path):
    """The state a Trainer saved, as one dict (models' and optimizers' state dicts, RNG states,
    history...); FileNotFoundError or CheckpointError (one line) when the file is missing, is not
    a checkpoint (a pickle is never unpickled), or was damaged (SHA-256 mismatch)."""
    arrays, document = checkpoint.load(path)
    try:
        state = checkpoint.unflatten(arrays, document)
        state["data_parallel"] = data_parallel_settings(state.get("data_parallel"))
        if "ema" in state["config"]:   # a checkpoint from when the decay was a TrainConfig's
            state["recipe"].setdefault("ema", state["config"].pop("ema"))
        return dict(state, path=str(path))
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise CheckpointError(f"{path} is not a valid minigan checkpoint ({exc})") from None


def resumed_config(state, where, epochs=None, **changes):
    """The checkpoint's TrainConfig with its planned epochs (or `epochs` in all) and the given
    changes (None: unchanged); CheckpointError when the stored one is invalid."""
    try:
        config = TrainConfig(**state["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where} holds an invalid configuration ({exc})") from None
    done = state["epoch"]   # --epochs done trains none: it writes the final files again
    again = (f"--epochs {done} trains no more and writes the run's final files (generator.npz, "
             "recipe.json, final_grid.png, progress.gif) again")
    if epochs is None and done >= config.epochs:
        raise ValueError(f"{where} has already trained its planned {config.epochs} epochs: give "
                         f"--epochs with a larger total to train further; {again}")
    if epochs is not None and epochs < done:
        raise ValueError(f"--epochs {epochs} is fewer than the {done} epochs {where} has "
                         f"already trained: give the new total, more than {done} to train "
                         f"further; {again}")
    changes = {k: v for k, v in dict(changes, epochs=epochs).items() if v is not None}
    return TrainConfig(**dict(dataclasses.asdict(config), **changes))  # validated again


def resume(source, images, *, labels=None, epochs=None, device=None, out=None, log=print,
           eval_images=None, eval_every=None, lr=None, sample_every=None, log_every=None,
           early_stop=None, target_fid=None, stop_on_divergence=None, overwrite=False,
           comm=None):
    """A Trainer restored from a checkpoint (a path, or the dict load_checkpoint returned), ready
    to continue its planned epochs, or `epochs` in all. Safe to change on the way: the device,
    the output folder, how often it samples, logs and scores, when it stops early, and the
    learning rate (`lr`: both networks', from now on). The data must be the same size as the
    checkpoint's, and the batch statistics as trained: per process (comm.sync_statistics False)
    on as many processes, or over the global batch (check_data_parallel)."""
    state = load_checkpoint(source) if isinstance(source, (str, os.PathLike)) else source
    path = Path(state["path"]) if state.get("path") else None
    where = path or "the checkpoint"
    if path is None and out is None:
        raise ValueError("resume: give `out` when the state does not come from a file")
    if len(images) != state["n_images"]:
        raise ValueError(f"{where} was trained on {state['n_images']} images, but "
                         f"{len(images)} were given: resume with the same data (the same "
                         "--limit)")
    check_data_parallel(state, comm, where)
    out = out if out is not None else path.parent
    config = resumed_config(state, where, epochs, device=device, out=str(out),
                            sample_every=sample_every, log_every=log_every,
                            eval_every=0 if eval_images is None else eval_every,
                            early_stop=0 if eval_images is None else early_stop,
                            target_fid=0.0 if eval_images is None else target_fid,
                            stop_on_divergence=stop_on_divergence)
    try:
        recipe = Recipe(**state["recipe"])
        if lr is not None:
            recipe = dataclasses.replace(recipe, lr_d=lr, lr_g=lr)
        trainer = Trainer(config, images, labels=labels, log=log, recipe=recipe,
                          eval_images=eval_images, overwrite=overwrite, comm=comm)
        trainer.load_state(state)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{where} does not fit the model it describes ({exc})") from None
    trainer.own_output = path is not None and Path(out).resolve() == path.parent.resolve()
    trainer.resumed_from = where
    trainer.saved = (path, state["epoch"]) if path is not None else None
    return trainer


def progress_printer(stream=None):
    """The log for a script (on sys.stdout by default): progress lines redrawn in place on a
    terminal, stacked elsewhere."""
    return TerminalLog(stream)
