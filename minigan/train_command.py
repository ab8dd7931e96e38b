"""Train the classic MNIST GAN with minigan: the command line of `minigan train` and of
examples/mnist_gan.py.

    python examples/mnist_gan.py --device cpu --epochs 1          # the default, stable recipe
    python examples/mnist_gan.py --schedule original --recipe original   # the Keras script's
    python examples/mnist_gan.py --model dcgan --conditional      # a DCGAN told which digit
    python examples/mnist_gan.py --resume runs/RUN/checkpoint.npz --epochs 20   # continue a run
    mpiexec -n 2 python examples/mnist_gan.py --distributed   # data-parallel over 2 processes

Writes sample grids, loss curves, a CSV history, a GIF, checkpoints and generator.npz under --out
(default: a new folder runs/<date-time>); an --out that already holds files is refused unless
--overwrite is given, and one another run is writing (it holds --out/minigan.lock) is refused.
Each file is written whole (a temporary file renamed over its name): when a write fails (a full
disk), the error names the file and gives the command that finishes the run.
"""
import argparse
import math
import shlex
import sys

from minigan import backend, data, distributed, train
from minigan.config import EVAL_SAMPLES, MINIMUMS, SCHEDULE_ALIASES, SCHEDULE_DEFAULTS
from minigan.recipes import (CONDITIONAL_CLASSIFIER, DEFAULT_RECIPE, DISCRIMINATORS,
                             FIELD_ALIASES, MODELS, RECIPE_ALIASES, RECIPES, Recipe,
                             recipe_from_flags)
from minigan.run_folder import fresh_run_folder

# Settings a flag left out takes from train.TrainConfig (a new run) or from the checkpoint.
SETTINGS = ("schedule", "recipe", "batch_size", "seed", "epochs", "sample_every", "log_every",
            "eval_every", "early_stop", "target_fid", "stop_on_divergence")
# Flags a resumed run cannot change: each is checked against the checkpoint.
FIXED_ON_RESUME = ("schedule", "recipe", "batch_size", "seed", "ema")


def non_negative_number(text):
    """A number >= 0, for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {text}")
    return value


def decay(text):
    """A number in [0, 1), for argparse."""
    value = non_negative_number(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"must be below 1, got {text}")
    return value


def whole_number(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


def finite_number(allowed, words):
    """An argparse type: a finite float that passes `allowed`, else one line naming `words`."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or not allowed(value):
            raise argparse.ArgumentTypeError(f"must be {words}, got {text!r}")
        return value
    return parse


learning_rate = finite_number(lambda v: v > 0, "a positive finite number")
weight = finite_number(lambda v: v >= 0, "a finite number >= 0")


def add_model_flags(p):
    """What is trained: the device, the schedule, the recipe and what changes it."""
    p.add_argument("--device", default="cpu", choices=["cpu", "gpu", "cuda"],
                   help="where to train: NumPy + Numba on the CPU, or CuPy on an NVIDIA GPU "
                        "(default: cpu)")
    p.add_argument("--schedule", default=None,
                   choices=sorted(SCHEDULE_DEFAULTS) + sorted(SCHEDULE_ALIASES),
                   help="standard (default): an epoch is a pass over the data, one D and one G "
                        "step per batch; original (alias: seed): the Keras script's 64 D "
                        "iterations then one G step per epoch")
    p.add_argument("--recipe", default=None, choices=sorted(RECIPES) + sorted(RECIPE_ALIASES),
                   help="stable (default for --model mlp): changed to fight the collapse (see "
                        "the README for what it reaches); original (alias: seed): the Keras "
                        "script's hyperparameters (collapses); dcgan (default for --model "
                        "dcgan): stable's training for the DCGAN generator")
    p.add_argument("--model", default=None, choices=MODELS,
                   help="the generator: mlp (default: the original's 100-128-256-512-1024-784) "
                        "or "
                        "dcgan (transposed convolutions 7x7 -> 14x14 -> 28x28); it replaces the "
                        "recipe's")
    p.add_argument("--discriminator", default=None, choices=DISCRIMINATORS + ("seed",),
                   help="original (alias: seed; the recipes' default: two 3x3 convolutions at "
                        "full size) or "
                        "dcgan (4x4 stride-2 convolutions, BatchNorm, LeakyReLU 0.2); it "
                        "replaces the recipe's")
    p.add_argument("--conditional", action="store_true",
                   help="a conditional GAN: G draws the digit it is given (label embedding "
                        "joined to z), D judges image and digit together (projection); sample "
                        "grids have one row per digit")
    p.add_argument("--classifier", type=weight, default=None, metavar="W",
                   help="with --conditional: weight of the auxiliary classifier (D reads the "
                        f"digit of real images, G's fakes must read as theirs; default "
                        f"{CONDITIONAL_CLASSIFIER}, 0: off)")
    p.add_argument("--ema", type=decay, default=None, metavar="DECAY",
                   help="keep an exponential moving average of G's weights with this decay "
                        "and sample, score and save it; the trained G is kept as "
                        "generator_raw.npz; 0: none, the trained G is the run's (default: the "
                        f"recipe's: {RECIPES['stable'].ema} for stable and dcgan, "
                        f"{RECIPES['original'].ema:g} for original)")


