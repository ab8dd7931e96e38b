"""The best generator kept: with scoring on, the run folder holds generator_best.npz (the lowest
FID's epoch), best.json says which, history.csv marks it, the log compares it with the last, and
load_generator(run, which="best") loads it."""
import json
import os
import runpy
from pathlib import Path

import numpy as np
import pytest

import minigan as mg
from minigan import data, digits, evaluate, metrics, sampling, train

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SHARED = Path(os.environ.get("MINIGAN_DATA_DIR", "/nonexistent"))


def scripted_scores(monkeypatch, fids):
    """metrics.evaluate_images returns these FIDs in turn (the digits covered: 10 - epoch)."""
    calls = iter(enumerate(fids))

    def evaluate_images(images, real, labels=None):
        k, fid = next(calls)
        return {"fid": fid, "digits_covered": 10 - k, "kl_to_uniform": 0.1, "confidence": 0.9}
    monkeypatch.setattr(metrics, "evaluate_images", evaluate_images)
    monkeypatch.setattr(digits, "load", lambda path=None: digits.build().eval())


def test_the_best_scored_epoch_is_kept_marked_and_loadable(tmp_path, monkeypatch):
    scripted_scores(monkeypatch, [5.0, 3.0, 4.0])
    images = np.random.default_rng(0).uniform(-1, 1, (32, 784)).astype(np.float32)
    weights, lines = {}, []
    config = train.TrainConfig(epochs=3, batch_size=16, out=str(tmp_path / "run"), eval_every=1,
                               eval_samples=20, recipe="original")
    trainer = train.Trainer(config, images, log=lines.append, eval_images=images,
                            on_epoch_end=lambda t: weights.update({t.epoch: t.G.state_dict()}))
    trainer.train()
    run = tmp_path / "run"
    assert json.loads((run / "best.json").read_text())["epoch"] == 2
    assert json.loads((run / "best.json").read_text())["fid"] == 3.0
    assert json.loads((run / "best.json").read_text())["digits"] == 9
    best = sampling.load_generator(run, which="best").state_dict()
    last = sampling.load_generator(run).state_dict()
    for name, value in weights[2].items():
        np.testing.assert_array_equal(best[name], value)
    assert any(not np.array_equal(last[name], weights[2][name]) for name in last)
    history = (run / "history.csv").read_text().splitlines()
    column = history[0].split(",").index("best")
    assert [row.split(",")[column] for row in history[1:]] == ["0", "1", "0"]
    assert any(line.startswith("best generator: epoch 2, FID 3.000, 1.000 below the last score "
                               "(epoch 3, FID 4.000)") for line in lines)


def test_sample_takes_the_best_generator(tmp_path, monkeypatch, capsys):
    scripted_scores(monkeypatch, [2.0, 3.0])
    images = np.random.default_rng(0).uniform(-1, 1, (32, 784)).astype(np.float32)
    config = train.TrainConfig(epochs=2, batch_size=16, out=str(tmp_path / "run"), eval_every=1,
                               eval_samples=20, recipe="original")
    train.Trainer(config, images, log=lambda line: None, eval_images=images).train()
    sample = runpy.run_path(str(EXAMPLES / "sample.py"))["main"]
    got = {}
    for which in ("best", "last"):
        out = tmp_path / f"{which}.npy"
        assert sample([str(tmp_path / "run"), "--which", which, "--n", "4", "--out",
                       str(out)]) == 0
        got[which] = np.load(out)
    G = sampling.load_generator(tmp_path / "run", which="best")
    np.testing.assert_array_equal(got["best"], sampling.generate(G, 4, 0).reshape(4, 28, 28))
    assert not np.array_equal(got["best"], got["last"])     # epoch 1's generator, not epoch 2's


