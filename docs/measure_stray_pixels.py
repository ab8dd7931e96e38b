"""The stray pixels of the default recipe's generator, measured: lit pixels with no lit
neighbour (minigan.metrics.isolated_pixels), which a pen stroke does not leave.

    python docs/measure_stray_pixels.py [--run docs/runs/default] [--checkpoint CHECKPOINT]

Prints their rate per image for MNIST's test and training images, for the pretrained generator
shipped in the package (5,000 samples, noise seed 0), and for the fixed-noise samples of each
epoch of the run's record (64 images an epoch, cut back out of its frames), beside the
instance noise D saw in that epoch (the recipe's 0.3, annealed linearly to 0 over the run).
With --checkpoint (a stable-recipe run's checkpoint.npz), how much one grey stray pixel (value 0)
on the background of each of 512 real test images moves that run's D (eval mode): the pressure
G feels to remove one.
"""
import argparse
import json
from pathlib import Path

import make_figures  # docs/, beside this script: how a run's frames are read
import numpy as np

import minigan as mg
from minigan import build, data, metrics, recipes, sampling, train, visualize
from minigan.autograd import no_grad

def judged(D, images, batch=64):
    """D's outputs for images (N, 784), a batch at a time, without a graph."""
    with no_grad():
        return np.concatenate([D(mg.tensor(images[i:i + batch].reshape(-1, 1, 28, 28)))
                               .numpy().ravel() for i in range(0, len(images), batch)])


def stray_pixel_pressure(checkpoint, n=512, seed=0):
    """D's mean output for n real test images, for the same images with one grey pixel (value 0)
    put on a random background pixel (value -1) of each, and for n of G's samples (noise seed
    `seed`), D and G in eval mode."""
    saved = train.load_checkpoint(checkpoint)
    D = build.build_discriminator(recipes.Recipe(**saved["recipe"]))
    D.load_state_dict(saved["D"])
    D.eval()
    real = data.load_mnist("test")[0][:n].reshape(n, 784)
    stray, rng = real.copy(), np.random.default_rng(seed)
    for image in stray:
        image[rng.choice(np.flatnonzero(image == -1))] = 0.0
    G = build.build_generator(recipes.Recipe(**saved["recipe"]))
    G.load_state_dict(saved["G"])
    fakes = sampling.generate(G.eval(), n, seed=seed).reshape(n, 784)
    return (float(judged(D, real).mean()), float(judged(D, stray).mean()),
            float(judged(D, fakes).mean()))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, default=make_figures.RECORDS / "default")
    p.add_argument("--checkpoint", type=Path, help="a stable-recipe run's checkpoint.npz")
    args = p.parse_args(argv)
    print("images | stray pixels per image | images with any")
    for split in ("test", "train"):
        rate = metrics.isolated_pixels(data.load_mnist(split)[0])
        print(f"MNIST {split} | {rate['isolated_pixels']:.3f} | "
              f"{100 * rate['images_with_isolated']:.1f}%")
    info = sampling.pretrained_info()["provenance"]
    rate = metrics.isolated_pixels(sampling.generate(sampling.load_pretrained(), 5000, seed=0))
    print(f"pretrained generator (epoch {info['epochs_trained']}, 5,000 samples) | "
          f"{rate['isolated_pixels']:.3f} | {100 * rate['images_with_isolated']:.1f}%")
    planned = json.loads((args.run / "run.json").read_text())["planned_epochs"]
    noise = recipes.RECIPES["stable"].instance_noise
    for epoch, frame in make_figures.frames(args.run).items():
        rate = metrics.isolated_pixels(visualize.cells(frame, 8, 8))
        std = noise * max(0.0, 1 - (epoch - 1) / planned)
        print(f"{args.run.name}, epoch {epoch} (instance noise {std:.2f}; 64 samples) | "
              f"{rate['isolated_pixels']:.3f} | {100 * rate['images_with_isolated']:.1f}%")
    if args.checkpoint:
        before, after, fakes = stray_pixel_pressure(args.checkpoint)
        print(f"D of {args.checkpoint}: mean D(x) of 512 real test images {before:.4f}, with one "
              f"grey stray pixel each {after:.4f} (a change of {after - before:+.4f}); "
              f"mean D(G(z)) of 512 of its G's samples {fakes:.4f}")


if __name__ == "__main__":
    main()
