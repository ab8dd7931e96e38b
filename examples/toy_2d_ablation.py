"""Which of the stable recipe's tricks the 2-D toy needs: take them out, or put them in, one by one.

    python examples/toy_2d_ablation.py [--seeds 0,1,2] [--steps N] [--lr-scale X] [--add]
                                       [--csv PATH]

By default it starts from the stable recipe and undoes one change at a time (back to the original
recipe's value), and adds the original recipe and the stable recipe at the MNIST learning rates
(--lr-scale 1); --add starts from the original recipe and switches on one trick at a time instead.
Each setting trains with examples/toy_2d.py's train() over the seeds. Progress goes to stderr, a
Markdown table (mean (min-max) over the seeds, as docs/make_tables.py reports) to stdout, and with
--csv the raw per-seed scores, which docs/make_tables.py turns into docs/gan-tricks.md's toy table.
"""
import argparse
import csv
import dataclasses
import runpy
import sys
import time
from pathlib import Path

import minigan  # noqa: F401  (first: it tunes OpenBLAS before NumPy loads it)

from minigan.recipes import RECIPES, TRICKS, without

# The toy is an example, not a module: load its globals as the tests do (examples never import
# each other).
TOY = runpy.run_path(str(Path(__file__).resolve().parent / "toy_2d.py"))
HEADER = ["setting", "seed", "modes covered (of 8)", "points near a mode (%)", "seconds"]


def with_trick(trick):
    """The `--set` overrides that put one of TRICKS into the original recipe: its fields at the
    stable recipe's values (the mirror of recipes.without)."""
    return {field: getattr(RECIPES["stable"], field) for field in TRICKS[trick]}


def sets(overrides):
    return " ".join(f"--set {k}={v}" for k, v in overrides.items())


# (setting, --recipe, --set overrides, --lr-scale or None for the toy's default)
REMOVED = [
    ("stable (all tricks)", "stable", {}, None),
    *((f"without {trick} (`{sets(without(trick))}`)", "stable", without(trick), None)
      for trick in TRICKS),
    ("original (no tricks)", "original", {}, None),
    ("stable at the MNIST learning rates (`--lr-scale 1`)", "stable", {}, 1.0),
]
ADDED = [
    ("original (no tricks)", "original", {}, None),
    *((f"original + {trick}", "original", with_trick(trick), None) for trick in TRICKS),
    ("stable (all tricks)", "stable", {}, None),
]


def run(settings, seeds, steps=TOY["STEPS"], lr_scale=TOY["LR_SCALE"], progress=None):
    """Train every setting over every seed: a list of dicts, one per run, with HEADER's keys
    (the share of points near a mode in percent). lr_scale: for the settings that give none.
    progress: None, or called with a line per run."""
    runs = []
    for setting, name, overrides, own_lr_scale in settings:
        recipe = dataclasses.replace(RECIPES[name], **overrides)
        for seed in seeds:
            start = time.perf_counter()
            result = TOY["train"](recipe, steps=steps, seed=seed,
                                  lr_scale=own_lr_scale or lr_scale)
            runs.append(dict(zip(HEADER, (setting, seed, result.modes_covered,
                                          round(100 * result.high_quality, 1),
                                          round(time.perf_counter() - start, 1)))))
            if progress is not None:
                progress(f"{setting}, seed {seed}: {result.modes_covered}/8 modes, "
                         f"{100 * result.high_quality:.0f}% near a mode, {runs[-1]['seconds']} s")
    return runs


def markdown(runs):
    """The runs as a Markdown table: per setting the modes of each seed, then each score as
    mean (min-max) over the seeds."""
    lines = [f"| setting | modes per seed | {' | '.join(HEADER[2:])} |",
             "| --- | --- | --- | --- | --- |"]
    for setting in dict.fromkeys(r["setting"] for r in runs):
        mine = [r for r in runs if r["setting"] == setting]
        cells = []
        for key in HEADER[2:]:
            values = [r[key] for r in mine]
            cells.append(f"{sum(values) / len(values):.1f} ({min(values):g}-{max(values):g})")
        per_seed = " ".join(str(r["modes covered (of 8)"]) for r in mine)
        lines.append(f"| {setting} | {per_seed} | {' | '.join(cells)} |")
    return "\n".join(lines)


def write_csv(path, runs):
    """One line per run, HEADER first: the raw scores that docs/make_tables.py reads."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HEADER, lineterminator="\n")
        writer.writeheader()
        writer.writerows(runs)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default: 0,1,2)")
    p.add_argument("--steps", type=int, default=TOY["STEPS"],
                   help=f"steps per run (default: the toy's {TOY['STEPS']})")
    p.add_argument("--lr-scale", type=float, default=TOY["LR_SCALE"],
                   help=f"the toy's learning-rate factor for every setting that sets none "
                        f"(default: the toy's {TOY['LR_SCALE']:g})")
    p.add_argument("--add", action="store_true",
                   help="start from the original recipe and switch on one trick at a time "
                        "(default: start from the stable recipe and take one out at a time)")
    p.add_argument("--csv", default=None,
                   help="also write the per-seed scores to this CSV file (one line per run; "
                        "docs/tables/toy_ablation.csv is made this way)")
    args = p.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        p.error(f"--seeds must be whole numbers separated by commas, got {args.seeds!r}")
    if args.steps < 1 or min(seeds) < 0 or not args.lr_scale > 0:
        p.error("--steps must be at least 1, every seed at least 0 and --lr-scale above 0")
    runs = run(ADDED if args.add else REMOVED, seeds, args.steps, args.lr_scale,
               progress=lambda line: print(line, file=sys.stderr, flush=True))
    if args.csv:
        write_csv(args.csv, runs)
    print(markdown(runs))
    return runs


if __name__ == "__main__":
    main()
