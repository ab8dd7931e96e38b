"""A run's one-page summary, report.md in its folder, to read or share: the last and the best
generators' samples, the loss and D-output curves, FID and digit coverage per scored epoch beside
the honest floor, the recipe, the time per epoch and the machine. Written by the trainer when a
run ends, and by `python -m minigan.evaluate RUN --report` (which computes the floor from the
training images). Markdown with the run's own pictures beside it: matplotlib and the standard
library, nothing more.
"""
import csv
import json
import os
import platform
import statistics
import time
from pathlib import Path

from minigan import checkpoint, sampling, visualize

REPORT = "report.md"
BEST_GRID = "best_grid.png"   # 8 x 8 samples of generator_best.npz, noise seed 0


def cpu_model():
    """The CPU's model name (Linux's /proc/cpuinfo), else what the platform says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine():
    """The CPU (model, logical cores), the OS and the versions that ran the code."""
    import numba
    import numpy

    import minigan
    return (f"{cpu_model()} ({os.cpu_count()} logical cores), {platform.system()} "
            f"{platform.release()}; Python {platform.python_version()}, NumPy "
            f"{numpy.__version__}, Numba {numba.__version__}, minigan {minigan.__version__}")


def read_history(folder):
    """history.csv's rows as dicts of text (empty where a row has no value)."""
    path = Path(folder) / "history.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def floor_text(floor):
    """The floor's sentence, or why there is none."""
    if floor is None:
        return ("FID floor: not computed here (`python -m minigan.evaluate RUN --report` scores "
                "training images against the same test images).")
    return (f"FID floor: {floor['fid_floor']:.2f} ({floor['fid_floor_min']:.2f}-"
            f"{floor['fid_floor_max']:.2f} over {floor['fid_floor_draws']} draws): "
            f"{floor['n_floor_train']:,} random training images scored against the same test "
            "images, what a generator that draws like the training set would score.")


def cell(value):
    """A number to 4 significant digits (history.csv keeps every digit); text as it is."""
    try:
        return f"{float(value):.4g}" if value not in (None, "") else ""
    except ValueError:
        return str(value)


def table(rows, columns):
    """A Markdown table of the given (title, key) columns."""
    lines = ["| " + " | ".join(title for title, _ in columns) + " |",
             "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(key)) for _, key in columns) + " |"
              for row in rows]
    return lines


def write_report(folder, floor=None, written_by="the trainer"):
    """report.md (and best_grid.png when the run kept a best generator) in the run folder;
    `floor`: metrics.training_floor's result, or None. Returns the report's path."""
    folder = Path(folder)
    history = read_history(folder)
    recipe_file = folder / "recipe.json"
    recipe = json.loads(recipe_file.read_text()) if recipe_file.is_file() else {}
    best_file = folder / "best.json"
    best = json.loads(best_file.read_text()) if best_file.is_file() else None
    title = f"recipe {recipe.get('name', '?')}, {len(history)} epochs"
    lines = [f"# minigan run: {title}", "",
             f"Written by {written_by}, {time.strftime('%Y-%m-%d %H:%M %Z')}, on {machine()}.",
             ""]
    seconds = [float(row["seconds"]) for row in history if row.get("seconds")]
    if seconds:
        lines += [f"Time per epoch: median {statistics.median(seconds):.1f} s "
                  f"({min(seconds):.1f}-{max(seconds):.1f}), {sum(seconds) / 60:.1f} minutes "
                  "in all.", ""]
    stops = [row["stop"] for row in history if row.get("stop")]
    if stops:
        lines += [f"Stopped early: {stops[-1]}.", ""]
    lines += ["## Samples", ""]
    pictures = []
    if (folder / "final_grid.png").is_file():
        pictures.append((f"last generator (epoch {len(history)})", "final_grid.png"))
    if best is not None and (folder / "generator_best.npz").is_file():
        G = sampling.load_generator(folder, which="best")
        images = sampling.generate(G, 64, seed=0)
        visualize.save_grid(folder / BEST_GRID, images, 8, 8)
        pictures.append((f"best generator (epoch {best['epoch']}, FID {best['fid']:.2f}), "
                         "noise seed 0", BEST_GRID))
    lines += table([{"what": what, "picture": f"![{what}]({name})"} for what, name in pictures],
                   [("", "what"), ("", "picture")]) if pictures else ["No samples were drawn."]
    lines += ["", "## Curves", "", "![losses and D outputs per logged step](losses.png)", ""]
    lines += ["## Scores", ""]
    scored = [row for row in history if row.get("fid")]
    if scored:
        lines += [floor_text(floor), ""]
        if best is not None:
            ratio = (f", {best['fid'] / floor['fid_floor']:.1f}x the floor"
                     if floor is not None else "")
            lines += [f"Best: FID {best['fid']:.2f} at epoch {best['epoch']}{ratio}; "
                      f"last scored: FID {float(scored[-1]['fid']):.2f} at epoch "
                      f"{scored[-1]['epoch']}.", ""]
        lines += table(scored, [("epoch", "epoch"), ("FID", "fid"), ("digits covered", "digits"),
                                ("KL to uniform", "kl_uniform"), ("best", "best")])
    else:
        lines += ["The run scored no epoch (train with --eval-every N)."]
    lines += ["", "## Losses per epoch", ""]
    lines += table(history, [("epoch", "epoch"), ("seconds", "seconds"), ("loss D", "loss_d"),
                             ("loss G", "loss_g"), ("D(x)", "d_real"), ("D(G(z))", "d_fake"),
                             ("warning", "warning")])
    lines += ["", "## Recipe", ""]
    lines += table([{"field": key, "value": str(value)} for key, value in recipe.items()],
                   [("field", "field"), ("value", "value")])
    path = folder / REPORT
    text = "\n".join(lines) + "\n"
    checkpoint.save_atomic(path, lambda f: f.write(text.encode()))
    return path


__all__ = ["REPORT", "machine", "write_report"]