def add_run_flags(p):
    """How long and how often, where the outputs and the data are, the seed, resuming."""
    p.add_argument("--epochs", type=whole_number(MINIMUMS["epochs"]), default=None,
                   help="epochs in all (default: 10, or 100 with --schedule original; with "
                        "--resume, "
                        "the run's planned total)")
    p.add_argument("--batch-size", type=whole_number(MINIMUMS["batch_size"]), default=None,
                   help="images per batch (default: 64)")
    p.add_argument("--lr", type=learning_rate, default=None,
                   help="learning rate of both Adam optimizers (default: the recipe's; with "
                        "--resume, it replaces the run's from then on)")
    p.add_argument("--sample-every", type=whole_number(MINIMUMS["sample_every"]),
                   default=None,
                   help="epochs between sample grids (default: 1, or 10 with --schedule "
                        "original)")
    p.add_argument("--out", default=None,
                   help="output folder (default: a new runs/<date-time>; with --resume, the "
                        "checkpoint's folder)")
    p.add_argument("--overwrite", action="store_true",
                   help="let a new run replace the outputs of a run already in --out")
    p.add_argument("--data-dir", default=None,
                   help="folder with the four MNIST .gz files, the only place looked when "
                        "given (else $MINIGAN_DATA_DIR, then the user cache, then the copy "
                        "shipped in data/mnist/, then a download)")
    p.add_argument("--seed", type=whole_number(MINIMUMS["seed"]), default=None,
                   help="random seed: the same seed, the same run (default: 0)")
    p.add_argument("--resume", default=None, metavar="CHECKPOINT",
                   help="continue the run saved in this checkpoint.npz (--epochs: the new total; "
                        "--schedule, --recipe, --model, --discriminator, --conditional, "
                        "--classifier, --batch-size, --seed, --ema and --local-statistics must "
                        "match the run's)")
    p.add_argument("--log-every", type=whole_number(MINIMUMS["log_every"]), default=None,
                   help="iterations between progress lines (default: 50)")
    p.add_argument("--eval-every", type=whole_number(MINIMUMS["eval_every"]), default=None,
                   metavar="N",
                   help=f"every N epochs, score {EVAL_SAMPLES:,} samples (FID on the digit "
                        "classifier's "
                        "features, digits covered) into history.csv and losses.png (default: 0, "
                        "off; with --resume, the checkpoint's setting)")
    p.add_argument("--early-stop", type=whole_number(MINIMUMS["early_stop"]), default=None,
                   metavar="PATIENCE",
                   help="stop when FID has not improved for PATIENCE scores (needs "
                        "--eval-every; default: 0, never; with --resume, the checkpoint's)")
    p.add_argument("--target-fid", type=non_negative_number, default=None, metavar="F",
                   help="stop when a score reaches FID F (needs --eval-every; default: 0, no "
                        "target; with --resume, the checkpoint's)")
    p.add_argument("--stop-on-divergence", action="store_true", default=None,
                   help="stop at an epoch whose losses or D outputs diverged (the warning), "
                        "saving nothing of it: the last good checkpoint stays")


def add_process_flags(p):
    """Data-parallel training, and quick trials on part of the data."""
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel training over the processes mpiexec starts (mpiexec -n K "
                        "python examples/mnist_gan.py --distributed ...): each takes batch size "
                        "/ K images of every batch, gradients are averaged over MPI; the run is "
                        "the one a single process makes (needs: pip install 'minigan[mpi]')")
    p.add_argument("--local-statistics", action="store_true",
                   help="with --distributed: keep batch statistics (BatchNorm, minibatch std, "
                        "minibatch discrimination, feature matching) per process instead of "
                        "over the global batch: less communication, but the run depends on K")
    p.add_argument("--limit", type=whole_number(1), default=None,
                   help="train on the first N images only (for quick trials)")


