"""Does a conditional run draw the digit it is asked for? For each digit D, this runs exactly

    python examples/sample.py RUN --digit D --n N --out D.npy

and reads the samples with minigan's LeNet classifier (minigan.digits): the share read as D, per
digit and over all 10 * N samples.

    python benchmarks/conditional_check.py RUN [--n 500] [--seed 0]
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from minigan import digits, metrics

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample.py"


class SamplingError(RuntimeError):
    """examples/sample.py failed (not a conditional run, no such folder...)."""


def sampled_digits(run, n, seed, folder):
    """The samples of each digit, drawn by examples/sample.py: images (10 n, 28, 28), labels."""
    images, labels = [], []
    for digit in range(10):
        out = Path(folder) / f"{digit}.npy"
        done = subprocess.run([sys.executable, str(SAMPLE), str(run), "--digit", str(digit),
                               "--n", str(n), "--seed", str(seed), "--out", str(out)],
                              stdout=subprocess.DEVNULL)
        if done.returncode != 0:   # sample.py has printed why
            raise SamplingError(f"examples/sample.py could not draw digit {digit} from {run}")
        images.append(np.load(out))
        labels.append(np.full(n, digit))
    return np.concatenate(images), np.concatenate(labels)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="a conditional run's folder or its generator.npz")
    p.add_argument("--n", type=int, default=500, help="samples per digit (default: 500)")
    p.add_argument("--seed", type=int, default=0, help="sample.py's noise seed (default: 0)")
    args = p.parse_args(argv)
    if args.n < 1:
        p.error(f"--n must be at least 1, got {args.n}")
    try:
        with tempfile.TemporaryDirectory() as folder:
            images, labels = sampled_digits(args.run, args.n, args.seed, folder)
    except SamplingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    _, probabilities = digits.run(digits.load(), images)
    result = metrics.label_accuracy(probabilities, labels)
    per_digit = " ".join(f"{100 * a:.1f}" for a in result["label_accuracy_per_digit"])
    print(f"{args.run}: read as the digit asked for: {100 * result['label_accuracy']:.2f}% of "
          f"{len(labels)} samples; per digit 0-9 (%): {per_digit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
