"""Measure a training recipe: train it and record, after every epoch, which digits it draws.

    python examples/recipe_trials.py --recipe stable --epochs 2 --set minibatch_std=False

Each epoch: 5,000 samples from the generator (eval mode), classified by minigan.classifier (the
MLP, with its own noise: "covered", "shares"), and the trainer's own `--eval-every 1` scores by
the LeNet-style classifier of minigan.evaluate ("fid", "digits", "kl_uniform", "confidence",
against the MNIST test set); they go to a JSON lines file (--out/trials.jsonl) and to stdout.
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

from minigan import classifier, data, gan, train
from minigan.autograd import tensor


def parse_override(text):
    key, _, value = text.partition("=")
    fields = {f.name: f.type for f in dataclasses.fields(gan.Recipe)}
    if key not in fields or key == "name":
        raise argparse.ArgumentTypeError(f"unknown recipe field {key!r}: one of {sorted(fields)}")
    kind = fields[key]
    if kind is bool:
        if value not in ("True", "False"):
            raise argparse.ArgumentTypeError(f"{key} is True or False, got {value!r}")
        return key, value == "True"
    try:
        value = kind(value)          # the field's declared type: str, int (pack) or float
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{key} must be of type {kind.__name__}, got {value!r}") from None
    try:
        dataclasses.replace(gan.RECIPES["stable"], **{key: value})  # the Recipe's range checks
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return key, value


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default="stable", choices=sorted(gan.RECIPES))
    p.add_argument("--set", type=parse_override, action="append", default=[],
                   help="override a recipe field, e.g. minibatch_std=False or lr_g=4e-4")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples", type=int, default=5000)
    p.add_argument("--out", default="runs/trials")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    args = p.parse_args(argv)

    recipe = dataclasses.replace(gan.RECIPES[args.recipe], **dict(args.set))
    label = args.recipe + "".join(f" {k}={v}" for k, v in args.set)
    out = Path(args.out) / (label.replace(" ", "_").replace("=", "-") + f"_seed{args.seed}")
    config = train.TrainConfig(epochs=args.epochs, recipe=args.recipe, seed=args.seed,
                               out=str(out), log_every=200, eval_every=1)
    judge = start = None  # set once the run is known to be valid, before it trains

    def judge_epoch(trainer):
        # Own noise, so that judging leaves the training's random stream (and run) unchanged
        noise = np.random.default_rng(1234).standard_normal((args.samples, gan.NOISE_DIM))
        samples = trainer.generate(tensor(noise.astype(np.float32)))
        shares = classifier.digit_shares(classifier.predict(judge, samples)[0])
        record = {"recipe": label, "seed": args.seed, "epoch": trainer.epoch,
                  "minutes": round((time.perf_counter() - start) / 60, 1),
                  "covered": int((shares >= 0.05).sum()),
                  "shares": [round(float(s), 3) for s in shares], **trainer.epochs[-1]}
        print(json.dumps(record), flush=True)
        with open(Path(args.out) / "trials.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    try:  # the Trainer refuses, e.g., a batch size that the recipe's pack does not divide
        images, _ = data.load_mnist("train", args.data_dir)
        images = images[:args.limit] if args.limit else images
        test_images, _ = data.load_mnist("test", args.data_dir)
        trainer = train.Trainer(config, images, log=train.progress_printer(), recipe=recipe,
                                on_epoch_end=judge_epoch, eval_images=test_images)
        judge = classifier.load_or_train(data_dir=args.data_dir)
    except (OSError, ValueError, data.DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    start = time.perf_counter()
    try:
        trainer.train()
    except (OSError, ValueError, train.TrainingDiverged) as error:  # e.g. a trial already run
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
