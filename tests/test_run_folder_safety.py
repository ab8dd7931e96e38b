"""The run folder is safe to write: links planted in it are never written through, one run holds
it at a time (minigan.lock), a full disk leaves every file whole or absent and a command that
finishes the run, and each refusal names the real state and a command that works."""
import csv
import errno
import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from minigan import checkpoint, train
from minigan.recipes import get_recipe
from minigan.run_writer import RunWriter
import test_mnist_gan_cli
from test_mnist_gan_cli import IMAGES, SMALL, one_error_line, snapshot

ROOT = Path(__file__).resolve().parents[1]
cli = test_mnist_gan_cli.cli   # the fixture: examples/mnist_gan.py's main on 48 fake images


def one_epoch(cli, out):
    """The checkpoint of a finished one-epoch run of the cli fixture in `out`."""
    code, _, err = cli(*SMALL, "--epochs", 1, "--out", out)
    assert code == 0, err
    return out / "checkpoint.npz"


def links_and_files(folder):
    """Every name in `folder`: the target of a link, the bytes of a file."""
    return {p.name: ("->", os.readlink(p)) if p.is_symlink() else p.read_bytes()
            for p in Path(folder).iterdir()}


# 1. Links planted in a run folder
def test_resume_refuses_a_run_folder_holding_links_it_did_not_make(cli, tmp_path):
    ckpt = one_epoch(cli, tmp_path / "run")
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("history.csv", "recipe.json", "samples_epoch001.png"):
        (outside / name).write_text(f"precious {name}")
        (ckpt.parent / name).unlink()
        (ckpt.parent / name).symlink_to(outside / name)
    before = snapshot(outside), links_and_files(ckpt.parent)
    code, _, err = cli("--resume", ckpt, "--epochs", 2)
    assert code == 1
    assert one_error_line(err) == (
        f"error: the run folder {ckpt.parent} holds a symbolic link minigan did not make, "
        f"history.csv -> {outside / 'history.csv'}: remove it (or put a copy of the file it "
        "points to in its place) and run again")
    assert (snapshot(outside), links_and_files(ckpt.parent)) == before


def test_every_file_a_run_writes_replaces_a_link_instead_of_writing_through_it(tmp_path):
    run, outside = tmp_path / "run", tmp_path / "outside"
    run.mkdir()
    outside.mkdir()
    names = ("samples_epoch001.png", "history.csv", "losses.png", "checkpoint.npz",
             "final_grid.png", "progress.gif", "generator.npz", "recipe.json")
    for name in names:
        (outside / name).write_text(f"precious {name}")
        (run / name).symlink_to(outside / name)
    before = snapshot(outside)
    writer = RunWriter(run, 8)   # written as a run writes them, the folder unchecked
    writer.samples(1, IMAGES)
    points = {k: [1, 2] for k in ("iteration", "loss_d", "loss_g", "d_real", "d_fake")}
    writer.history([{"epoch": 1, "loss_d": 0.5}], points, "tiny")
    writer.checkpoint({"w": np.zeros(3, np.float32)}, {"epoch": 1})
    writer.finish(IMAGES, {"w": np.zeros(3, np.float32)}, get_recipe("original"))
    assert snapshot(outside) == before
    assert sorted(p.name for p in run.iterdir()) == sorted(names)
    for name in names:
        assert not (run / name).is_symlink()
        assert_whole(run / name)


# 2. One run at a time
HOLD = textwrap.dedent("""
    import sys
    import numpy as np
    from minigan import train
    out, images = sys.argv[1], np.load(sys.argv[2])

    def log(line):   # the folder is ready (and held): wait for the test
        print(line, flush=True)
        if line.startswith("minigan GAN"):
            sys.stdin.readline()
    if out.endswith(".npz"):
        trainer = train.resume(out, images, epochs=2, log=log)
    else:
        config = train.TrainConfig(epochs=1, batch_size=8, out=out, recipe="original")
        trainer = train.Trainer(config, images, log=log)
    trainer.train()
""")


@pytest.fixture
def holding(tmp_path):
    """holding(target) -> a process training into `target` (a folder, or a checkpoint to
    resume), stopped just after it made its folder ready; killed at the end of the test."""
    np.save(tmp_path / "images.npy", IMAGES)
    children = []

    def start(target):
        child = subprocess.Popen([sys.executable, "-c", HOLD, str(target),
                                  str(tmp_path / "images.npy")], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True, cwd=ROOT)
        children.append(child)
        for line in child.stdout:
            if line.startswith("minigan GAN"):
                return child
        pytest.fail(f"the holding run ended early ({child.wait()})")
    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
            child.wait()


