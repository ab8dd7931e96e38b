"""Draw samples from a trained generator.

    python examples/sample.py runs/RUN --n 64 --out grid.png       # a grid picture
    python examples/sample.py --pretrained --n 64 --out grid.png   # the shipped generator
    python examples/sample.py runs/RUN/generator.npz --n 5000 --out samples.npy
          # N images as float32 in [-1, 1], shape (N, 28, 28), to evaluate elsewhere

--out's folder must exist; the file is written only once all samples are drawn, so a failed run
leaves an existing --out as it was.
"""
import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from minigan import visualize
from minigan.gan import generate, load_generator, load_pretrained

MAX_SAMPLES = 100_000  # as .npy: 314 MB of float32
MAX_GRID = 10_000      # as .png: a 100 x 100 grid, about 9,000 pixels on a side


def write_atomically(out, write):
    """write(path) into a temporary file beside `out`, then rename it to `out`: an error on the
    way never leaves a half-written file or clobbers the one already there."""
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=out.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv=None):
    p = argparse.ArgumentParser(description="Draw samples from a trained minigan generator.")
    p.add_argument("source", nargs="?", help="a run folder or its generator.npz")
    p.add_argument("--pretrained", action="store_true",
                   help="use the pretrained generator shipped in the package (no training, no "
                        "MNIST files needed) instead of a run")
    p.add_argument("--n", type=int, default=64,
                   help=f"how many images (at most {MAX_SAMPLES:,}; {MAX_GRID:,} in a .png grid)")
    p.add_argument("--out", required=True,
                   help="a .png (grid) or .npy (float32 (N, 28, 28)) in an existing folder")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    args = p.parse_args(argv)
    if (args.source is not None) == args.pretrained:
        p.error("give a run folder (or generator.npz), or --pretrained, not both")
    out = Path(args.out)
    if out.suffix not in (".png", ".npy"):
        p.error("--out must end in .png or .npy")
    limit = MAX_GRID if out.suffix == ".png" else MAX_SAMPLES
    if not 1 <= args.n <= limit:
        p.error(f"--n must be between 1 and {limit:,} for a {out.suffix} file, got {args.n}")
    folder = out.parent
    if not folder.is_dir():
        print(f"error: --out's folder {folder} does not exist: create it first",
              file=sys.stderr)
        return 1
    if out.is_dir() or not os.access(folder, os.W_OK):
        print(f"error: cannot write {out} (a folder, or {folder} is not writable): choose "
              "another --out", file=sys.stderr)
        return 1
    try:
        G = load_pretrained() if args.pretrained else load_generator(args.source)
        images = generate(G, args.n, args.seed)
        if out.suffix == ".npy":
            write_atomically(out, lambda tmp: np.save(tmp, images.astype(np.float32)))
        else:
            cols = math.ceil(math.sqrt(args.n))
            write_atomically(out, lambda tmp: visualize.save_grid(
                tmp, images, math.ceil(args.n / cols), cols))
    except (OSError, ValueError) as error:  # FileNotFoundError is an OSError
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.n} samples to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
