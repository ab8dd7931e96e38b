"""minigan's GAN against its PyTorch twin, scored by one classifier: FID and digit coverage.

    python benchmarks/compare_quality.py --minigan runs/q/minigan_seed0 runs/q/minigan_seed1 \
        --torch runs/q/torch_seed0 runs/q/torch_seed1 [--output report.md] [--json scores.json]

Each folder is a finished run (examples/mnist_gan.py or benchmarks/torch_gan.py: both write
generator.npz and recipe.json). Every final generator is scored by `minigan.evaluate` with the
same noise seed and the same 5,000 real test images; for PyTorch runs the per-epoch generators
(generator_epochNNN.npz) are scored too, and minigan's per-epoch scores are read from its
history.csv (--eval-every 1: the trainer's own evaluation noise). The verdict compares the mean
FIDs as docs/experiments.md reports spread, mean (min-max) over the seeds: the engines are
within each other's range when their ranges overlap. The FID floor (N random training images
against the same N test images) is printed once for scale.
"""
import argparse
import csv
import glob
import json
import statistics
import sys
from pathlib import Path

from minigan import evaluate
from minigan.config import EVAL_SAMPLES


def per_epoch(run, n, seed, data_dir):
    """[(epoch, fid, digits)] of one run, from history.csv or from per-epoch generators."""
    run = Path(run)
    history = run / "history.csv"
    if history.is_file():
        rows = list(csv.DictReader(history.open()))
        return [(int(r["epoch"]), float(r["fid"]), int(r["digits"])) for r in rows
                if r.get("fid")]
    scores = []
    for path in sorted(glob.glob(str(run / "generator_epoch*.npz"))):
        epoch = int(Path(path).stem.removeprefix("generator_epoch"))
        result = evaluate.evaluate(path, n, seed, data_dir, floor_draws=0)
        scores.append((epoch, result["fid"], result["digits_covered"]))
    return scores


def spread(values):
    """'mean (min-max)' of the values, the docs' one way to report spread."""
    return f"{statistics.mean(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def report(minigan_runs, torch_runs, n=EVAL_SAMPLES, seed=0, data_dir=None, log=print):
    lines = []
    results = {}
    for engine, runs in (("minigan", minigan_runs), ("PyTorch", torch_runs)):
        for run in runs:
            log(f"scoring {run} ...")
            final = evaluate.evaluate(run, n, seed, data_dir, floor_draws=0 if results else 3)
            results.setdefault(engine, []).append((run, final, per_epoch(run, n, seed, data_dir)))
    floor = next(iter(results.values()))[0][1]
    lines.append(f"Classifier: minigan.digits, test accuracy "
                 f"{100 * floor['classifier_test_accuracy']:.2f}%; FID floor ({n} random "
                 f"training images against the same {n} test images, "
                 f"{floor['fid_floor_draws']} draws): {floor['fid_floor']:.1f} "
                 f"({floor['fid_floor_min']:.1f}-{floor['fid_floor_max']:.1f}). "
                 f"Final generators scored on {n} samples, noise seed {seed}.")
    lines += ["", "| engine | run | FID per epoch | digits per epoch | final FID | final digits "
              "| KL to uniform | confidence | shares 0-9 (%) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for engine, rows in results.items():
        for run, final, epochs in rows:
            lines.append(
                f"| {engine} | {run} | {' '.join(f'{f:.1f}' for _, f, _ in epochs)} | "
                f"{' '.join(str(d) for *_, d in epochs)} | {final['fid']:.1f} | "
                f"{final['digits_covered']} | {final['kl_to_uniform']:.3f} | "
                f"{final['confidence']:.3f} | "
                f"{' '.join(f'{100 * s:.0f}' for s in final['shares'])} |")
    lines.append("")
    fids = {engine: [final["fid"] for _, final, _ in rows] for engine, rows in results.items()}
    for engine, rows in results.items():
        lines.append(f"- {engine}: FID {spread(fids[engine])} over {len(rows)} seeds; digits "
                     f"covered {', '.join(str(final['digits_covered']) for _, final, _ in rows)}")
    if "minigan" in fids and "PyTorch" in fids:
        a, b = fids["minigan"], fids["PyTorch"]
        overlap = min(a) <= max(b) and min(b) <= max(a)
        lines.append(f"- the two engines' ranges {'overlap' if overlap else 'do not overlap'}")
    text = "\n".join(lines)
    log(text)
    return text, results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minigan", nargs="+", default=[], help="minigan run folders")
    p.add_argument("--torch", nargs="+", default=[], help="benchmarks/torch_gan.py run folders")
    p.add_argument("--n", type=int, default=EVAL_SAMPLES)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--output", default=None, help="also write the report (markdown) here")
    p.add_argument("--json", default=None, help="also write every score (JSON) here")
    args = p.parse_args(argv)
    if not args.minigan and not args.torch:
        p.error("give run folders with --minigan and/or --torch")
    missing = [r for r in args.minigan + args.torch if not (Path(r) / "generator.npz").is_file()]
    if missing:
        p.error(f"no generator.npz in {', '.join(missing)} (is the run finished?)")
    text, results = report(args.minigan, args.torch, args.n, args.seed, args.data_dir)
    if args.output:
        Path(args.output).write_text(text + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {engine: [{"run": run, "final": final, "per_epoch": epochs}
                      for run, final, epochs in rows] for engine, rows in results.items()},
            indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
