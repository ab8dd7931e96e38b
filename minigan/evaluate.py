"""Score a trained generator: FID on the digit classifier's features, and digit coverage.

    python -m minigan.evaluate runs/RUN            (or runs/RUN/generator.npz)
    python -m minigan.evaluate runs/RUN --n 5000 --seed 0 --json

Generates N images (default 5,000), compares their features with N real MNIST test images, and
prints the FID, the digits covered (share >= 5%), the KL divergence from uniform and the mean
confidence, with the real-vs-real floor (two halves of the test set) for scale.
"""
import argparse
import json
import sys

from minigan import data, digits, gan, metrics


def evaluate(source, n=5000, seed=0, data_dir=None):
    G = gan.load_generator(source)
    model = digits.load()
    test_images, _ = data.load_mnist("test", data_dir)
    images = gan.generate(G, n, seed)
    result = metrics.evaluate_images(images, test_images[:n], model)
    result["fid_floor_real_vs_real"] = metrics.real_floor(test_images, model)
    return result


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m minigan.evaluate",
                                description=__doc__.splitlines()[0])
    p.add_argument("source", help="a run folder or its generator.npz")
    p.add_argument("--n", type=int, default=5000, help="generated (and real) images compared")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--data-dir", default=None, help="MNIST folder (default: MINIGAN_DATA_DIR)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    if args.n < 2:
        p.error("--n must be at least 2")
    try:
        result = evaluate(args.source, args.n, args.seed, args.data_dir)
    except (FileNotFoundError, ValueError, data.DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"FID (classifier features, {result['n']} vs {result['n']}): {result['fid']:.3f} "
          f"(real vs real: {result['fid_floor_real_vs_real']:.3f})")
    print(f"digits covered (>= 5%): {result['digits_covered']} of 10; KL to uniform "
          f"{result['kl_to_uniform']:.3f}; mean confidence {result['confidence']:.3f}")
    print("shares 0-9 (%): " + " ".join(f"{100 * s:.1f}" for s in result["shares"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
