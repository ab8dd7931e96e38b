"""What a run writes into its folder: sample grids, the history (CSV and curves), the GIF of the
grids, checkpoints, the best-scored generator, and at the end the generator with its recipe.
Every file is written to a temporary file beside it and renamed over its name
(checkpoint.save_atomic): it is replaced whole or not at all, and a symbolic link at the name is
replaced, never written through."""
import csv
import dataclasses
import io
import json

import numpy as np

from minigan import checkpoint, visualize
from minigan.run_folder import ORPHANS, RunLock, check_out, make_folder, prepare_output


class RunWriteError(OSError):
    """A file of the run could not be written (a full disk, say). Its name holds its last whole
    version, or nothing: never a partial file. `path` is the file."""

    def __init__(self, message, path):
        super().__init__(message)
        self.path = path

    def told(self, saved, epochs, command):
        """This error, told which checkpoint is good (`saved`: (path, epoch), or None) and the
        command that finishes the run (`command`: as finish_command) to its `epochs`."""
        fix = "once it can be written (free some space, if the disk is full)"
        if saved is None:
            hint = (f"No checkpoint was written yet: {fix}, start again with "
                    f"{command(None, epochs)}")
        else:
            hint = (f"The last good checkpoint is {saved[0]} (epoch {saved[1]} of {epochs}): "
                    f"{fix}, finish the run with {command(saved[0], epochs)}")
        return RunWriteError(f"{self}. {hint}", self.path)


def finish_command(checkpoint, epochs):
    """The flags that finish a run a failed write stopped: resume from its last good checkpoint
    to its planned total (when all are trained, that writes just the final files), or with none
    yet, start again over the partial outputs. The command line gives its whole command."""
    if checkpoint is None:
        return "--overwrite"
    return f"--resume {checkpoint} --epochs {epochs}"


class RunWriter:
    """Writes into `out` (a folder path); `grid` is the side of the sample grids, in images, and
    `frame` that of the GIF's frames and the final grid."""

    def __init__(self, out, grid, frame=8):
        self.out = check_out(out)   # a Path; '' (the current folder, silently) is refused
        self.grid, self.frame = grid, frame
        self.frames = []  # one frame x frame grid per sample epoch, for the GIF
        self.ready = False
        self.lock = RunLock(self.out)

    def open(self, overwrite=False, own_run=False, resumed_from=None):
        """Hold the folder for a run (RunLock) and, the first time, prepare it; returns a note
        naming the process whose lock file was taken over (a killed run's), or None. close()
        lets go."""
        make_folder(self.out)
        self.lock.acquire()
        try:
            self.prepare(overwrite, own_run, resumed_from)
        except BaseException:
            self.lock.release()
            raise
        if self.lock.stale:
            return (f"note: {self.lock.path} was left by process {self.lock.stale}, which ended "
                    "without removing it (killed?): this run took it over")
        return None

    def close(self):
        self.lock.release()

    def prepare(self, overwrite=False, own_run=False, resumed_from=None):
        """Before the first write: the folder made, checked, and cleared of killed writes."""
        if not self.ready:
            prepare_output(self.out, overwrite=overwrite, own_run=own_run,
                           resumed_from=resumed_from)
            for pattern in ORPHANS:
                for orphan in self.out.glob(pattern):
                    orphan.unlink(missing_ok=True)
            self.ready = True

    def samples(self, epoch, images):
        """The grid of one epoch's samples (of the fixed noise), and a frame for the GIF."""
        path = self.out / f"samples_epoch{epoch:03d}.png"
        self.whole(path, visualize.save_grid, images, self.grid, self.grid)
        self.frames.append(visualize.grid(images, self.frame, self.frame))

    def history(self, epochs, points, title):
        """history.csv (a row per epoch) and losses.png (the logged points; scores if any)."""
        fields = list(dict.fromkeys(k for row in epochs for k in row))  # scores: some rows
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=fields)
        writer.writeheader()
        writer.writerows(epochs)
        self.whole(self.out / "history.csv", checkpoint.save_atomic,
                   lambda f: f.write(text.getvalue().encode()))
        scores = [row for row in epochs if "fid" in row]
        self.whole(self.out / "losses.png", visualize.save_curves, points, title, scores=scores)

    def checkpoint(self, arrays, document):
        self.whole(self.out / "checkpoint.npz", checkpoint.save, arrays, document)

    def best(self, row, generator_state, recipe):
        """generator_best.npz, the generator of the best-scored epoch so far, with best.json (its
        epoch, FID and digit coverage: `row`, its history row) and the recipe.json that rebuilds
        it, so that a run stopped early still has its best generator loadable."""
        self.whole(self.out / "generator_best.npz", checkpoint.save_atomic,
                   lambda f: np.savez(f, **generator_state))
        record = {"epoch": row["epoch"], "fid": row["fid"], "digits": row["digits"],
                  "chosen_by": "the lowest FID against the evaluation images"}
        self.whole(self.out / "best.json", checkpoint.save_atomic,
                   lambda f: f.write(json.dumps(record, indent=2).encode()))
        self.recipe(recipe)

    def recipe(self, recipe):
        document = json.dumps(dataclasses.asdict(recipe), indent=2).encode()
        self.whole(self.out / "recipe.json", checkpoint.save_atomic, lambda f: f.write(document))

    def finish(self, images, generator_state, recipe, raw_state=None):
        """The final grid, the GIF, generator.npz and the recipe.json that rebuilds it; with an
        averaged generator (generator_state), the trained one as generator_raw.npz."""
        self.whole(self.out / "final_grid.png", visualize.save_grid, images, self.frame,
                   self.frame)
        self.whole(self.out / "progress.gif", visualize.save_gif, self.frames)
        self.whole(self.out / "generator.npz", checkpoint.save_atomic,
                   lambda f: np.savez(f, **generator_state))
        if raw_state is not None:
            self.whole(self.out / "generator_raw.npz", checkpoint.save_atomic,
                       lambda f: np.savez(f, **raw_state))
        self.recipe(recipe)

    def report(self, floor=None):
        """report.md (run_report.write_report), the run's one-page summary."""
        from minigan import run_report
        self.whole(self.out / run_report.REPORT, lambda path: run_report.write_report(
            self.out, floor))

    @staticmethod
    def whole(path, save, *args, **kwargs):
        """save(path, ...), a writer that replaces `path` whole; RunWriteError naming the file
        when the system refuses (a full disk, a lost permission)."""
        try:
            save(path, *args, **kwargs)
        except OSError as exc:
            raise RunWriteError(f"could not write {path} ({exc.strerror or exc}); no partial "
                                "file is left under that name", path) from None
