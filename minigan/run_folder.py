"""The run folder: a fresh one by default, never another run's unless asked, and checked for
writing before the first training step."""
import os
import tempfile
import time
from pathlib import Path


class OutputError(ValueError):
    """The run folder cannot be used: it is a file, not writable, or holds another run."""


# What a run writes into its folder; --overwrite deletes these (and nothing else) first.
RUN_FILES = ("samples_epoch*.png", "final_grid.png", "progress.gif", "losses.png", "history.csv",
             "checkpoint.npz", "checkpoint.npz.tmp*", "generator.npz", "generator.npz.tmp*",
             "recipe.json")


def fresh_run_folder(parent="runs"):
    """runs/<date-time>, with -2, -3, ... added when that folder exists: a new run never lands
    in an old one's folder."""
    stem = os.path.join(parent, time.strftime("%Y%m%d-%H%M%S"))
    folder, k = stem, 1
    while os.path.exists(folder):
        k += 1
        folder = f"{stem}-{k}"
    return folder


def prepare_output(out, *, overwrite=False, own_run=False):
    """Make the run folder `out` ready before any training: create it; refuse one that already
    holds files, unless `overwrite` (then delete the files a run writes, RUN_FILES, and nothing
    else) or `own_run` (a resumed run's own folder); and prove it writable."""
    out = Path(out)
    try:
        if out.exists() and not out.is_dir():
            raise OutputError(f"the output folder {out} is a file: choose a folder path (--out)")
        out.mkdir(parents=True, exist_ok=True)
        existing = sorted(p.name for p in out.iterdir())
    except (FileExistsError, NotADirectoryError):
        raise OutputError(f"cannot create the output folder {out}: part of that path is a file; "
                          "choose another --out") from None
    except OSError as exc:
        raise OutputError(f"cannot use the output folder {out} ({exc.strerror}): choose "
                          "another --out") from None
    if existing and not own_run:
        if not overwrite:
            shown = ", ".join(existing[:3]) + (", ..." if len(existing) > 3 else "")
            raise OutputError(f"the output folder {out} is not empty ({shown}): choose another "
                              f"--out, continue that run with --resume {out / 'checkpoint.npz'}, "
                              "or pass --overwrite to replace its outputs")
        for pattern in RUN_FILES:
            for path in out.glob(pattern):
                path.unlink()
    try:
        fd, probe = tempfile.mkstemp(dir=out, prefix=".minigan-write-check")
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        raise OutputError(f"cannot write to the output folder {out} ({exc.strerror}): choose a "
                          "writable --out") from None
