"""The pretrained generator shipped in the package: it loads with no training and no MNIST files,
draws every digit, is stored as float16 with its provenance, and minigan.evaluate reproduces
the scores that provenance states."""
import dataclasses
import json
import re
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minigan import build, data, digits, recipes, sampling

ROOT = Path(__file__).resolve().parents[1]


def load_script(name):
    return runpy.run_path(str(ROOT / "examples" / name))["main"]


def test_the_shipped_file_is_float16_with_its_provenance():
    arrays = sampling.read_arrays(sampling.PRETRAINED)
    assert {v.dtype for v in arrays.values() if v.dtype.kind == "f"} == {np.dtype(np.float16)}
    assert sampling.PRETRAINED.stat().st_size < 5e6
    info = sampling.pretrained_info()
    # the stable recipe's training; its run was recorded before the recipe kept the averaged
    # generator, so the shipped generator is the trained one (ema 0)
    assert recipes.Recipe(**info["recipe"]) == dataclasses.replace(recipes.RECIPES["stable"],
                                                                   ema=0.0)
    for key in ("command", "commit", "machine", "scores_float32", "scores_float16"):
        assert info["provenance"][key], key


def test_load_pretrained_draws_every_digit_without_mnist(monkeypatch):
    monkeypatch.setattr(data, "load_mnist", lambda *a, **k: pytest.fail("read MNIST"))
    G = sampling.load_pretrained()
    assert not G.training                        # BatchNorm uses its running statistics
    images = sampling.generate(G, 1000, seed=1)
    assert images.shape == (1000, 28, 28) and images.dtype == np.float32
    assert -1 <= images.min() and images.max() <= 1
    labels = digits.run(digits.load(), images)[1].argmax(axis=1)
    shares = np.bincount(labels, minlength=10) / len(labels)
    assert (shares >= 0.03).all(), f"digit shares {np.round(shares, 3)}"


def test_evaluate_reproduces_the_stated_fid():
    from minigan import evaluate
    stated = sampling.pretrained_info()["provenance"]["scores_float16"]
    result = evaluate.score(sampling.load_pretrained())
    assert result["digits_covered"] == stated["digits_covered"]
    assert result["fid"] == pytest.approx(stated["fid"], abs=0.05)


def test_the_docs_state_the_shipped_generators_scores():
    """README and weights/README.md quote the FID and epochs of the file as shipped (the
    provenance that test_evaluate_reproduces_the_stated_fid checks against minigan.evaluate)."""
    info = sampling.pretrained_info()["provenance"]
    fid, epochs = info["scores_float16"]["fid"], info["epochs_trained"]
    readme = " ".join((ROOT / "README.md").read_text().split())
    stated = re.search(r"Samples from the pretrained generator shipped in the package \(the "
                       r"default recipe, (\d+) epochs: FID ([\d.]+)", readme)
    assert stated, "README's pretrained sentence is missing or reworded"
    assert int(stated.group(1)) == epochs
    assert float(stated.group(2)) == pytest.approx(fid, rel=0.1)
    weights = " ".join((ROOT / "minigan" / "weights" / "README.md").read_text().split())
    assert f"FID **{fid:.2f}**" in weights


def test_sample_pretrained_writes_a_grid(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data, "load_mnist", lambda *a, **k: pytest.fail("read MNIST"))
    out = tmp_path / "grid.png"
    assert load_script("sample.py")(["--pretrained", "--n", "16", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote 16 samples to {out}"
    from PIL import Image
    assert Image.open(out).size == ((4 * 30 + 2) * 3, (4 * 30 + 2) * 3)


def test_sample_wants_a_run_or_pretrained_not_both(tmp_path, capsys):
    sample = load_script("sample.py")
    for argv in ([], ["runs/x", "--pretrained"]):
        with pytest.raises(SystemExit) as info:
            sample(argv + ["--out", str(tmp_path / "g.png")])
        assert info.value.code == 2 and "or --pretrained" in capsys.readouterr().err


def test_a_missing_or_broken_pretrained_file_is_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no pretrained generator at"):
        sampling.load_pretrained(tmp_path / "none.npz")
    npz = tmp_path / "g.npz"
    np.savez(npz, **build.build_generator().state_dict())
    npz.with_suffix(".json").write_text("[1, 2]")
    with pytest.raises(sampling.GeneratorError, match="expected an object with a 'recipe'"):
        sampling.load_pretrained(npz)
    npz.with_suffix(".json").write_text(json.dumps({"recipe": {"name": "x", "pack": 0}}))
    with pytest.raises(sampling.GeneratorError, match="pack must be"):
        sampling.load_pretrained(npz)
    npz.with_suffix(".json").write_text(json.dumps({"recipe": {"name": "seed",
                                                               "generator": "seed"}}))
    with pytest.raises(sampling.GeneratorError, match="arrays missing"):   # a BatchNorm G's weights
        sampling.load_pretrained(npz)


def test_sample_pretrained_from_a_fresh_environment(tmp_path):
    """No MINIGAN_DATA_DIR, an empty cache, no network: the grid is drawn from package data."""
    import os
    env = {k: v for k, v in os.environ.items() if k != "MINIGAN_DATA_DIR"}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), https_proxy="http://127.0.0.1:9",
               http_proxy="http://127.0.0.1:9")
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "sample.py"), "--pretrained",
                           "--out", str(tmp_path / "grid.png")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "grid.png").stat().st_size > 0


def test_export_writes_float16_weights_that_load_as_the_run_generator(tmp_path, monkeypatch):
    from conftest import quiet, tiny_images
    from minigan import train
    config = train.TrainConfig(epochs=1, batch_size=8, out=str(tmp_path / "run"), log_every=2,
                               seed=3)
    train.Trainer(config, tiny_images(), log=quiet).train()
    export = runpy.run_path(str(ROOT / "examples" / "export_pretrained.py"))
    monkeypatch.setitem(export["main"].__globals__, "scores", lambda G: {"fid": 1.0,
                                                                        "digits_covered": 3})
    out = tmp_path / "pretrained.npz"
    assert export["main"]([str(tmp_path / "run"), "--command", "c", "--commit", "abc",
                           "--machine", "m", "--out", str(out)]) == 0
    info = sampling.pretrained_info(out)
    assert info["provenance"]["epochs_trained"] == 1 == info["provenance"]["epochs_planned"]
    assert info["provenance"]["float16_max_abs_rounding"] < 1e-2
    G = sampling.load_pretrained(out)
    trained = sampling.load_generator(tmp_path / "run")
    for (name, half), (_, full) in zip(G.state_dict().items(), trained.state_dict().items()):
        assert half.dtype == full.dtype, name
        np.testing.assert_allclose(half, full, rtol=1e-3, atol=1e-4, err_msg=name)
