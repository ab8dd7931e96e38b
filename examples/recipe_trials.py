"""Measure a training recipe: train it and record, after every epoch, which digits it draws.

    python examples/recipe_trials.py --recipe stable --epochs 2 --set minibatch_std=False

Each epoch is judged by minigan.digits, the LeNet-style classifier of minigan.evaluate: the
trainer's own `--eval-every 1` scores ("fid", "digits", "kl_uniform", "confidence", against the
MNIST test set), and "covered" and "shares" of --samples images drawn from the same noise every
epoch (so epochs compare sample for sample). They go to a JSON lines file (--out/trials.jsonl)
and to stdout.
This is how the default recipe was chosen (see README and benchmarks/recipe_search/RESULTS.md).
"""
import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import minigan  # noqa: F401  (first: it tunes OpenBLAS before NumPy loads it)
import numpy as np

from minigan import data, digits, gan, metrics, train
from minigan.autograd import tensor
from minigan.config import EVAL_SAMPLES
from minigan.recipes import RECIPE_ALIASES, RECIPES, parse_override


def trial_label(recipe_name, overrides):
    """'stable real_label=1.0': the recipe and its (field, value) overrides, as in trials.jsonl."""
    return recipe_name + "".join(f" {k}={v}" for k, v in overrides)


def trial_folder(out, label, seed):
    """The run folder of one trial: out/stable_real_label-1.0_seed0."""
    return Path(out) / (label.replace(" ", "_").replace("=", "-") + f"_seed{seed}")


def parse_args(argv):
    """The checked flags, args.recipe by its new name; a bad flag exits with the usage."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default="stable", choices=sorted(RECIPES) + sorted(RECIPE_ALIASES),
                   help="the recipe to start from (default: stable; 'seed' is the old name of "
                        "'original')")
    p.add_argument("--set", type=parse_override, action="append", default=[],
                   help="override a recipe field, e.g. minibatch_std=False or lr_g=4e-4")
    p.add_argument("--epochs", type=int, default=2, help="epochs to train (default: 2)")
    p.add_argument("--seed", type=int, default=0, help="training seed (default: 0)")
    p.add_argument("--samples", type=int, default=EVAL_SAMPLES,
                   help=f"images judged for 'covered' and 'shares' each epoch (default: "
                        f"{EVAL_SAMPLES})")
    p.add_argument("--out", default="runs/trials",
                   help="folder for trials.jsonl and one run folder per trial")
    p.add_argument("--data-dir", default=None, help="MNIST folder (default: MINIGAN_DATA_DIR)")
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    args = p.parse_args(argv)
    args.recipe = RECIPE_ALIASES.get(args.recipe, args.recipe)   # an old name, as the new
    if args.samples < 1:
        p.error(f"--samples must be at least 1, got {args.samples}")
    return args


class EpochJudge:
    """The trainer's on_epoch_end: the LeNet's "covered" and "shares" of --samples images, with
    the epoch's own scores, as one record on stdout and in --out/trials.jsonl."""

    def __init__(self, args, label):
        self.args, self.label = args, label
        self.judge = self.start = None  # set once the run is known to be valid, before it trains

    def __call__(self, trainer):
        # Own noise, so that judging leaves the training's random stream (and run) unchanged
        noise = np.random.default_rng(1234).standard_normal((self.args.samples, gan.NOISE_DIM))
        samples = trainer.generate(tensor(noise.astype(np.float32)))
        result = metrics.coverage(digits.run(self.judge, samples)[1])
        record = {"recipe": self.label, "seed": self.args.seed, "epoch": trainer.epoch,
                  "minutes": round((time.perf_counter() - self.start) / 60, 1),
                  "covered": result["digits_covered"], "shares": result["shares"],
                  **trainer.epochs[-1]}
        print(json.dumps(record), flush=True)
        with open(Path(self.args.out) / "trials.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")


def main(argv=None):
    args = parse_args(argv)
    recipe = dataclasses.replace(RECIPES[args.recipe], **dict(args.set))
    label = trial_label(args.recipe, args.set)
    out = trial_folder(args.out, label, args.seed)
    config = train.TrainConfig(epochs=args.epochs, recipe=args.recipe, seed=args.seed,
                               out=str(out), log_every=200, eval_every=1)
    judge_epoch = EpochJudge(args, label)
    try:  # the Trainer refuses, e.g., a batch size that the recipe's pack does not divide
        images, _ = data.load_mnist("train", args.data_dir)
        images = images[:args.limit] if args.limit else images
        test_images, _ = data.load_mnist("test", args.data_dir)
        trainer = train.Trainer(config, images, log=train.progress_printer(), recipe=recipe,
                                on_epoch_end=judge_epoch, eval_images=test_images)
        judge_epoch.judge = digits.load()
    except (OSError, ValueError, data.DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    judge_epoch.start = time.perf_counter()
    try:
        trainer.train()
    except (OSError, ValueError, train.TrainingDiverged) as error:  # e.g. a trial already run
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
