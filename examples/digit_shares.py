"""Which digits does a generator draw? Classify N samples and print each digit's share.

    python examples/digit_shares.py runs/RUN [--n 5000]

The classifier (minigan.classifier, an MLP at ~98% test accuracy) is trained once and cached.
A digit counts as covered when it has at least 5% of the samples.
"""
import argparse
import sys

from minigan import classifier, data

sys.path.insert(0, __import__("os").path.dirname(__file__))
from sample import generate, load_generator  # noqa: E402


def shares_of(source, n=5000, seed=0, data_dir=None):
    G = load_generator(source)  # first: a bad file fails before the classifier trains
    model = classifier.load_or_train(data_dir=data_dir)
    images = generate(G, n, seed).reshape(n, 784)
    return classifier.digit_shares(classifier.predict(model, images)[0])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source", help="a run folder or its generator.npz")
    p.add_argument("--n", type=int, default=5000, help="samples to classify")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--data-dir", default=None, help="MNIST folder (to train the classifier)")
    args = p.parse_args(argv)
    try:
        shares = shares_of(args.source, args.n, args.seed, args.data_dir)
    except (OSError, ValueError, data.DataError) as error:  # FileNotFoundError is an OSError
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    print("digit  " + " ".join(f"{d:>5d}" for d in range(10)))
    print("share  " + " ".join(f"{s:5.1%}" for s in shares))
    print(f"covered (>= 5%): {int((shares >= 0.05).sum())} of 10")
    return shares


if __name__ == "__main__":
    main()
