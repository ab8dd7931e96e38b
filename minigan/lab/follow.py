"""Follow an MNIST run folder while `mnist_gan.py` writes it (and after): what the lab's run tab
shows, read from the files the run writes, and the only files the lab serves from it.

    history.csv              a row per epoch: losses, D(x), D(G(z)), FID and digits when scored,
                             a divergence warning, the best epoch, why the run stopped
    samples_epochNNN.png     the fixed-noise grid after epoch NNN; final_grid.png at the end
    recipe.json              the recipe (written with the best generator and at the end); before
                             that, the recipe in checkpoint.npz, read once per checkpoint written
    best.json, report.md     the best epoch; the run's report, at the end

Every file is written whole by the run (a temporary file renamed over the name), so a read sees
the last version or the one before, never half a file.

RunFolder.file serves a name only when it is a plain file directly inside the folder with one of
SERVED's endings: no path separators, no "..", no symbolic link, nothing a URL's encodings could
turn into a path elsewhere (the server decodes the URL once; a name with "%" left is refused).
"""
import csv
import os
import re
import stat
from pathlib import Path

from minigan import checkpoint
from minigan.documents import parse_json

SERVED = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*\.(png|gif|csv|json|md)$")
CONTENT_TYPES = {"png": "image/png", "gif": "image/gif", "csv": "text/csv; charset=utf-8",
                 "json": "application/json", "md": "text/markdown; charset=utf-8"}
GRID = re.compile(r"^samples_epoch(\d+)\.png$")
MAX_FILE = 64 * 2 ** 20       # bytes: a run's grids and CSVs are far smaller


class Refused(ValueError):
    """A file name the lab will not serve: its message is one line."""


def number(text):
    """A history.csv cell as the page wants it: a number, "" as None, else the text."""
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text else value


class RunFolder:
    """A run folder, read on demand: state() for the page, file(name) for its files."""

    def __init__(self, folder):
        self.root = Path(folder).resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(f"no run folder {folder}: give the --out folder of a run "
                                    "(e.g. runs/2026-12-05_10-00-00)")
        self._recipe = (None, None)   # (checkpoint's (mtime, size), its recipe)

    def file(self, name):
        """(bytes, content type) of the file `name` directly inside the folder; Refused for a
        name that is not one SERVED, a symbolic link or anything not a plain file, and
        FileNotFoundError when there is no such file."""
        if not isinstance(name, str) or not SERVED.match(name) or ".." in name:
            raise Refused(f"not a file the lab serves: {name!r} (only .png, .gif, .csv, .json "
                          "and .md files directly inside the run folder)")
        path = self.root / name
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"no file {name} in the run folder (yet)") from None
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
            raise Refused(f"{name} is a symbolic link or not a plain file: not served")
        if info.st_size > MAX_FILE:
            raise Refused(f"{name} is larger than {MAX_FILE // 2 ** 20} MiB: not served")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            return f.read(MAX_FILE + 1)[:MAX_FILE], CONTENT_TYPES[name.rsplit(".", 1)[1]]

    def history(self):
        """history.csv's rows, each a dict of numbers (None where empty), in epoch order."""
        try:
            text, _ = self.file("history.csv")
        except FileNotFoundError:
            return []
        return [{k: number(v) for k, v in row.items()}
                for row in csv.DictReader(text.decode("utf-8").splitlines())]

    def grids(self):
        """The fixed-noise grids written so far, by epoch, then final_grid.png."""
        names = sorted((int(m.group(1)), m.group(0)) for m in map(GRID.match, self.names()) if m)
        grids = [{"epoch": epoch, "name": name} for epoch, name in names]
        if "final_grid.png" in self.names():
            grids.append({"epoch": None, "name": "final_grid.png"})
        return grids

    def names(self):
        """The plain files directly inside the folder."""
        return {entry.name for entry in os.scandir(self.root)
                if entry.is_file(follow_symlinks=False)}

    def json_file(self, name):
        try:
            return parse_json(self.file(name)[0])
        except (FileNotFoundError, ValueError):
            return None

    def recipe(self):
        """The run's recipe: recipe.json's, or the last checkpoint's (read again only when the
        checkpoint changes); None before either is written."""
        written = self.json_file("recipe.json")
        if isinstance(written, dict):
            return written
        path = self.root / "checkpoint.npz"
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return None
        key = (info.st_mtime_ns, info.st_size)
        if self._recipe[0] != key:
            try:
                recipe = checkpoint.load(path)[1].get("recipe")
            except (OSError, ValueError):
                recipe = None          # being replaced: the next poll reads it
            self._recipe = (key, recipe)
        return self._recipe[1]

    def state(self):
        """What the run tab draws, as one JSON-able dict."""
        history = self.history()
        return {"folder": self.root.name, "history": history, "grids": self.grids(),
                "recipe": self.recipe(), "best": self.json_file("best.json"),
                "warnings": [{"epoch": row.get("epoch"), "warning": row["warning"]}
                             for row in history if row.get("warning")],
                "finished": (self.root / "generator.npz").is_file(),
                "report": "report.md" in self.names()}


__all__ = ["Refused", "RunFolder", "SERVED"]
