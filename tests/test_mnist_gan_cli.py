"""examples/mnist_gan.py on bad input: one line naming the problem and the fix, a non-zero exit,
and nothing on disk lost; runs never overwrite each other; --resume honours or refuses each flag.
The MNIST loader is replaced by 48 random images, so these tests need no data files."""
import os
import runpy
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from minigan import data, train

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
IMAGES = np.random.default_rng(0).uniform(-1, 1, (48, 784)).astype(np.float32)
SMALL = ["--recipe", "original", "--batch-size", "8", "--log-every", "2"]


@pytest.fixture
def cli(monkeypatch, capsys):
    """run(*argv) -> (exit code, stdout, stderr) of mnist_gan.main on the 48 fake images."""
    loaded = []

    def fake_load_mnist(split="train", data_dir=None, download=True):
        loaded.append(split)
        if split == "test":
            raise data.DataError("MNIST file t10k-images-idx3-ubyte.gz not found")
        return IMAGES, np.zeros(len(IMAGES), np.uint8)
    monkeypatch.setattr(data, "load_mnist", fake_load_mnist)
    main = runpy.run_path(str(EXAMPLES / "mnist_gan.py"))["main"]

    def run(*argv):
        capsys.readouterr()
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exit:  # argparse
            code = exit.code
        out, err = capsys.readouterr()
        return code, out, err
    run.loaded = loaded
    return run


def one_error_line(err):
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    return lines[-1]


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()}


@pytest.mark.parametrize("argv, message", [
    (["--limit", "0"], "argument --limit: must be at least 1, got 0"),
    (["--limit", "-5"], "argument --limit: must be at least 1, got -5"),
    (["--seed", "-1"], "argument --seed: must be at least 0, got -1"),
    (["--lr", "nan"], "argument --lr: must be a positive finite number"),
    (["--target-fid", "-1"], "argument --target-fid: must be at least 0, got -1"),
    (["--early-stop", "-1"], "argument --early-stop: must be at least 0, got -1"),
    (["--ema", "1"], "argument --ema: must be below 1, got 1"),
    (["--epochs", "2.5"], "argument --epochs: expected a whole number, got '2.5'"),
    (["--resume", "x.npz", "--overwrite"], "--overwrite is for new runs"),
])
def test_bad_flags_are_argparse_errors_naming_the_flag(cli, tmp_path, argv, message):
    code, _, err = cli(*argv, "--out", tmp_path / "run")
    assert code == 2 and message in one_error_line(err)
    assert not (tmp_path / "run").exists()


def test_early_stopping_without_scores_is_one_clear_line(cli, tmp_path):
    code, _, err = cli(*SMALL, "--early-stop", "2", "--out", tmp_path / "run")
    assert code == 1
    assert one_error_line(err) == ("error: early_stop and target_fid stop on FID scores: score "
                                   "the run too (eval_every >= 1, --eval-every N)")
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_a_batch_larger_than_the_data_is_refused(cli, tmp_path):
    code, _, err = cli(*SMALL[:2], "--batch-size", 100, "--out", tmp_path / "run")
    assert code == 1
    assert one_error_line(err) == ("error: batch size 100 is larger than the 48 training images: "
                                   "use a smaller --batch-size (or more images)")


def test_an_out_that_is_a_file_or_under_one_is_refused_before_training(cli, tmp_path):
    (tmp_path / "file").write_text("keep me")
    code, _, err = cli(*SMALL, "--out", tmp_path / "file")
    assert code == 1 and "is a file: choose a folder path" in one_error_line(err)
    code, _, err = cli(*SMALL, "--out", tmp_path / "file" / "run")
    assert code == 1 and "part of that path is a file" in one_error_line(err)
    assert (tmp_path / "file").read_text() == "keep me"


