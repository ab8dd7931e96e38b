import ast
import argparse
import runpy
import sys
from pathlib import Path

import pytest

from minigan import build, train_command

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name):
    """The example's globals, with examples/ not on sys.path: shared code lives in the package."""
    return runpy.run_path(str(EXAMPLES / name))


def skip_without_mnist():
    from minigan import data
    try:
        data.load_mnist("test", download=False)
    except (FileNotFoundError, data.DataError):
        pytest.skip("needs the MNIST files (set MINIGAN_DATA_DIR)")


def test_examples_import_the_package_never_each_other():
    names = {path.stem for path in EXAMPLES.glob("*.py")}
    for path in EXAMPLES.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module}
        assert not imported & names, f"{path.name} imports another example"
        assert "sys.path" not in path.read_text(), f"{path.name} edits sys.path"


def test_tiny_example_learns():
    accuracy = load("train_tiny.py")["main"](["--steps", "300"])
    assert accuracy > 0.9


def test_mnist_gan_on_a_gpu_that_is_not_there_is_one_clear_error(tmp_path):
    import subprocess

    import pytest
    from conftest import gpu_available
    if gpu_available():
        pytest.skip("this machine has a GPU")
    result = subprocess.run([sys.executable, str(EXAMPLES / "mnist_gan.py"), "--device", "gpu",
                             "--epochs", "1", "--out", str(tmp_path / "run")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert "cpu" in result.stderr  # names the fix: use device 'cpu' (or install CuPy)


def test_recipe_trials_judges_each_epoch_with_the_lenet(tmp_path, monkeypatch):
    """One epoch of a variant on 128 images: "covered" and "shares" of --samples images, and the
    trainer's scores, all from minigan.digits."""
    import json

    from minigan import digits
    skip_without_mnist()
    judged, run = [], digits.run

    def counted_run(model, images):
        judged.append(len(images))
        return run(model, images)
    monkeypatch.setattr(digits, "run", counted_run)
    main = load("recipe_trials.py")["main"]
    assert main(["--epochs", "1", "--limit", "128", "--samples", "100", "--set", "pack=2",
                 "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "trials.jsonl").read_text())
    assert record["recipe"] == "stable pack=2" and record["epoch"] == 1
    assert 100 in judged                     # the judge's samples went through the LeNet
    assert sum(record["shares"]) == pytest.approx(1, abs=0.01)
    assert record["covered"] == sum(share >= 0.05 for share in record["shares"])
    assert 0 <= record["digits"] <= 10 and record["fid"] > 0


def test_digit_shares_prints_each_digits_share_without_the_mnist_files(tmp_path, monkeypatch,
                                                                       capsys):
    import json

    import numpy as np

    monkeypatch.delenv("MINIGAN_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))     # no MNIST anywhere
    np.savez(tmp_path / "generator.npz", **build.build_generator("original").state_dict())
    (tmp_path / "recipe.json").write_text(json.dumps(
        {"name": "seed", "generator": "seed", "minibatch_std": False}))
    main = load("digit_shares.py")["main"]
    assert main([str(tmp_path), "--n", "200"]) == 0
    digit_row, share_row, covered = capsys.readouterr().out.splitlines()
    assert digit_row.split()[1:] == [str(d) for d in range(10)]
    shares = [float(s.rstrip("%")) for s in share_row.split()[1:]]
    assert sum(shares) == pytest.approx(100, abs=0.6)
    assert covered == f"covered (>= 5%): {sum(s >= 5 for s in shares)} of 10"
    assert main([str(tmp_path / "nothing")]) == 1
    assert capsys.readouterr().err.startswith("error: no generator weights")


def test_train_classifier_trains_and_saves_the_lenet(tmp_path, capsys):
    """Ten steps on 1,280 images lift the test accuracy well above chance (10%; 46% seen)."""
    from minigan import digits
    skip_without_mnist()
    out = tmp_path / "lenet.npz"
    main = load("train_classifier.py")["main"]
    assert main(["--epochs", "1", "--limit", "1280", "--out", str(out)]) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.startswith("test accuracy ") and float(line.split()[2]) > 0.3
    assert digits.load(out).state_dict().keys() == digits.build().state_dict().keys()


def test_mnist_gan_trains_offline_with_no_data_folder(tmp_path):
    """A fresh clone's main command: no MINIGAN_DATA_DIR, an empty cache and no network (a proxy
    that refuses every connection), and it trains on the MNIST copy shipped in data/mnist."""
    import os
    import subprocess
    env = {k: v for k, v in os.environ.items() if k != "MINIGAN_DATA_DIR"}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), https_proxy="http://127.0.0.1:9",
               http_proxy="http://127.0.0.1:9", MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, str(EXAMPLES / "mnist_gan.py"), "--epochs", "1",
                           "--limit", "64", "--batch-size", "32", "--out", str(tmp_path / "run")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "downloading" not in done.stderr and (tmp_path / "run" / "generator.npz").is_file()
    assert not (tmp_path / "cache" / "minigan").exists()    # nothing fetched into the cache


def test_mnist_ablation_trains_scores_and_goes_on_where_it_stopped(tmp_path, capsys):
    """Two tiny trials (the full recipe and one trick removed), each scored by minigan.evaluate;
    a second call trains nothing; a cut-off run is moved aside and trained again."""
    import json
    skip_without_mnist()
    main = load("mnist_ablation.py")["main"]
    args = ["--seeds", "0", "--epochs", "1", "--limit", "128", "--samples", "100",
            "--tricks", "label smoothing", "--out", str(tmp_path)]
    assert main(args) == 0
    full, without = tmp_path / "stable_seed0", tmp_path / "stable_real_label-1.0_seed0"
    scores = [json.loads((run / "score.json").read_text()) for run in (full, without)]
    assert all(s["epochs"] == 1 and s["n"] == 100 and s["fid"] > 0 for s in scores)
    assert "--set real_label=1.0" in scores[1]["command"]
    assert scores[0]["fid"] != scores[1]["fid"]          # two runs, not one scored twice
    table = capsys.readouterr().out
    assert f"| stable (all tricks) | {scores[0]['fid']:.1f} |" in table
    assert f"| without label smoothing | {scores[1]['fid']:.1f} |" in table
    assert (tmp_path / "ablation.md").read_text() == table.rstrip("\n") + "\n"

    trained = (full / "generator.npz").stat().st_mtime_ns
    assert main(args) == 0                               # all scored: nothing trains
    assert (full / "generator.npz").stat().st_mtime_ns == trained
    assert "training" not in capsys.readouterr().err

    (without / "generator.npz").unlink()                 # as if cut off mid-run
    (without / "score.json").unlink()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "moved to" in err and (tmp_path / "stable_real_label-1.0_seed0.unfinished").is_dir()
    assert json.loads((without / "score.json").read_text())["epochs"] == 1


def test_mnist_ablation_refuses_an_unknown_trick_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit):
        load("mnist_ablation.py")["main"](["--tricks", "dropout", "--out", str(tmp_path)])
    assert "unknown trick(s) ['dropout']" in capsys.readouterr().err


def test_mnist_ablation_reports_every_trick_by_default(tmp_path, capsys):
    """--report trains nothing and lists the full recipe and each trick removed, as not run yet:
    every name in recipes.TRICKS survives the comma-separated --tricks default."""
    from minigan.recipes import TRICKS
    assert load("mnist_ablation.py")["main"](["--report", "--out", str(tmp_path)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if "not run / not run" in line]
    assert [row.split(" | ")[0] for row in rows] == \
        ["| stable (all tricks)"] + [f"| without {trick}" for trick in TRICKS]
    assert not list(tmp_path.glob("*_seed*"))


def test_gan_in_one_file_trains_logs_samples_and_repeats_itself(tmp_path, capsys):
    """Ten batches of the loop in one file: a progress line with finite losses and D outputs in
    [0, 1], an epoch grid that opens as a picture, and the same numbers again from the same
    seed."""
    import math

    from PIL import Image
    skip_without_mnist()
    main = load("gan_in_one_file.py")["main"]
    printed = []
    for run in ("a", "b"):
        assert main(["--epochs", "1", "--limit", "640", "--out", str(tmp_path / run)]) == 0
        printed.append([line for line in capsys.readouterr().out.splitlines()
                        if line.startswith("epoch 1 batch")])
    assert printed[0] and printed[0] == printed[1]      # same seed, bit-identical losses
    fields = printed[0][-1].split()
    assert fields[3] == "10/10"
    values = dict(zip(fields[4::2], map(float, fields[5::2])))
    assert set(values) == {"loss_D", "loss_G", "D(x)", "D(G(z))"}
    assert all(math.isfinite(v) for v in values.values())
    assert 0 <= values["D(x)"] <= 1 and 0 <= values["D(G(z))"] <= 1
    with Image.open(tmp_path / "a" / "epoch_001.png") as grid:
        assert grid.size == ((8 * 30 + 2) * 3, (8 * 30 + 2) * 3)   # 8x8 digits, 2 px apart
    for flags, message in ((["--out", str(tmp_path / "a")], "already holds files"),
                           (["--limit", "10", "--out", str(tmp_path / "c")], "got 10")):
        with pytest.raises(SystemExit):                 # one clear line, nothing trained
            main(flags)
        assert message in capsys.readouterr().err


def test_help_texts_say_the_whole_sentence_and_every_place_looked():
    """toy_2d's description is its docstring's first paragraph, not a line cut mid-sentence;
    mnist_gan's --data-dir help (minigan.train_command's) names every place the files are looked
    up, the shipped copy included."""
    toy = load("toy_2d.py")["build_parser"]()
    assert toy.description.endswith("in seconds rather than hours.")
    parser = argparse.ArgumentParser()
    train_command.add_run_flags(parser)
    data_dir = next(a for a in parser._actions if a.dest == "data_dir")
    assert "data/mnist/" in data_dir.help and "$MINIGAN_DATA_DIR" in data_dir.help
