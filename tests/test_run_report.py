"""report.md, a run's one-page summary: written when a run ends (with the floor when the run has
the training images for it), and by `python -m minigan.evaluate RUN --report`."""
import re
from pathlib import Path

import numpy as np
import pytest

from minigan import digits, evaluate, metrics, run_report, train

IMAGES = np.random.default_rng(0).uniform(-1, 1, (64, 784)).astype(np.float32)


def scripted_run(tmp_path, monkeypatch, fids, **settings):
    calls = iter(fids)
    monkeypatch.setattr(metrics, "evaluate_images", lambda images, real, labels=None: {
        "fid": next(calls), "digits_covered": 9, "kl_to_uniform": 0.25, "confidence": 0.9})
    monkeypatch.setattr(digits, "load", lambda path=None: digits.build().eval())
    config = train.TrainConfig(epochs=len(fids), batch_size=16, out=str(tmp_path / "run"),
                               eval_every=1, eval_samples=20, recipe="original", **settings)
    train.Trainer(config, IMAGES, log=lambda line: None, eval_images=IMAGES).train()
    return tmp_path / "run"


def test_a_scored_run_ends_with_its_report(tmp_path, monkeypatch):
    run = scripted_run(tmp_path, monkeypatch, [5.0, 3.0, 4.0])
    report = (run / "report.md").read_text()
    assert report.startswith("# minigan run: recipe original, 3 epochs")
    assert "Best: FID 3.00 at epoch 2" in report and "last scored: FID 4.00 at epoch 3" in report
    assert re.search(r"FID floor: \d+\.\d\d \(\d+\.\d\d-\d+\.\d\d over 3 draws\): 20 random",
                     report)
    assert "| 2 | 3 | 9 | 0.25 | 1 |" in report          # epoch, FID, digits, KL, best
    assert re.search(r"Time per epoch: median \d+\.\d s", report)
    assert "| minibatch_kernels | 0 |" in report         # the recipe
    for picture in re.findall(r"\]\(([^)]+)\)", report):    # every picture it shows is there
        assert (run / picture).is_file(), picture
    assert "best_grid.png" in report and "final_grid.png" in report and "losses.png" in report


def test_an_unscored_and_a_stopped_run_say_so(tmp_path, monkeypatch):
    images = IMAGES[:32]
    config = train.TrainConfig(epochs=1, batch_size=16, out=str(tmp_path / "plain"),
                               recipe="original")
    train.Trainer(config, images, log=lambda line: None).train()
    report = (tmp_path / "plain" / "report.md").read_text()
    assert "The run scored no epoch (train with --eval-every N)." in report
    assert "best_grid.png" not in report
    run = scripted_run(tmp_path, monkeypatch, [5.0, 6.0, 7.0], early_stop=1)
    assert "Stopped early: FID has not improved for 1 scores" in (run / "report.md").read_text()


def test_evaluate_report_needs_a_run_folder(tmp_path, capsys):
    with pytest.raises(SystemExit):
        evaluate.main(["--pretrained", "--report"])
    assert "--report writes into a run folder" in capsys.readouterr().err


def test_the_report_without_a_floor_says_where_to_get_one(tmp_path):
    (tmp_path / "history.csv").write_text("epoch,seconds,fid,digits\n1,2.0,30.5,8\n")
    path = run_report.write_report(tmp_path)
    text = Path(path).read_text()
    assert "FID floor: not computed here (`python -m minigan.evaluate RUN --report`" in text
    assert "| 1 | 30.5 | 8 |" in text