def test_a_new_best_replaces_the_old_and_ties_keep_the_first(tmp_path, monkeypatch):
    scripted_scores(monkeypatch, [4.0, 4.0, 2.0])
    images = np.random.default_rng(0).uniform(-1, 1, (32, 784)).astype(np.float32)
    config = train.TrainConfig(epochs=2, batch_size=16, out=str(tmp_path / "run"), eval_every=1,
                               eval_samples=20, recipe="original")
    train.Trainer(config, images, log=lambda line: None, eval_images=images).train()
    assert json.loads((tmp_path / "run" / "best.json").read_text())["epoch"] == 1   # a tie
    trainer = train.resume(tmp_path / "run" / "checkpoint.npz", images, epochs=3,
                           log=lambda line: None, eval_images=images, eval_every=1)
    trainer.train()
    assert json.loads((tmp_path / "run" / "best.json").read_text())["epoch"] == 3


def test_without_scores_there_is_no_best_generator(tmp_path):
    images = np.random.default_rng(0).uniform(-1, 1, (32, 784)).astype(np.float32)
    config = train.TrainConfig(epochs=1, batch_size=16, out=str(tmp_path / "run"),
                               recipe="original")
    train.Trainer(config, images, log=lambda line: None).train()
    assert not (tmp_path / "run" / "generator_best.npz").exists()
    with pytest.raises(FileNotFoundError, match="scored no epoch.*--eval-every"):
        sampling.load_generator(tmp_path / "run", which="best")
    with pytest.raises(ValueError, match="which must be one of"):
        sampling.load_generator(tmp_path / "run", which="first")


@pytest.mark.skipif(not (SHARED / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason="MINIGAN_DATA_DIR does not hold the MNIST .gz files")
def test_a_real_run_keeps_the_generator_of_its_lowest_fid(tmp_path):
    """The command line, 3 epochs on 6,400 MNIST images (the seed recipe: the fastest), scored
    every epoch: best.json's FID is the minimum of history.csv's FID column, and which="best"
    loads a generator that scores it again (the trainer's own scoring repeated on the loaded
    weights: the same noise, the same test images)."""
    main = runpy.run_path(str(EXAMPLES / "mnist_gan.py"))["main"]
    run = tmp_path / "run"
    assert main(["--epochs", "3", "--limit", "6400", "--eval-every", "1", "--out", str(run),
                 "--recipe", "original", "--data-dir", str(SHARED)]) == 0
    history = (run / "history.csv").read_text().splitlines()
    header = history[0].split(",")
    fids = [float(row.split(",")[header.index("fid")]) for row in history[1:]]
    best = json.loads((run / "best.json").read_text())
    assert best["fid"] == min(fids) and fids[best["epoch"] - 1] == min(fids)
    G = sampling.load_generator(run, which="best")
    n = 5000                                        # the trainer's eval_samples, its noise
    noise = np.random.default_rng(10_000 + best["epoch"]).standard_normal((n, 100))
    with mg.no_grad():
        images = G(mg.tensor(noise.astype(np.float32))).numpy()
    test_images = data.load_mnist("test", data_dir=str(SHARED))[0]
    again = metrics.evaluate_images(images, test_images[:n])
    assert round(again["fid"], 4) == best["fid"] and again["digits_covered"] == best["digits"]
    evaluated = evaluate.evaluate(run, n=200, data_dir=str(SHARED), floor_draws=0, which="best")
    assert evaluated["n"] == 200 and np.isfinite(evaluated["fid"])
    assert evaluate.main([str(run), "--report", "--n", "500", "--data-dir", str(SHARED)]) == 0
    report = (run / "report.md").read_text()      # now with the floor, from training images
    assert "Written by python -m minigan.evaluate --report" in report
    assert "500 random training images scored against the same test images" in report
    export = runpy.run_path(str(EXAMPLES / "export_pretrained.py"))["main"]
    assert export([str(run), "--which", "best", "--command", "test", "--commit", "none",
                   "--machine", "here", "--out", str(tmp_path / "exported.npz")]) == 0
    info = json.loads((tmp_path / "exported.json").read_text())["provenance"]
    assert info["epochs_trained"] == best["epoch"] and info["generator"] == "best-scored epoch"
    shipped = np.load(tmp_path / "exported.npz")
    for name, value in G.state_dict().items():      # the best generator, rounded to float16
        np.testing.assert_array_equal(shipped[name], value.astype(shipped[name].dtype))
