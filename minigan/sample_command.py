"""Draw samples from a trained generator: the command line of `minigan sample` and of
examples/sample.py.

    python examples/sample.py runs/RUN --n 64 --out grid.png       # a grid picture
    python examples/sample.py --pretrained --n 64 --out grid.png   # the shipped generator
    python examples/sample.py runs/RUN/generator.npz --n 5000 --out samples.npy
          # N images as float32 in [-1, 1], shape (N, 28, 28), to evaluate elsewhere
    python examples/sample.py runs/RUN --digit 7 --n 64 --out sevens.png   # a conditional run
    python examples/sample.py runs/RUN --walk 4 --steps 8 --out walk.png   # + walk.gif
    python examples/sample.py runs/RUN --walk 4 --from-digit 3 --to-digit 8 --out morph.png

--walk N draws N latent walks of --steps points each between pairs of random z, along the great
circle (spherical interpolation, minigan/latent.py says why; --linear: the straight line), as a
grid with a walk per row, and a GIF beside it (--out with .gif) stepping along all walks at once.
For a conditional run, --from-digit A --to-digit B walks between the two digits' label
embeddings instead, each walk's z held fixed.

A conditional run's generator draws the digit it is told: --digit D gives N images of D; without
--digit, the grid has one row per digit (0 to 9) and a .npy holds the digits 0, 1, ..., 9, 0, ...
in turn.

--out's folder must exist. An existing --out is replaced only with --overwrite; the file is written
only once all samples are drawn, so a failed run leaves an existing --out as it was. It gets the
rights the umask gives any new file.
"""
import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from minigan import latent, visualize
from minigan.sampling import (GENERATORS, digit_labels, generate, is_conditional, load_generator,
                              load_pretrained)

MAX_SAMPLES = 100_000  # as .npy: 314 MB of float32
MAX_GRID = 10_000      # as .png: a 100 x 100 grid, about 9,000 pixels on a side


