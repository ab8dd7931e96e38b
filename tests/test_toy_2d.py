"""The 2-D toy GAN (examples/toy_2d.py): its coverage rule, its command line, and the collapse of
the seed recipe against the stable recipe's coverage of the 8 modes over seeds, trained with the
MNIST GAN's own steps."""
import concurrent.futures
import dataclasses
import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minigan.recipes import RECIPES

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "toy_2d.py"
TOY = runpy.run_path(str(EXAMPLE))


def test_coverage_counts_modes_and_high_quality_points():
    ring, coverage, modes = TOY["ring"], TOY["coverage"], TOY["MODES"]
    assert modes.shape == (8, 2) and np.allclose(np.linalg.norm(modes, axis=1), 2.0)
    covered, quality = coverage(ring(2000, seed=1))
    assert covered == 8 and quality > 0.98     # a 2-D Gaussian: 1 - exp(-3**2 / 2) = 98.9%
    assert coverage(np.repeat(modes[3:4], 500, axis=0)) == (1, 1.0)
    assert coverage(np.zeros((100, 2), np.float32)) == (0, 0.0)   # the centre is no mode
    half_far = np.concatenate([ring(1000, seed=2), np.full((1000, 2), 9.0, np.float32)])
    assert coverage(half_far) == (8, pytest.approx(0.5, abs=0.01))


# One training of the toy in a process of its own: the runs below go two at a time.
ONE_RUN = r"""
import json, runpy, sys
toy = runpy.run_path(sys.argv[1])
result = toy["train"](sys.argv[2], seed=int(sys.argv[3]))
print(json.dumps({"modes": result.modes_covered, "samples": list(result.samples.shape),
                  "snapshots": len(result.snapshots), "losses": len(result.losses["loss_d"])}))
"""


def toy_run(recipe, seed):
    out = subprocess.run([sys.executable, "-c", ONE_RUN, str(EXAMPLE), recipe, str(seed)],
                         capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, PYTHONPATH=str(EXAMPLE.parents[1])))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_seed_recipe_collapses_and_stable_covers_the_modes_over_seeds():
    """Over seeds 0-2 the seed recipe's median run keeps at most 3 modes and the stable
    recipe's at least 7 of 8. A run's count is not the same on every CPU: each BLAS rounds the
    products its own way and 5,000 GAN steps carry a rounding difference into another
    trajectory, as another seed would (seeds 0-2 gave the seed recipe 1, 8, 1 modes on
    OpenBLAS's SkylakeX and Haswell kernels alike; the stable one 8, 8, 7 and 7, 7, 8)."""
    runs = [(recipe, seed) for recipe in ("original", "stable") for seed in range(3)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(runs, pool.map(lambda run: toy_run(*run), runs)))
    modes = {recipe: [results[recipe, seed]["modes"] for seed in range(3)]
             for recipe in ("original", "stable")}
    assert np.median(modes["original"]) <= 3, modes
    assert np.median(modes["stable"]) >= 7, modes
    stable = results["stable", 0]
    assert stable["samples"] == [TOY["SAMPLES"], 2] and stable["snapshots"] == 11
    assert stable["losses"] == TOY["STEPS"]


def test_pack_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="pack must be 1.*drop --set pack=2"):
        TOY["train"](dataclasses.replace(RECIPES["stable"], pack=2), steps=1)


def test_command_line_writes_snapshots_and_gif(tmp_path, capsys):
    result = TOY["main"](["--recipe", "stable", "--steps", "20", "--snapshot-every", "10",
                          "--out", str(tmp_path / "toy")])
    lines = capsys.readouterr().out.strip().splitlines()
    names = sorted(path.name for path in (tmp_path / "toy").iterdir())
    assert names == ["step_00000.png", "step_00010.png", "step_00020.png", "training.gif"]
    assert lines[-1].endswith(f"modes covered {result.modes_covered}/8, high-quality "
                              f"{100 * result.high_quality:.0f}%")
    assert sum(line.startswith("step ") for line in lines) == 2


def test_command_line_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        TOY["main"](["--set", "feature_matching=lots", "--out", str(tmp_path / "x")])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_info.value.code == 2 and "feature_matching" in error and "lots" in error
    (tmp_path / "file").write_text("")
    assert TOY["main"](["--steps", "1", "--out", str(tmp_path / "file")]) == 1
    assert capsys.readouterr().err == f"error: --out {tmp_path / 'file'} is a file, not a folder\n"
