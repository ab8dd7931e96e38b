"""Keep, in the repository, what docs/make_figures.py needs of a finished training run.

    python docs/record_run.py runs/RUN docs/runs/NAME --command "python examples/mnist_gan.py ..." \
        --machine "2-core AMD EPYC VM" [--commit abc1234]

Writes docs/runs/NAME/: history.csv (a row per epoch, as the run wrote it), points.csv (the
means logged every --log-every steps), frames.npz (`frames`: the fixed-noise grid of each sampled
epoch, uint8; `epochs`: which epoch each is) and run.json (the command, the commit it ran at, the
machine, the date). Read from the run's history.csv and checkpoint.npz; a record is a few hundred
KB where the checkpoint is tens of MB.
"""
import argparse
import csv
import datetime
import json
import shutil
import subprocess
import sys
from pathlib import Path

import make_figures  # docs/, beside this script: how a run's frames are read
import numpy as np

from minigan import train

POINT_KEYS = ("iteration", "loss_d", "loss_g", "d_real", "d_fake")


def record(run, out, command, machine, commit=None):
    """Write the record of the run folder `run` into `out` (see the module docstring)."""
    run, out = Path(run), Path(out)
    saved = train.load_checkpoint(run / "checkpoint.npz")
    grids, points = make_figures.frames(run), saved["points"]
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run / "history.csv", out / "history.csv")
    with open(out / "points.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(POINT_KEYS)
        writer.writerows(zip(*(points[k] for k in POINT_KEYS)))
    np.savez_compressed(out / "frames.npz", frames=np.stack(list(grids.values())),
                        epochs=np.array(list(grids)))
    commit = commit or subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                      capture_output=True, text=True).stdout.strip()
    document = {"command": command, "commit": commit, "machine": machine,
                "recorded": datetime.date.today().isoformat(), "epochs": saved["epoch"],
                "planned_epochs": saved["config"]["epochs"]}
    (out / "run.json").write_text(json.dumps(document, indent=2) + "\n")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="a finished run folder (history.csv, checkpoint.npz)")
    p.add_argument("out", help="the record's folder, e.g. docs/runs/default")
    p.add_argument("--command", required=True, help="the command that trained the run")
    p.add_argument("--machine", required=True, help="where it was trained, in words")
    p.add_argument("--commit", help="the commit the run was trained at (default: HEAD's)")
    args = p.parse_args(argv)
    try:
        print(f"wrote {record(args.run, args.out, args.command, args.machine, args.commit)}")
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