def write_atomically(out, write, overwrite=False):
    """write(path) into a temporary file beside `out`, then give it the name `out`: an error on
    the way never leaves a half-written file. With `overwrite` it replaces what `out` names (a
    symlink is replaced, never followed); without, it takes the name only while it is free. The
    file gets the rights the umask gives a new file (mkstemp's are private), as every tool's."""
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=out.suffix)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        if overwrite:
            os.replace(tmp, out)
        else:
            claim(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def claim(tmp, out):
    """Give the file `tmp` the free name `out`: a hard link fails if the name was taken meanwhile
    (even by a dangling symlink), where a rename would replace it."""
    taken = FileExistsError(f"--out {out} already exists: give --overwrite to replace it, or "
                            "choose another --out")
    try:
        os.link(tmp, out)
    except FileExistsError:
        raise taken from None
    except OSError:  # a filesystem without hard links: check, then rename
        if os.path.lexists(out):
            raise taken from None
        os.replace(tmp, out)


def out_problem(out, overwrite):
    """Why --out cannot be written, checked before anything loads: its folder is missing or
    read-only, it is a folder, or it exists (a dangling symlink too) and --overwrite is not
    given. None when it can."""
    folder = out.parent
    if not folder.is_dir():
        return f"--out's folder {folder} does not exist: create it first"
    if out.is_dir() or not os.access(folder, os.W_OK):
        return f"cannot write {out} (a folder, or {folder} is not writable): choose another --out"
    if os.path.lexists(out) and not overwrite:
        return (f"--out {out} already exists: give --overwrite to replace it, or choose "
                "another --out")
    return None


def layout(G, n, digit, suffix):
    """(rows, cols, labels): a square-ish grid, or for a conditional G asked for no one digit,
    one row per digit in a grid and the digits in turn in a .npy. labels is None for an
    unconditional G, which cannot be told a digit (ValueError)."""
    cols = math.ceil(math.sqrt(n))
    if not is_conditional(G):
        if digit is not None:
            raise ValueError("--digit needs a conditional run (trained with --conditional); "
                             "this generator is unconditional: leave --digit out")
        return math.ceil(n / cols), cols, None
    if digit is not None or suffix == ".npy":
        return math.ceil(n / cols), cols, digit_labels(n, digit)
    cols = math.ceil(n / 10)                         # row d: the samples of digit d
    return 10, cols, np.arange(n) // cols


def walk_problem(args):
    """Why the walk flags do not fit together, or None."""
    digits = (args.from_digit is not None) + (args.to_digit is not None)
    if args.walk is None:
        if digits or args.linear:
            return "--from-digit, --to-digit and --linear shape a --walk: add --walk N"
        return None
    if not 1 <= args.walk <= 100 or args.steps < 2 or args.walk * args.steps > MAX_GRID:
        return (f"--walk N takes 1 to 100 walks and --steps S at least 2, N x S at most "
                f"{MAX_GRID:,}; got --walk {args.walk} --steps {args.steps}")
    if not str(args.out).endswith(".png"):
        return "--walk writes a .png grid (and a .gif beside it): --out must end in .png"
    if digits == 1:
        return "a digit walk needs both --from-digit and --to-digit"
    if digits and (args.linear or args.digit is not None):
        return "a digit walk holds z fixed: leave --linear and --digit out"
    return None


def write_walks(G, args, out):
    """The walks' grid (a walk per row) at out and the GIF beside it (a frame per step)."""
    if args.from_digit is not None:
        images, _ = latent.digit_walk(G, args.from_digit, args.to_digit, args.walk, args.steps,
                                      args.seed)
        what = f"from digit {args.from_digit} to {args.to_digit}"
    else:
        if args.digit is not None and not is_conditional(G):
            raise ValueError("--digit needs a conditional run (trained with --conditional); "
                             "this generator is unconditional: leave --digit out")
        images, _ = latent.latent_walk(G, args.walk, args.steps, args.seed,
                                       spherical=not args.linear, digit=args.digit)
        what = "along straight lines" if args.linear else "along great circles"
    cols = math.ceil(math.sqrt(args.walk))
    frames = [visualize.grid(images[:, step], math.ceil(args.walk / cols), cols)
              for step in range(args.steps)]
    gif = out.with_suffix(".gif")
    write_atomically(out, lambda tmp: visualize.save_grid(tmp, images.reshape(-1, 28, 28),
                                                          args.walk, args.steps),
                     args.overwrite)
    write_atomically(gif, lambda tmp: visualize.save_gif(tmp, frames), args.overwrite)
    print(f"wrote {args.walk} walks of {args.steps} steps {what} to {out} and {gif}")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description="Draw samples from a trained minigan generator.")
    p.add_argument("source", nargs="?", help="a run folder or its generator.npz")
    p.add_argument("--pretrained", action="store_true",
                   help="use the pretrained generator shipped in the package (no training, no "
                        "MNIST files needed) instead of a run")
    p.add_argument("--which", choices=sorted(GENERATORS), default="last",
                   help="a run folder's final generator (last, the default) or the generator of "
                        "its best-scored epoch (best: a run trained with --eval-every)")
    p.add_argument("--n", type=int, default=64,
                   help=f"how many images (at most {MAX_SAMPLES:,}; {MAX_GRID:,} in a .png grid)")
    p.add_argument("--out", required=True,
                   help="a .png (grid) or .npy (float32 (N, 28, 28)) in an existing folder")
    p.add_argument("--overwrite", action="store_true",
                   help="replace --out if it exists (without it, an existing --out is an error)")
    p.add_argument("--seed", type=int, default=0, help="noise seed (a whole number >= 0)")
    p.add_argument("--digit", type=int, default=None, choices=range(10), metavar="D",
                   help="a conditional run's generator draws only this digit (0-9)")
    p.add_argument("--walk", type=int, default=None, metavar="N",
                   help="N latent walks instead of samples: a .png grid (a walk per row) and a "
                        ".gif beside it")
    p.add_argument("--steps", type=int, default=8, help="points per walk, ends included "
                                                        "(default 8; at least 2)")
    p.add_argument("--linear", action="store_true",
                   help="walk the straight line between the z's, not the great circle")
    p.add_argument("--from-digit", type=int, default=None, choices=range(10), metavar="A",
                   help="a conditional run: walk from digit A's label embedding (with --to-digit)")
    p.add_argument("--to-digit", type=int, default=None, choices=range(10), metavar="B",
                   help="... to digit B's, each walk's z fixed")
    args = p.parse_args(argv)
    walking = walk_problem(args)
    if walking:
        p.error(walking)
    if (args.source is not None) == args.pretrained:
        p.error("give a run folder (or generator.npz), or --pretrained, not both")
    if args.seed < 0:
        p.error(f"argument --seed: must be at least 0, got {args.seed}")
    out = Path(args.out)
    if out.suffix not in (".png", ".npy"):
        p.error("--out must end in .png or .npy")
    limit = MAX_GRID if out.suffix == ".png" else MAX_SAMPLES
    if not 1 <= args.n <= limit:
        p.error(f"--n must be between 1 and {limit:,} for a {out.suffix} file, got {args.n}")
    problem = out_problem(out, args.overwrite) or \
        (out_problem(out.with_suffix(".gif"), args.overwrite) if args.walk else None)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    try:
        G = load_pretrained() if args.pretrained else load_generator(args.source, args.which)
        if args.walk:
            return write_walks(G, args, out)
        rows, cols, labels = layout(G, args.n, args.digit, out.suffix)
        images = generate(G, args.n, args.seed, labels=labels)
        if out.suffix == ".npy":
            write_atomically(out, lambda tmp: np.save(tmp, images.astype(np.float32)),
                             args.overwrite)
        else:
            write_atomically(out, lambda tmp: visualize.save_grid(tmp, images, rows, cols),
                             args.overwrite)
    except (OSError, ValueError) as error:  # FileNotFoundError is an OSError
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.n} samples to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