def in_use(out, pid):
    return (f"error: the output folder {out} is in use by process {pid} (which holds "
            f"{out / 'minigan.lock'}): wait for that run to end, or choose another --out")


def test_a_second_run_on_a_held_folder_stops_at_once_naming_the_process(cli, holding, tmp_path):
    out = tmp_path / "run"
    child = holding(out)
    before = snapshot(tmp_path)
    code, _, err = cli(*SMALL, "--epochs", 1, "--out", out)
    assert code == 1 and one_error_line(err) == in_use(out, child.pid)
    assert snapshot(tmp_path) == before
    os.kill(child.pid, signal.SIGKILL)   # killed holding it: the lock file stays, unlocked
    child.wait()
    assert (out / "minigan.lock").read_text().strip() == str(child.pid)
    code, printed, err = cli(*SMALL, "--epochs", 1, "--out", out)
    assert code == 0, err
    assert (f"note: {out / 'minigan.lock'} was left by process {child.pid}, which ended without "
            "removing it (killed?): this run took it over") in printed
    assert not (out / "minigan.lock").exists()


def test_a_second_resume_of_a_held_run_stops_at_once_and_the_first_finishes(cli, holding,
                                                                            tmp_path):
    ckpt = one_epoch(cli, tmp_path / "run")
    child = holding(ckpt)
    before = snapshot(tmp_path)
    code, _, err = cli("--resume", ckpt, "--epochs", 2)
    assert code == 1 and one_error_line(err) == in_use(ckpt.parent, child.pid)
    assert snapshot(tmp_path) == before
    child.stdin.close()   # let the first run go on
    assert child.wait(timeout=300) == 0
    assert train.load_checkpoint(ckpt)["epoch"] == 2
    assert not (ckpt.parent / "minigan.lock").exists()


# 3. A full disk
WRITES = ["samples_epoch001.png", "history.csv", "losses.png", "checkpoint.npz",
          "samples_epoch002.png", "history.csv", "losses.png", "checkpoint.npz",
          "final_grid.png", "progress.gif", "generator.npz", "recipe.json", "report.md"]


