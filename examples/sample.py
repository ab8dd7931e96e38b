"""Draw samples from a trained generator.

    python examples/sample.py runs/RUN --n 64 --out grid.png       # a grid picture
    python examples/sample.py runs/RUN/generator.npz --n 5000 --out samples.npy
          # N images as float32 in [-1, 1], shape (N, 28, 28), to evaluate elsewhere
"""
import argparse
import math
import sys

import numpy as np

from minigan import visualize
from minigan.gan import generate, load_generator  # noqa: F401  (digit_shares.py imports both)


def main(argv=None):
    p = argparse.ArgumentParser(description="Draw samples from a trained minigan generator.")
    p.add_argument("source", help="a run folder or its generator.npz")
    p.add_argument("--n", type=int, default=64, help="how many images")
    p.add_argument("--out", required=True, help="a .png (grid) or .npy (float32 (N, 28, 28))")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    args = p.parse_args(argv)
    if args.n < 1:
        p.error("--n must be at least 1")
    if not args.out.endswith((".png", ".npy")):
        p.error("--out must end in .png or .npy")
    try:
        images = generate(load_generator(args.source), args.n, args.seed)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.out.endswith(".npy"):
        np.save(args.out, images.astype(np.float32))
    else:
        cols = math.ceil(math.sqrt(args.n))
        visualize.save_grid(args.out, images, math.ceil(args.n / cols), cols)
    print(f"wrote {args.n} samples to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
