"""Which digits does a generator draw? Classify N samples and print each digit's share.

    python examples/digit_shares.py runs/RUN [--n 5000]

The judge is minigan.digits, the LeNet-style classifier behind `python -m minigan.evaluate`
(weights shipped, so no MNIST files are needed). A digit counts as covered when it has at least
5% of the samples.
"""
import argparse
import sys

from minigan import digits, metrics, sampling
from minigan.config import EVAL_SAMPLES


def shares_of(source, n=EVAL_SAMPLES, seed=0):
    """metrics.coverage of n samples from the generator at `source`."""
    G = sampling.load_generator(source)  # first: a bad file fails before anything else loads
    return metrics.coverage(digits.run(digits.load(), sampling.generate(G, n, seed))[1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source", help="a run folder or its generator.npz")
    p.add_argument("--n", type=int, default=EVAL_SAMPLES, help="samples to classify")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    args = p.parse_args(argv)
    if args.n < 1:
        p.error(f"--n must be at least 1, got {args.n}")
    if args.seed < 0:
        p.error(f"argument --seed: must be at least 0, got {args.seed}")
    try:
        result = shares_of(args.source, args.n, args.seed)
    except (OSError, ValueError) as error:  # FileNotFoundError is an OSError
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("digit  " + " ".join(f"{d:>5d}" for d in range(10)))
    print("share  " + " ".join(f"{s:5.1%}" for s in result["shares"]))
    print(f"covered (>= 5%): {result['digits_covered']} of 10")
    return 0


if __name__ == "__main__":
    sys.exit(main())