def run_as_nobody(fn):
    """fn() in a forked child that runs as user 65534 (so a folder's permissions bind, as they
    do not for root); returns (exit code, stderr text)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        code = 99
        try:
            os.close(read)
            sys.stderr = os.fdopen(write, "w")
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            code = fn()
            sys.stderr.flush()
        finally:
            os._exit(code if isinstance(code, int) else 98)
    os.close(write)
    with os.fdopen(read) as pipe:
        err = pipe.read()
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), err


def test_an_unwritable_out_is_refused_before_training(cli, tmp_path):
    # under a folder anyone may enter: pytest's own tmp_path is private to its user
    public = Path(tempfile.mkdtemp(prefix="minigan-", dir=tempfile.gettempdir()))
    public.chmod(0o755)
    locked = public / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    def run(out):
        if os.geteuid() == 0:
            return run_as_nobody(lambda: cli(*SMALL, "--out", out)[0])
        code, _, err = cli(*SMALL, "--out", out)
        return code, err
    code, err = run(locked)
    assert code == 1, err
    assert "cannot write to the output folder" in one_error_line(err)
    assert "choose a writable --out" in err
    code, err = run(locked / "run")  # a new folder under an unwritable one
    assert code == 1, err
    assert one_error_line(err) == (f"error: cannot use the output folder {locked / 'run'} "
                                   "(Permission denied): choose another --out")
    assert list(locked.iterdir()) == []
    shutil.rmtree(public)


def test_a_new_run_never_lands_in_an_old_runs_folder(cli, tmp_path):
    out = tmp_path / "run"
    assert cli(*SMALL, "--epochs", 1, "--out", out)[0] == 0
    before = snapshot(out)
    code, _, err = cli(*SMALL, "--epochs", 1, "--out", out)
    assert code == 1 and "is not empty" in err and "--overwrite" in err and "--resume" in err
    assert snapshot(out) == before  # nothing replaced


def test_overwrite_replaces_a_runs_outputs_and_keeps_other_files(cli, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "samples_epoch005.png").write_bytes(b"stale grid")
    (out / "notes.txt").write_text("mine")
    code, _, err = cli(*SMALL, "--epochs", 1, "--out", out, "--overwrite")
    assert code == 0, err
    assert not (out / "samples_epoch005.png").exists()  # no stale grid from the old run
    assert (out / "notes.txt").read_text() == "mine"
    assert train.load_checkpoint(out / "checkpoint.npz")["epoch"] == 1


def test_the_default_out_is_a_fresh_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = train.TrainConfig().out
    Path(first).mkdir(parents=True)
    second = train.TrainConfig().out
    assert second != first and not Path(second).exists()
    assert Path(second).parent == Path("runs")


@pytest.fixture
def finished_run(cli, tmp_path):
    out = tmp_path / "run"
    code, _, err = cli(*SMALL, "--epochs", 1, "--out", out)
    assert code == 0, err
    return out


@pytest.mark.parametrize("flag, value, saved", [
    ("--batch-size", 7, 8), ("--recipe", "stable", "original"),
    ("--schedule", "original", "standard"),
    ("--seed", 5, 0)])
def test_resume_refuses_a_flag_that_conflicts_with_the_checkpoint(cli, finished_run, flag,
                                                                  value, saved):
    before = snapshot(finished_run)
    code, _, err = cli("--resume", finished_run / "checkpoint.npz", "--epochs", 2, flag, value)
    assert code == 1
    assert one_error_line(err) == (
        f"error: {flag} {value} conflicts with {finished_run / 'checkpoint.npz'}, which was "
        f"trained with {flag} {saved}: a resumed run keeps its own; leave {flag} out, or start "
        "a new run")
    assert snapshot(finished_run) == before


def test_resume_honours_lr_and_keeps_the_rest(cli, finished_run):
    code, _, err = cli("--resume", finished_run / "checkpoint.npz", "--epochs", 2, "--lr", 3e-4,
                       "--batch-size", 8)  # the run's own batch size: no conflict
    assert code == 0, err
    state = train.load_checkpoint(finished_run / "checkpoint.npz")
    assert state["epoch"] == 2 and state["config"]["batch_size"] == 8
    assert state["opt_d"]["hyper"]["lr"] == state["opt_g"]["hyper"]["lr"] == 3e-4
    assert state["recipe"]["lr_d"] == state["recipe"]["lr_g"] == 3e-4


def test_resume_keeps_the_planned_epochs(cli, finished_run):
    code, _, err = cli("--resume", finished_run / "checkpoint.npz")
    assert code == 1
    assert "has already trained its planned 1 epochs: give --epochs with a larger total" in err
    code, _, err = cli("--resume", finished_run / "checkpoint.npz", "--epochs", 2, "--limit", 40)
    assert code == 1 and "was trained on 48 images, but 40 were given" in err


def test_resume_without_the_test_files_when_scoring_is_off(cli, finished_run):
    code, _, err = cli("--resume", finished_run / "checkpoint.npz", "--epochs", 2)
    assert code == 0, err
    assert "test" not in cli.loaded  # the fake test split raises: it was never asked for


def test_a_nan_in_the_first_epoch_names_no_missing_checkpoint(tmp_path):
    config = train.TrainConfig(epochs=1, batch_size=8, out=str(tmp_path / "run"), log_every=2,
                               recipe="original")
    trainer = train.Trainer(config, IMAGES, log=lambda line: None)
    trainer.D.head[-2].weight.data[...] = np.nan
    with pytest.raises(train.TrainingDiverged, match="No checkpoint was written yet") as error:
        trainer.train()
    assert "checkpoint.npz" not in str(error.value)


def test_out_of_memory_is_one_line(cli, tmp_path, monkeypatch):
    def no_memory(self):
        raise MemoryError
    monkeypatch.setattr(train.Trainer, "train", no_memory)
    code, _, err = cli(*SMALL, "--out", tmp_path / "run")
    assert code == 1
    assert one_error_line(err) == "error: out of memory at batch size 8: use a smaller --batch-size"


def test_a_saturated_discriminator_is_warned_about(tmp_path):
    lines = []
    config = train.TrainConfig(epochs=1, batch_size=8, out=str(tmp_path / "run"), log_every=2,
                               recipe="original")
    trainer = train.Trainer(config, IMAGES, log=lines.append)
    trainer.D.head[-2].bias.data[...] = 60.0  # D says "real" to everything, and cannot unlearn it
    trainer.train()
    warnings = [line for line in lines if line.startswith("warning:")]
    assert warnings and "are both pinned at 1: the discriminator has saturated" in warnings[0]
    assert "pinned at 1" in trainer.epochs[-1]["warning"]
    assert "warning" in (tmp_path / "run" / "history.csv").read_text().splitlines()[0]


def test_divergence_warning_rules():
    sane = {"loss_d": 1.2, "loss_g": 5.5, "d_real": 0.6, "d_fake": 0.02}
    assert train.divergence_warning(sane) is None
    assert "beyond any meaningful range" in train.divergence_warning(dict(sane, loss_g=1.4e36))
    assert "pinned at 0" in train.divergence_warning(dict(sane, d_real=0.0, d_fake=0.0))
    assert "pinned at 1" in train.divergence_warning(dict(sane, d_real=1.0, d_fake=0.9999))
    assert train.divergence_warning(dict(sane, d_real=1.0, d_fake=0.0)) is None  # D winning


def test_on_a_terminal_warnings_and_scores_get_lines_of_their_own():
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    screen = Terminal()
    log = train.progress_printer(screen)
    log.progress("epoch 1/2 [##  ] 10/50  loss D 1.0  ETA 9s", last=False)
    log.line("warning: epoch 1, iteration 10: the run has diverged")
    log.progress("epoch 1/2 [####] 50/50  loss D 1.0  ETA 0s", last=True)
    log.line("epoch 1: FID 20.000, digits covered 10/10")
    lines = screen.getvalue().split("\n")
    assert lines[0].startswith("\repoch 1/2") and lines[1].startswith("warning: epoch 1")
    assert lines[2].startswith("\repoch 1/2") and lines[3].startswith("epoch 1: FID")
