"""Make the pretrained generator shipped in the package from a run's checkpoint.

    python examples/export_pretrained.py runs/RUN --command "python examples/mnist_gan.py ..." \
        --commit abc1234 --machine "2-core AMD EPYC VM"

Reads the generator in runs/RUN/checkpoint.npz (the state after the run's last finished epoch:
the averaged generator for a run that kept one (the recipe's ema); with --which best,
runs/RUN/generator_best.npz, the best-scored epoch's, with best.json) and writes
minigan/weights/generator_pretrained.npz (its arrays, floats as float16) and
generator_pretrained.json (its recipe, and its provenance: the command, commit, machine, the
epochs trained of those planned, the date, and the scores of `python -m minigan.evaluate` for the
float32 original and the float16 copy as shipped, 5,000 samples, noise seed 0).
"""
import argparse
import dataclasses
import datetime
import json
import sys
from pathlib import Path

import numpy as np

from minigan import evaluate, recipes, sampling, train

KEPT = ("fid", "digits_covered", "shares", "kl_to_uniform", "confidence",
        "fid_floor_real_vs_real", "fid_floor", "fid_floor_min", "fid_floor_max",
        "isolated_pixels", "images_with_isolated", "n")


def scores(G):
    """minigan.evaluate's scores of G: 5,000 samples from noise seed 0."""
    result = evaluate.score(G)
    return {key: result[key] for key in KEPT}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="a run folder with a checkpoint.npz")
    p.add_argument("--command", required=True, help="the command that trained the run")
    p.add_argument("--commit", required=True, help="the git commit the run was trained at")
    p.add_argument("--machine", required=True, help="where it was trained, in words")
    p.add_argument("--out", default=str(sampling.PRETRAINED),
                   help="the .npz to write (its .json goes beside it)")
    p.add_argument("--which", choices=sorted(sampling.GENERATORS), default="last",
                   help="the run's generator after its last finished epoch (last, the default) "
                        "or of its best-scored epoch (best)")
    args = p.parse_args(argv)
    run, out = Path(args.run), Path(args.out)
    try:
        saved = train.load_checkpoint(run / "checkpoint.npz")
        recipe = recipes.Recipe(**saved["recipe"])
        epoch = saved["epoch"]
        if args.which == "best":
            G = sampling.load_generator(run, "best")
            epoch = json.loads((run / "best.json").read_text())["epoch"]
            state = G.state_dict()
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.which == "last":   # a run with the averaged generator (recipe.ema) exports it
        state = saved.get("G_average", saved["G"])
        G = sampling.generator_from(recipe, state, run / "checkpoint.npz")
    half = {k: v.astype(np.float16) if v.dtype.kind == "f" else v for k, v in state.items()}
    worst = max(float(np.abs(half[k].astype(np.float32) - v).max())
                for k, v in state.items() if v.dtype.kind == "f")
    np.savez(out, **half)
    provenance = {"command": args.command, "commit": args.commit, "machine": args.machine,
                  "epochs_trained": epoch, "epochs_planned": saved["config"]["epochs"],
                  "generator": ("best-scored epoch" if args.which == "best" else "last epoch")
                  + (", weight average" if "G_average" in saved else ""),
                  "exported": datetime.date.today().isoformat(),
                  "float16_max_abs_rounding": worst, "scores_float32": scores(G),
                  "scores_float16": scores(sampling.generator_from(   # as load_pretrained reads
                      recipe, sampling.widened(half), out))}
    out.with_suffix(".json").write_text(json.dumps(
        {"recipe": dataclasses.asdict(recipe), "provenance": provenance}, indent=1) + "\n")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) and {out.with_suffix('.json')}: "
          f"FID {provenance['scores_float16']['fid']:.2f} as shipped (float32 original "
          f"{provenance['scores_float32']['fid']:.2f}), "
          f"{provenance['scores_float16']['digits_covered']} digits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
