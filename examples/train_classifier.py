"""Train the LeNet-style digit classifier that measures GAN samples (minigan.digits).

    python examples/train_classifier.py [--epochs 6] [--out minigan/weights/digits_lenet.npz]

Trains on the MNIST training set (MINIGAN_DATA_DIR or --data-dir), reports the test accuracy,
and saves the weights (float16) where minigan.digits.load finds them.
"""
import argparse
import sys
import time

from minigan import data, digits


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    p.add_argument("--out", default=str(digits.WEIGHTS))
    args = p.parse_args(argv)
    try:
        images, labels = data.load_mnist("train", args.data_dir)
        test_images, test_labels = data.load_mnist("test", args.data_dir)
    except data.DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.limit:
        images, labels = images[:args.limit], labels[:args.limit]
    start = time.perf_counter()
    model = digits.train(images, labels, epochs=args.epochs, seed=args.seed)
    seconds = time.perf_counter() - start
    digits.save(model, args.out)
    accuracy = float((digits.run(digits.load(args.out), test_images)[1].argmax(1)
                      == test_labels).mean())
    print(f"test accuracy {accuracy:.4f} (float16 weights as saved); trained in {seconds:.0f} s; "
          f"saved to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
