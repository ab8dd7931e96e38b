"""Score a trained generator: FID on the digit classifier's features, and digit coverage.

    python -m minigan.evaluate runs/RUN            (or runs/RUN/generator.npz)
    python -m minigan.evaluate runs/RUN --n 5000 --seed 0 --json
    python -m minigan.evaluate --pretrained        (the pretrained generator in the package)
    python -m minigan.evaluate --classifier        (the classifier alone: accuracy, floor)

Generates N images (default 5,000), compares their features with N real MNIST test images, and
prints the FID, the digits covered (share >= 5%), the KL divergence from uniform and the mean
confidence. Beside the FID, its floor: N random training images scored against the same N test
images, the score of a perfect generator of the training set (the mean and range of 3 draws;
--floor-draws). The classifier's test accuracy and the FID between the test set's two halves
(writer shift, not a floor: minigan.metrics) are printed for scale. N is at most the 10,000 test
images; below 500 (about 8 samples per feature of the classifier's 64) the FID is biased upwards
and noisy, and a warning says so.

For a conditional run the N images are drawn for the digits 0, 1, ..., 9, 0, ... in turn, and
the label accuracy is added: the share of the samples drawn for each digit that the classifier
reads as that digit, per digit and overall.
"""
import argparse
import json
import sys
from pathlib import Path

from minigan import data, digits, metrics, run_report, sampling
from minigan.config import EVAL_SAMPLES

TEST_IMAGES = data.FILES["test-images"][3][0]  # the real images the samples are compared with
FEW_SAMPLES = 500  # below this, FID on 64 features is far from its large-N value: warn


FLOOR_DRAWS = 3  # draws of N training images behind the floor's mean and range


def evaluate(source, n=EVAL_SAMPLES, seed=0, data_dir=None, floor_draws=FLOOR_DRAWS,
             which="last"):
    """Scores of the generator at `source` (None: the classifier's report alone); in a run
    folder, `which` generator (sampling.load_generator)."""
    G = sampling.load_generator(source, which) if source is not None else None
    return score(G, n, seed, data_dir, floor_draws)


def score(G, n=EVAL_SAMPLES, seed=0, data_dir=None, floor_draws=FLOOR_DRAWS):
    """Scores of the generator G (None: the classifier's report alone), with the floor at the
    same N from `floor_draws` draws of training images (0: no floor)."""
    if G is not None and not 2 <= n <= TEST_IMAGES:
        raise ValueError(f"n must be between 2 and {TEST_IMAGES} (the MNIST test images the "
                         f"samples are compared with), got {n}")
    model = digits.load()
    test_images, test_labels = data.load_mnist("test", data_dir)
    result = metrics.classifier_report(test_images, test_labels, model)
    if G is not None:
        labels = sampling.digit_labels(n) if sampling.is_conditional(G) else None
        images = sampling.generate(G, n, seed, labels=labels)
        result.update(metrics.evaluate_images(images, test_images[:n], model, labels=labels))
    if floor_draws:
        train_images, _ = data.load_mnist("train", data_dir)
        result.update(metrics.training_floor(train_images, test_images[:n], model, floor_draws))
    return result


def _parser():
    """The command line of `python -m minigan.evaluate`."""
    prog = "minigan evaluate" if sys.argv[0] == "minigan evaluate" else "python -m minigan.evaluate"
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    p.add_argument("source", nargs="?", help="a run folder or its generator.npz")
    p.add_argument("--pretrained", action="store_true",
                   help="score the pretrained generator shipped in the package")
    p.add_argument("--which", choices=sorted(sampling.GENERATORS), default="last",
                   help="a run folder's final generator (last, the default) or the generator of "
                        "its best-scored epoch (best: a run trained with --eval-every)")
    p.add_argument("--classifier", action="store_true",
                   help="no generator: print the classifier's test accuracy and the FID floor")
    p.add_argument("--n", type=int, default=EVAL_SAMPLES,
                   help=f"generated (and real) images compared: 2 to {TEST_IMAGES}; FID needs "
                        f"{FEW_SAMPLES} or more to be comparable")
    p.add_argument("--seed", type=int, default=0, help="noise seed (a whole number >= 0)")
    p.add_argument("--floor-draws", type=int, default=FLOOR_DRAWS,
                   help=f"draws of N training images behind the floor (default {FLOOR_DRAWS}; "
                        f"0: no floor, no training images read)")
    p.add_argument("--data-dir", default=None, help="MNIST folder (default: MINIGAN_DATA_DIR)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--report", action="store_true",
                   help="also write the run folder's report.md (its samples, curves, scores per "
                        "epoch beside the floor, recipe and time per epoch)")
    return p