class FullDisk:
    """A file on a disk that fills halfway through the first write."""

    def __init__(self, file):
        self.file = file

    def write(self, data):
        self.file.write(bytes(data)[:len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self.file, name)


def fill_disk_at(monkeypatch, k):
    """The k-th file written (checkpoint.save_atomic, which every run file goes through) meets
    a full disk; returns the names written so far."""
    real, names = checkpoint.save_atomic, []

    def save_atomic(path, write):
        names.append(Path(path).name)
        if len(names) == k + 1:
            return real(path, lambda f: write(FullDisk(f)))
        return real(path, write)
    monkeypatch.setattr(checkpoint, "save_atomic", save_atomic)
    return names


def assert_whole(path):
    """The file parses as what its name says."""
    if path.suffix in (".png", ".gif"):
        with Image.open(path) as image:
            image.verify()
    elif path.suffix == ".json":
        json.loads(path.read_text())
    elif path.suffix == ".csv":
        assert list(csv.DictReader(path.open()))
    elif path.suffix == ".md":
        assert path.read_text().startswith("# minigan run:")
    elif path.name == "checkpoint.npz":
        checkpoint.load(path)
    else:
        with np.load(path, allow_pickle=False) as npz:
            [npz[name] for name in npz.files]


def test_a_run_writes_these_files_through_save_atomic(cli, tmp_path, monkeypatch):
    names = fill_disk_at(monkeypatch, len(WRITES))
    code, _, err = cli(*SMALL, "--epochs", 2, "--out", tmp_path / "run")
    assert code == 0, err
    assert names == WRITES


@pytest.mark.parametrize("k", range(len(WRITES)), ids=lambda k: f"{k}-{WRITES[k]}")
def test_a_full_disk_leaves_whole_files_and_the_command_that_finishes_the_run(cli, tmp_path,
                                                                              monkeypatch, k):
    out = tmp_path / "run"
    with monkeypatch.context() as patch:   # the fake MNIST of the cli fixture stays
        fill_disk_at(patch, k)
        code, _, err = cli(*SMALL, "--epochs", 2, "--out", out)
    assert code == 1, err
    line = one_error_line(err)
    assert line.startswith(f"error: could not write {out / WRITES[k]} (No space left on device);"
                           " no partial file is left under that name. ")
    saved = WRITES[:k].count("checkpoint.npz")
    if saved:
        assert f"The last good checkpoint is {out / 'checkpoint.npz'} (epoch {saved} of 2)" in line
        command = line.split("finish the run with ")[1]
    else:
        assert "No checkpoint was written yet" in line
        command = line.split("start again with ")[1]
    assert sorted(p.name for p in out.iterdir()) == sorted(set(WRITES[:k]))  # nothing partial
    for path in out.iterdir():
        assert_whole(path)
    script, *argv = shlex.split(command)[1:]
    assert script == "examples/mnist_gan.py"
    code, _, err = cli(*argv)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(set(WRITES))
    for path in out.iterdir():
        assert_whole(path)
    assert train.load_checkpoint(out / "checkpoint.npz")["epoch"] == 2


def test_epochs_equal_to_those_done_writes_the_final_files_again(cli, tmp_path):
    ckpt = one_epoch(cli, tmp_path / "run")
    for name in ("generator.npz", "recipe.json"):
        (ckpt.parent / name).unlink()
    code, _, err = cli("--resume", ckpt)
    assert code == 1 and one_error_line(err).endswith(
        "give --epochs with a larger total to train further; --epochs 1 trains no more and "
        "writes the run's final files (generator.npz, recipe.json, final_grid.png, "
        "progress.gif) again")
    kept = ckpt.read_bytes()
    code, _, err = cli("--resume", ckpt, "--epochs", 1)
    assert code == 0, err
    assert ckpt.read_bytes() == kept
    assert_whole(ckpt.parent / "generator.npz")
    assert_whole(ckpt.parent / "recipe.json")


# 4. Refusals that name the real state and a command that works
def test_a_folder_a_killed_run_left_without_a_checkpoint_offers_no_resume(cli, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "samples_epoch001.png").write_bytes(b"a grid")
    (out / "checkpoint.npz.tmpab12cd").write_bytes(b"half a checkpoint")  # killed mid-write
    before = snapshot(tmp_path)
    code, _, err = cli(*SMALL, "--epochs", 1, "--out", out)
    assert code == 1 and one_error_line(err) == (
        f"error: the output folder {out} is not empty (checkpoint.npz.tmpab12cd, "
        "samples_epoch001.png) and holds no checkpoint.npz to resume (a run there stopped "
        "before its first epoch was saved?): choose another --out, or pass --overwrite to "
        "replace a run's outputs there (other files are kept)")
    assert snapshot(tmp_path) == before
    assert cli(*SMALL, "--epochs", 1, "--out", out, "--overwrite")[0] == 0


def test_resuming_into_a_non_empty_out_offers_what_resume_accepts(cli, tmp_path):
    ckpt = one_epoch(cli, tmp_path / "run")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    code, _, err = cli("--resume", ckpt, "--epochs", 2, "--out", other)
    assert code == 1 and one_error_line(err) == (
        f"error: the output folder {other} is not empty (notes.txt): a resumed run continues "
        f"in the folder of {ckpt} (leave --out out) or in an empty --out; choose another --out")
    assert snapshot(tmp_path) == before
    assert cli("--resume", ckpt, "--epochs", 2)[0] == 0


def test_an_empty_out_is_refused_not_taken_for_the_current_folder(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(*SMALL, "--epochs", 1, "--out", "")
    assert code == 1 and one_error_line(err) == (
        "error: the output folder is empty text (--out ''): give a folder path, such as --out "
        "runs/mine (--out . for the current folder), or leave --out out for a new "
        "runs/<date-time>")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("below", ["", "run"])
def test_a_dangling_link_on_the_out_path_is_named_as_one(cli, tmp_path, below):
    link, missing = tmp_path / "link", tmp_path / "missing"
    link.symlink_to(missing)
    out = link / below if below else link
    code, _, err = cli(*SMALL, "--epochs", 1, "--out", out)
    assert code == 1 and one_error_line(err) == (
        f"error: cannot create the output folder {out}: {link} is a symbolic link to {missing}, "
        "which does not exist; create that folder, remove the link, or choose another --out")
    assert sorted(tmp_path.iterdir()) == [link]
    missing.mkdir()   # what the message says works
    assert cli(*SMALL, "--epochs", 1, "--out", out)[0] == 0
