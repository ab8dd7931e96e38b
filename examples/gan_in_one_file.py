"""The original GAN on MNIST, its whole training loop in one file: read it first, or last.

    python examples/gan_in_one_file.py [--epochs 1] [--limit 6400] [--out runs/gan_in_one_file]

The networks come from minigan.gan with the original Keras recipe (an MLP generator against a
two-layer conv discriminator, Adam 1e-4); everything else is written out below, as in the
PyTorch DCGAN tutorial: data -> D step -> G step -> progress line -> sample grid. The trainer
(examples/mnist_gan.py) runs the same game through gan.discriminator_step / generator_step.

Measured 2026-12-05 on an AMD EPYC, 2 idle cores, Numba cache warm: `python
examples/gan_in_one_file.py` (1 epoch, 6,400 images, 100 batches of 64) took 16.5 s wall, 14 s
of it training (0.14 s a batch); the first run after a change also compiles Numba kernels. Its
grid shows one speckled shape 64 times: the original recipe collapses (see the README), which is
what the stable recipe's tricks are for.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

import minigan as mg
import minigan.functional as F
from minigan import data, gan, visualize
from minigan.recipes import RECIPES


def parse_flags(argv):
    """The flags, each checked in one clear line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1, help="passes over the images (default 1)")
    parser.add_argument("--limit", type=int, default=6400,
                        help="train on the first LIMIT MNIST images (default 6400, at most 60000)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per step (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="seeds weights, noise, order (0)")
    parser.add_argument("--log-every", type=int, default=10,
                        help="print a progress line every this many batches (default 10)")
    parser.add_argument("--out", default="runs/gan_in_one_file",
                        help="folder for the sample grids; must be new or empty")
    parser.add_argument("--data-dir", default=None,
                        help="folder holding the MNIST files (default: minigan.data's search)")
    args = parser.parse_args(argv)
    for flag in ("epochs", "batch_size", "log_every"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1, "
                         f"got {getattr(args, flag)}")
    if not args.batch_size <= args.limit <= 60000:
        parser.error(f"--limit must be between --batch-size ({args.batch_size}: one batch) and "
                     f"60000 (MNIST's training set), got {args.limit}")
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        parser.error(f"--out {out} already holds files: name a new or empty folder")
    return args


def save_samples(G, fixed_noise, path):
    """An 8x8 grid of G(fixed noise), the same z every epoch, so the grids compare."""
    G.eval()                                           # no dropout or batch statistics here
    with mg.no_grad():
        images = G(fixed_noise).numpy()                # (64, 784) in [-1, 1]
    G.train()
    visualize.save_grid(path, images, 8, 8)


def train(G, D, opt_d, opt_g, images, args, out):
    """The loop. The game (Goodfellow et al. 2014), with D(x) = P(x is real) and G(z) a fake:

        min_G max_D  E_x[log D(x)] + E_z[log(1 - D(G(z)))]

    one Adam step of D, then one of G, per batch; each loss is a mean binary cross-entropy,
    BCE(p, t) = -(t log p + (1 - t) log(1 - p))."""
    order = np.random.default_rng(args.seed)           # shuffles the images each epoch
    ones, zeros = (mg.tensor(np.full((args.batch_size, 1), t, np.float32)) for t in (1, 0))
    fixed_noise = gan.sample_noise(64)                 # (64, 100), drawn once
    n_batches = len(images) // args.batch_size         # the last partial batch is dropped
    for epoch in range(1, args.epochs + 1):
        for i, batch in enumerate(data.batches(images, args.batch_size, order), 1):
            real = mg.tensor(batch)                                # (N, 784) in [-1, 1]

            # (1) D maximises log D(x) + log(1 - D(G(z))), i.e. minimises
            #     BCE(D(x), 1) + BCE(D(G(z)), 0). The fakes are made under no_grad: D's loss
            #     must not reach back into G (no graph through G, nothing spent on it).
            p_real = D(real)                                       # (N, 1)
            with mg.no_grad():
                fake = G(gan.sample_noise(args.batch_size))        # (N, 784), fresh z
            p_fake = D(fake)                                       # (N, 1)
            loss_d = F.binary_cross_entropy(p_real, ones) + F.binary_cross_entropy(p_fake, zeros)
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()

            # (2) G should minimise log(1 - D(G(z))), but that is flat where D rejects the fakes
            #     (D(G(z)) ~ 0, as early on): its gradient vanishes. So G maximises log D(G(z))
            #     instead, the non-saturating loss: BCE(D(G(z)), 1), the fakes labelled real.
            #     D is frozen: its weights need no gradient here, and only opt_g steps.
            D.requires_grad_(False)
            p_gen = D(G(gan.sample_noise(args.batch_size)))        # (N, 1), through G this time
            loss_g = F.binary_cross_entropy(p_gen, ones)
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            D.requires_grad_(True)

            if i % args.log_every == 0 or i == n_batches:
                print(f"epoch {epoch} batch {i:3d}/{n_batches}  loss_D {loss_d.item():.4f}  "
                      f"loss_G {loss_g.item():.4f}  D(x) {p_real.data.mean():.3f}  "
                      f"D(G(z)) {p_fake.data.mean():.3f}", flush=True)
        save_samples(G, fixed_noise, out / f"epoch_{epoch:03d}.png")


def main(argv=None):
    args = parse_flags(argv)
    try:
        images, _ = data.load_mnist("train", args.data_dir)   # (60000, 784) in [-1, 1]
    except (FileNotFoundError, data.DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    images = images[:args.limit]
    mg.manual_seed(args.seed)                          # weights, dropout masks, noise
    recipe = RECIPES["original"]
    G = gan.build_generator(recipe)                    # z (N, 100) -> (N, 784), tanh
    D = gan.Discriminator(recipe)                      # (N, 784) -> P(real) (N, 1), sigmoid
    opt_d, opt_g = gan.make_optimizers(G, D, recipe)   # Adam 1e-4 each, one per network
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    train(G, D, opt_d, opt_g, images, args, out)
    print(f"{args.epochs} epoch(s) on {len(images)} images in "
          f"{time.perf_counter() - start:.0f} s; grids in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