def parse_args(argv=None):
    # each help states its default: most defaults depend on --schedule, --recipe or --resume
    p = argparse.ArgumentParser(description="Train the classic Keras MNIST GAN with minigan.")
    for add_flags in (add_model_flags, add_run_flags, add_process_flags):
        add_flags(p)
    args = p.parse_args(argv)
    args.schedule = SCHEDULE_ALIASES.get(args.schedule, args.schedule)   # old names: the new
    args.recipe = RECIPE_ALIASES.get(args.recipe, args.recipe)
    args.discriminator = FIELD_ALIASES["discriminator"].get(args.discriminator,
                                                            args.discriminator)
    if args.local_statistics and not args.distributed:
        p.error("--local-statistics is for a --distributed run")
    if args.resume and args.overwrite:
        p.error("--overwrite is for new runs: a resumed run continues its own outputs")
    return args


def refused_launch(args):
    """Under mpiexec -n K (K > 1), only --distributed makes one run of the K processes: without
    it each would train a run of its own into the same --out. True when refused (the launch's
    first process says why, in one line)."""
    processes, rank = distributed.mpi_launch()
    if processes == 1 or args.distributed:
        return False
    if rank == 0:
        print(f"error: this is one of {processes} processes of an MPI launch (mpiexec), but "
              "--distributed is not given: each process would train a run of its own into the "
              "same --out; add --distributed for one data-parallel run, or run without mpiexec",
              file=sys.stderr)
    return True


def new_run_config(args):
    settings = {k: getattr(args, k) for k in SETTINGS if getattr(args, k) is not None}
    settings.setdefault("recipe", DEFAULT_RECIPE[args.model or "mlp"])
    return train.TrainConfig(out=args.out, device=args.device, **settings)


def new_run_recipe(args, config):
    """The named recipe with the flags that change it (minigan.recipes.recipe_from_flags)."""
    return recipe_from_flags(config.recipe, model=args.model, discriminator=args.discriminator,
                             conditional=args.conditional, classifier=args.classifier,
                             lr=args.lr, ema=args.ema)


def check_fixed_flags(args, state):
    """A flag that would change what a resumed run is must agree with its checkpoint."""
    try:
        recipe = Recipe(**state["recipe"])     # old names read as the new ones
        schedule = train.TrainConfig(**state["config"]).schedule
    except (TypeError, ValueError) as exc:
        raise train.CheckpointError(f"{args.resume} holds an invalid run ({exc})") from None
    saved = dict(state["config"], schedule=schedule,
                 recipe=RECIPE_ALIASES.get(recipe.name, recipe.name), model=recipe.model,
                 discriminator=recipe.discriminator, conditional=recipe.conditional,
                 classifier=recipe.classifier, ema=recipe.ema)
    given = {name: getattr(args, name) for name in FIXED_ON_RESUME}
    given.update(model=args.model, discriminator=args.discriminator,
                 conditional=args.conditional or None, classifier=args.classifier)
    for name, value in given.items():
        if value is not None and value != saved[name]:
            flag = "--" + name.replace("_", "-")
            if name == "conditional":
                raise ValueError(f"--conditional conflicts with {args.resume}, an unconditional "
                                 "run: a resumed run keeps its own; leave --conditional out, or "
                                 "start a new run")
            raise ValueError(f"{flag} {value} conflicts with {args.resume}, which was trained "
                             f"with {flag} {saved[name]}: a resumed run keeps its own; leave "
                             f"{flag} out, or start a new run")


def load_images(args):
    """The training images and their labels (which a conditional run trains with)."""
    images, labels = data.load_mnist("train", data_dir=args.data_dir)
    if args.limit:
        return images[:args.limit], labels[:args.limit]
    return images, labels


