"""Which of the stable recipe's tricks the 2-D toy needs: remove one at a time and count modes.

    python examples/toy_2d_ablation.py [--seeds 0,1,2] [--steps N] > ablation.md

Starts from the stable recipe, undoes one change at a time (back to the original recipe's
value), adds the full stable and original recipes and the stable recipe at the MNIST learning rates
(--lr-scale 1), trains each with examples/toy_2d.py's train() over the seeds, and prints a
Markdown table (progress goes to stderr). Every row says the toy_2d.py command that repeats it.
"""
import argparse
import dataclasses
import datetime
import platform
import runpy
import sys
import time
from pathlib import Path

import minigan  # noqa: F401  (first: it tunes OpenBLAS before NumPy loads it)
import numpy as np

from minigan.recipes import RECIPES, TRICKS, without

# The toy is an example, not a module: load its globals as the tests do (examples never import
# each other).
TOY = runpy.run_path(str(Path(__file__).resolve().parent / "toy_2d.py"))

# (setting, --recipe, --set overrides, --lr-scale or None for the toy's default)
SETTINGS = [
    ("stable (all tricks)", "stable", {}, None),
    *((f"- {trick} ({', '.join(f'{k}={v}' for k, v in without(trick).items())})", "stable",
       without(trick), None) for trick in TRICKS),
    ("original (no tricks)", "original", {}, None),
    ("stable at the MNIST learning rates (--lr-scale 1)", "stable", {}, 1.0),
]


def command(name, overrides, lr_scale, steps):
    sets = "".join(f" --set {k}={v}" for k, v in overrides.items())
    scale = f" --lr-scale {lr_scale:g}" if lr_scale is not None else ""
    length = f" --steps {steps}" if steps != TOY["STEPS"] else ""
    return f"`python examples/toy_2d.py --recipe {name}{sets}{scale}{length} --seed S`"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default: 0,1,2)")
    p.add_argument("--steps", type=int, default=TOY["STEPS"],
                   help=f"steps per run (default: the toy's {TOY['STEPS']})")
    args = p.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        p.error(f"--seeds must be whole numbers separated by commas, got {args.seeds!r}")
    if args.steps < 1 or min(seeds) < 0:
        p.error("--steps must be at least 1 and every seed at least 0")

    rows = []
    for setting, name, overrides, lr_scale in SETTINGS:
        recipe = dataclasses.replace(RECIPES[name], **overrides)
        modes, quality, seconds = [], [], []
        for seed in seeds:
            start = time.perf_counter()
            result = TOY["train"](recipe, steps=args.steps, seed=seed,
                                  lr_scale=TOY["LR_SCALE"] if lr_scale is None else lr_scale)
            seconds.append(time.perf_counter() - start)
            modes.append(result.modes_covered)
            quality.append(result.high_quality)
            print(f"{setting}, seed {seed}: {result.modes_covered}/8 modes, high-quality "
                  f"{100 * result.high_quality:.0f}%, {seconds[-1]:.1f} s", file=sys.stderr,
                  flush=True)
        rows.append(f"| {setting} | {' '.join(map(str, modes))} | {np.mean(modes):.1f} +- "
                    f"{np.std(modes):.1f} | {100 * np.mean(quality):.0f}% | "
                    f"{np.mean(seconds):.1f} | {command(name, overrides, lr_scale, args.steps)} |")

    print(f"Toy 2-D GAN ablation, {datetime.date.today()}, {platform.machine()} "
          f"{platform.system()}, one thread: `python examples/toy_2d_ablation.py --seeds "
          f"{args.seeds} --steps {args.steps}`. {args.steps} steps, batch {TOY['BATCH_SIZE']}, "
          f"data std {TOY['STD']}, learning rates x{TOY['LR_SCALE']:g} unless said; modes "
          f"covered out of 8 per seed (S = {args.seeds}), mean +- standard deviation over the "
          f"seeds.\n")
    print("| setting | modes covered per seed | mean +- sd | high-quality (mean) | s per run "
          "| command |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    return rows


if __name__ == "__main__":
    main()
