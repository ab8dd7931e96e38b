"""Stopping a run before its planned epochs: --early-stop on FID without improvement, --target-fid
on reaching a score (each with a scripted score sequence), --stop-on-divergence keeping the last
good checkpoint; the stop is logged, written to history.csv, and the checkpoint resumes it."""
import types

import numpy as np
import pytest

from minigan import digits, metrics, progress, train

IMAGES = np.random.default_rng(0).uniform(-1, 1, (32, 784)).astype(np.float32)


def scripted_scores(monkeypatch, fids):
    calls = iter(fids)

    def evaluate_images(images, real, labels=None):
        return {"fid": next(calls), "digits_covered": 10, "kl_to_uniform": 0.1,
                "confidence": 0.9}
    monkeypatch.setattr(metrics, "evaluate_images", evaluate_images)
    monkeypatch.setattr(digits, "load", lambda path=None: digits.build().eval())


def run(tmp_path, epochs=4, **settings):
    lines = []
    config = train.TrainConfig(epochs=epochs, batch_size=16, out=str(tmp_path / "run"),
                               eval_every=1, eval_samples=20, recipe="original", **settings)
    trainer = train.Trainer(config, IMAGES, log=lines.append, eval_images=IMAGES)
    trainer.train()
    return trainer, lines


def history_column(tmp_path, name):
    import csv
    with open(tmp_path / "run" / "history.csv") as f:
        return [row.get(name, "") for row in csv.DictReader(f)]


@pytest.mark.parametrize("patience, stopped_at", [(1, 3), (2, 4), (3, None)])
def test_early_stop_waits_patience_scores_without_improvement(tmp_path, monkeypatch, patience,
                                                              stopped_at):
    scripted_scores(monkeypatch, [5.0, 4.0, 6.0, 7.0, 3.0])
    trainer, lines = run(tmp_path, epochs=5, early_stop=patience)
    if stopped_at is None:                       # 3 scores without improvement never happen
        assert trainer.epoch == 5 and trainer.stop_reason is None
        return
    assert trainer.epoch == stopped_at
    reason = f"FID has not improved for {patience} scores (best 4.000 at epoch 2"
    assert trainer.stop_reason.startswith(reason)
    assert history_column(tmp_path, "stop")[-1].startswith(reason)
    assert any(line.startswith(f"stopped after epoch {stopped_at} of 5: {reason}")
               for line in lines)
    assert train.load_checkpoint(tmp_path / "run" / "checkpoint.npz")["epoch"] == stopped_at
    assert (tmp_path / "run" / "generator.npz").is_file()          # the final files, as ever


def test_target_fid_stops_on_reaching_it(tmp_path, monkeypatch):
    scripted_scores(monkeypatch, [5.0, 3.0, 2.0])
    trainer, _ = run(tmp_path, target_fid=3.0)
    assert trainer.epoch == 2
    assert trainer.stop_reason == "FID 3.000 reached the target 3 (--target-fid)"


def test_a_stopped_run_resumes(tmp_path, monkeypatch):
    scripted_scores(monkeypatch, [5.0, 6.0, 7.0, 8.0])
    trainer, _ = run(tmp_path, early_stop=1)
    assert trainer.epoch == 2
    resumed = train.resume(tmp_path / "run" / "checkpoint.npz", IMAGES, log=lambda line: None,
                           eval_images=IMAGES, early_stop=0)
    resumed.train()
    assert resumed.epoch == 4 and resumed.stop_reason is None


def test_stop_on_divergence_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    scripted_scores(monkeypatch, [5.0, 4.0] + [3.0, 2.0, 1.0, 0.5])
    summary = progress.ProgressMeter.summary

    def diverging(meter):     # the second epoch's means trip the divergence warning
        row = summary(meter)
        return dict(row, warning="D(x) and D(G(z)) pinned at 1") if meter.epoch == 1 else row
    monkeypatch.setattr(progress.ProgressMeter, "summary", diverging)
    with pytest.raises(train.TrainingDiverged,
                       match="epoch 2 diverged: D.x. and D.G.z.. pinned at 1 .--stop-on-diverg"):
        run(tmp_path, stop_on_divergence=True)
    assert train.load_checkpoint(tmp_path / "run" / "checkpoint.npz")["epoch"] == 1
    assert history_column(tmp_path, "stop") == ["", "diverged: D(x) and D(G(z)) pinned at 1"]
    trainer, _ = run(tmp_path / "again")             # without the flag the run goes on
    assert trainer.epoch == 4


def test_bad_stop_settings_are_one_clear_line(tmp_path):
    with pytest.raises(ValueError, match="stop on FID scores: score the run too"):
        train.TrainConfig(epochs=2, out=str(tmp_path / "a"), early_stop=2)
    with pytest.raises(ValueError, match="target_fid must be a number >= 0"):
        train.TrainConfig(epochs=2, out=str(tmp_path / "a"), eval_every=1, target_fid=-1.0)
    with pytest.raises(ValueError, match="early_stop must be at least 0"):
        train.TrainConfig(epochs=2, out=str(tmp_path / "a"), eval_every=1, early_stop=-1)
    config = train.TrainConfig(epochs=2, out=str(tmp_path / "a"), eval_every=1, early_stop=1,
                               batch_size=16)
    with pytest.raises(ValueError, match="runs on one process"):
        train.Trainer(config, IMAGES, eval_images=IMAGES,
                      comm=types.SimpleNamespace(size=1, rank=0))
