"""Draw samples from a trained generator.

    python examples/sample.py runs/RUN --n 64 --out grid.png       # a grid picture
    python examples/sample.py runs/RUN/generator.npz --n 5000 --out samples.npy
          # N images as float32 in [-1, 1], shape (N, 28, 28), to evaluate elsewhere
"""
import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from minigan import backend, gan, visualize
from minigan.autograd import no_grad


def load_generator(path):
    """A generator from a run folder or a generator.npz (with recipe.json beside it)."""
    path = Path(path)
    npz = path / "generator.npz" if path.is_dir() else path
    if not npz.is_file():
        raise FileNotFoundError(f"no generator weights at {npz} (expected a run folder or a "
                                "generator.npz written by examples/mnist_gan.py)")
    recipe_file = npz.parent / "recipe.json"
    recipe = gan.Recipe(**json.loads(recipe_file.read_text())) if recipe_file.is_file() \
        else gan.RECIPES["stable"]
    G = gan.build_generator(recipe)
    G.load_state_dict(dict(np.load(npz)))
    return G.eval()


def generate(G, n, seed=0, batch_size=1000):
    backend.manual_seed(seed)
    out = []
    with no_grad():
        for start in range(0, n, batch_size):
            z = gan.sample_noise(min(batch_size, n - start), G.device)
            out.append(G(z).numpy())
    return np.concatenate(out).reshape(n, 28, 28)


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
