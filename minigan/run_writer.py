"""What a run writes into its folder: sample grids, the history (CSV and curves), the GIF of the
grids, checkpoints, and at the end the generator with its recipe. Every file is replaced whole."""
import csv
import dataclasses
import json

import numpy as np

from minigan import checkpoint, visualize
from minigan.run_folder import prepare_output


class RunWriter:
    """Writes into `out` (a Path); `grid` is the side of the sample grids, in images, and
    `frame` that of the GIF's frames and the final grid."""

    def __init__(self, out, grid, frame=8):
        self.out, self.grid, self.frame = out, grid, frame
        self.frames = []  # one frame x frame grid per sample epoch, for the GIF
        self.ready = False

    def prepare(self, overwrite=False, own_run=False):
        """Before the first write: the folder made, checked, and cleared of killed writes."""
        if not self.ready:
            prepare_output(self.out, overwrite=overwrite, own_run=own_run)
            for name in ("checkpoint.npz", "generator.npz"):
                checkpoint.remove_orphans(self.out / name)
            self.ready = True

    def samples(self, epoch, images):
        """The grid of one epoch's samples (of the fixed noise), and a frame for the GIF."""
        path = self.out / f"samples_epoch{epoch:03d}.png"
        visualize.save_grid(path, images, self.grid, self.grid)
        self.frames.append(visualize.grid(images, self.frame, self.frame))

    def history(self, epochs, points, title):
        """history.csv (a row per epoch) and losses.png (the logged points; scores if any)."""
        fields = list(dict.fromkeys(k for row in epochs for k in row))  # scores: some rows
        with open(self.out / "history.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(epochs)
        scores = [row for row in epochs if "fid" in row]
        visualize.save_curves(self.out / "losses.png", points, title, scores=scores)

    def checkpoint(self, arrays, document):
        path = self.out / "checkpoint.npz"
        checkpoint.remove_orphans(path)
        checkpoint.save(path, arrays, document)

    def finish(self, images, generator_state, recipe):
        """The final grid, the GIF, generator.npz and the recipe.json that rebuilds it."""
        visualize.save_grid(self.out / "final_grid.png", images, self.frame, self.frame)
        visualize.save_gif(self.out / "progress.gif", self.frames)
        checkpoint.save_atomic(self.out / "generator.npz",
                               lambda f: np.savez(f, **generator_state))
        with open(self.out / "recipe.json", "w") as f:
            json.dump(dataclasses.asdict(recipe), f, indent=2)