def main(argv=None):
    """The command line: every flag is checked before anything loads (a bad --seed or
    --data-dir costs no time)."""
    p = _parser()
    args = p.parse_args(argv)
    if args.seed < 0:
        p.error(f"argument --seed: must be at least 0, got {args.seed}")
    if args.floor_draws < 0:
        p.error(f"argument --floor-draws: must be at least 0, got {args.floor_draws}")
    if not 2 <= args.n <= TEST_IMAGES:
        p.error(f"--n must be between 2 and {TEST_IMAGES} (the MNIST test images the samples "
                f"are compared with), got {args.n}")
    if (args.source is not None) + args.pretrained + args.classifier != 1:
        p.error("give one of: a run folder (or generator.npz) to score, --pretrained, or "
                "--classifier")
    if args.report and (args.source is None or not Path(args.source).is_dir()):
        p.error("--report writes into a run folder: give the run folder, not a file or "
                "--pretrained")
    if not args.classifier and args.n < FEW_SAMPLES:
        print(f"warning: FID from {args.n} samples is biased upwards and noisy; use --n "
              f"{FEW_SAMPLES} or more (default {EVAL_SAMPLES}) to compare generators",
              file=sys.stderr)
    try:
        data.check_folder(args.data_dir, ("test-images", "test-labels")
                          + (("train-images", "train-labels") if args.floor_draws else ()))
        if args.pretrained:
            result = score(sampling.load_pretrained(), args.n, args.seed, args.data_dir,
                           args.floor_draws)
        else:
            result = evaluate(args.source, args.n, args.seed, args.data_dir, args.floor_draws,
                              args.which)
        if args.report:
            floor = result if "fid_floor" in result else None
            written = run_report.write_report(args.source, floor,
                                              "python -m minigan.evaluate --report")
            print(f"wrote {written}", file=sys.stderr)
    except (OSError, ValueError, data.DataError) as error:  # FileNotFoundError is an OSError
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result))
    else:
        _print_report(result, generator=not args.classifier)
    return 0


def _print_report(result, generator=True):
    """The scores as lines of text: the classifier's, the floor, then (with `generator`) the
    samples'."""
    print(f"classifier (minigan.digits): test accuracy "
          f"{100 * result['classifier_test_accuracy']:.2f}%; FID between the test set's halves "
          f"({result['n_floor']} vs {result['n_floor']}; writer shift, not a floor): "
          f"{result['fid_floor_real_vs_real']:.3f}")
    if "fid_floor" in result:
        n = result["n_floor_train"]
        print(f"FID floor ({n} random training images vs the same {n} test images, "
              f"{result['fid_floor_draws']} draws): {result['fid_floor']:.3f} "
              f"(range {result['fid_floor_min']:.3f}-{result['fid_floor_max']:.3f})")
    if not generator:
        return
    beside = ""
    if "fid_floor" in result:
        beside = (f"; {result['fid'] - result['fid_floor']:.3f} above the floor "
                  f"({result['fid'] / result['fid_floor']:.2f}x)")
    print(f"FID (classifier features, {result['n']} vs {result['n']}): {result['fid']:.3f}"
          + beside)
    print(f"digits covered (>= 5%): {result['digits_covered']} of 10; KL to uniform "
          f"{result['kl_to_uniform']:.3f}; mean confidence {result['confidence']:.3f}")
    print("shares 0-9 (%): " + " ".join(f"{100 * s:.1f}" for s in result["shares"]))
    print(f"stray pixels (lit, no lit neighbour within 2; MNIST: 0.008): "
          f"{result['isolated_pixels']:.3f} per image, in "
          f"{100 * result['images_with_isolated']:.1f}% of the images")
    if "label_accuracy" in result:
        per_digit = " ".join("-" if a is None else f"{100 * a:.1f}"
                             for a in result["label_accuracy_per_digit"])
        print(f"label accuracy (conditional: samples read as the digit asked for): "
              f"{100 * result['label_accuracy']:.2f}%; per digit 0-9 (%): {per_digit}")


if __name__ == "__main__":
    sys.exit(main())