def make_trainer(args, log, comm):
    """The Trainer of a new run, or of the run in --resume."""
    if args.resume:
        state = train.load_checkpoint(args.resume)
        check_fixed_flags(args, state)
        train.check_data_parallel(state, comm, args.resume)
        eval_every = args.eval_every if args.eval_every is not None \
            else state["config"]["eval_every"]
        images, labels = load_images(args)
        eval_images = data.load_mnist("test", data_dir=args.data_dir)[0] if eval_every \
            else None
        return train.resume(state, images, labels=labels, epochs=args.epochs,
                            device=args.device,
                            out=args.out, log=log, eval_images=eval_images,
                            eval_every=eval_every, lr=args.lr,
                            sample_every=args.sample_every, log_every=args.log_every,
                            early_stop=args.early_stop, target_fid=args.target_fid,
                            stop_on_divergence=args.stop_on_divergence, comm=comm)
    config = new_run_config(args)
    images, labels = load_images(args)
    eval_images = data.load_mnist("test", data_dir=args.data_dir)[0] \
        if config.eval_every else None
    return train.Trainer(config, images, labels=labels, log=log,
                         recipe=new_run_recipe(args, config),
                         eval_images=eval_images, overwrite=args.overwrite, comm=comm)


def communicator(args):
    """--distributed: the MPI ranks, agreed on one command line and one output folder."""
    comm = distributed.Communicator(sync_statistics=not args.local_statistics)
    if backend.normalize_device(args.device) == "gpu":
        comm.use_gpus()
    comm.share_cores()
    comm.agree(repr(sorted(vars(args).items())), "the command line")
    if args.out is None and not args.resume:   # one folder for the run, named by rank 0
        args.out = comm.comm.bcast(fresh_run_folder() if comm.rank == 0 else None, root=0)
    return comm


def finish_command(argv, args, trainer, checkpoint, epochs):
    """The command that finishes a run a failed write stopped (train.Trainer.finish_command):
    resume its last good checkpoint with the same data and processes; with none yet, this
    command again into the same folder with --overwrite."""
    comm = trainer.comm
    launch = ["mpiexec", "-n", str(comm.size)] if comm is not None else []
    script = [*launch, "python", "examples/mnist_gan.py"]
    if checkpoint is None:
        out = ["--out", str(trainer.out)] if args.out is None else []
        return shlex.join(script + [a for a in argv if a != "--overwrite"] + out +
                          ["--overwrite"])
    same = {"--limit": args.limit, "--data-dir": args.data_dir,
            "--device": None if args.device == "cpu" else args.device}
    flags = [str(a) for flag, value in same.items() if value is not None for a in (flag, value)]
    flags += ["--distributed"] * args.distributed + ["--local-statistics"] * args.local_statistics
    return shlex.join(script + ["--resume", str(checkpoint), "--epochs", str(epochs), *flags])


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if refused_launch(args):
        return 1
    log = train.progress_printer()
    trainer = comm = None
    try:
        backend.check_device(args.device)
        if args.distributed:
            comm = communicator(args)
        trainer = make_trainer(args, log, comm)
        trainer.finish_command = lambda checkpoint, epochs: finish_command(
            argv, args, trainer, checkpoint, epochs)
        last = trainer.train()
    except (backend.DeviceError, data.DataError, distributed.DistributedError,
            train.TrainingDiverged, ValueError, OSError) as error:
        return failed(f"error: {error}", comm)
    except MemoryError:
        return failed(f"error: out of memory at batch size "
                      f"{trainer.config.batch_size if trainer else '?'}: use a smaller "
                      "--batch-size", comm)
    except KeyboardInterrupt:
        saved = trainer.out / "checkpoint.npz" if trainer else None
        where = f"continue with --resume {saved}" if saved and saved.is_file() \
            else "no checkpoint was written yet"
        print(f"\ninterrupted: {where}", file=sys.stderr)
        return 130
    if not trainer.is_root:
        return 0
    print(f"done: {trainer.epoch} epochs; last epoch: loss D {last['loss_d']:.4f}, "
          f"loss G {last['loss_g']:.4f}, D(x) {last['d_real']:.3f}, D(G(z)) {last['d_fake']:.3f}, "
          f"{last['seconds']:.0f} s; outputs in {trainer.out}")
    warned = [row["epoch"] for row in trainer.epochs if "warning" in row]
    if warned:
        print(f"warning: epochs {warned} diverged or saturated (see the warning column of "
              f"{trainer.out / 'history.csv'})", file=sys.stderr)
    return 0


def failed(message, comm):
    """Print why the run stopped; in a data-parallel run, stop every rank with it (the others
    would wait forever in their next all-reduce)."""
    if comm is None or comm.size == 1:
        print(message, file=sys.stderr)
        return 1
    print(f"{message} (process {comm.rank} of {comm.size}: stopping all)", file=sys.stderr,
          flush=True)
    comm.abort(1)


if __name__ == "__main__":
    sys.exit(main())
