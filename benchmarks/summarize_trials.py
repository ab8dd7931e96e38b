"""Summarize recipe trials: per run folder (with trials.jsonl), the digits covered per epoch.

    python benchmarks/summarize_trials.py runs/recipe_search

Columns: covered digits (share >= 5%) after each epoch for the live generator, and, when the run
kept a weight average, for the averaged one (ema) and the averaged one with recomputed BatchNorm
statistics (st); then the last epoch's smallest share.
"""
import glob
import json
import os
import sys


def summarize(root):
    for path in sorted(glob.glob(os.path.join(root, "*", "trials.jsonl"))):
        rows = [json.loads(line) for line in open(path)]
        name = os.path.basename(os.path.dirname(path))
        cells = []
        for r in rows:
            cell = f"{r['covered']}"
            if "covered_ema" in r:
                cell += f"/{r['covered_ema']}/{r['covered_ema_standing']}"
            cells.append(f"e{r['epoch']}:{cell}")
        last = rows[-1]
        best = "shares_ema_standing" if "shares_ema_standing" in last else "shares"
        print(f"{name:26s} {' '.join(cells)}  {last['minutes']}min  "
              f"min share {min(last[best]):.3f} ({best})")


if __name__ == "__main__":
    summarize(sys.argv[1] if len(sys.argv) > 1 else "runs/recipe_search")
