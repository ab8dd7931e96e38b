"""Checkpoints hold only data: no payload runs, damage is refused, a kill mid-write loses
nothing, and resume is exact."""
import json
import os
import pathlib
import pickle
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import quiet, tiny_images
from minigan import checkpoint, train

ROOT = Path(__file__).resolve().parents[1]


def config(out, **overrides):
    settings = dict(epochs=1, batch_size=8, out=str(out), log_every=2, seed=3)
    settings.update(overrides)
    return train.TrainConfig(**settings)


class Payload:
    """Unpickling this creates `marker`: proof that a loader ran code from a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A one-epoch run of the seed recipe (its checkpoint is the smallest a trainer writes)."""
    out = tmp_path_factory.mktemp("trained") / "run"
    trainer = train.Trainer(config(out, recipe="original"), tiny_images(), log=quiet)
    trainer.train()
    return out


def rewrite(source, target, change):
    """Copy the checkpoint at `source` to `target` after change(arrays, document) edits it, the
    checksum made anew: what a careful forger (or a bug) would write."""
    arrays, document = checkpoint.load(source)
    change(arrays, document)
    checkpoint.save(target, arrays, {k: v for k, v in document.items()
                                     if k not in ("format", "version")})


def test_a_pickle_payload_never_runs_through_the_loader_or_resume(tmp_path):
    marker = tmp_path / "ran"
    bad = tmp_path / "checkpoint.pkl"
    bad.write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(checkpoint.CheckpointError, match="is a Python pickle.*never loads"):
        train.load_checkpoint(bad)
    with pytest.raises(checkpoint.CheckpointError, match="is a Python pickle"):
        train.resume(bad, tiny_images(), log=quiet)
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "mnist_gan.py"),
                             "--resume", str(bad)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "is a Python pickle" in result.stderr and "Traceback" not in result.stderr
    assert not marker.exists()
    assert bad.read_bytes() == pickle.dumps(Payload(marker))  # nothing on disk changed


def test_a_real_checkpoint_with_a_pickled_extra_entry_is_refused(trained_run, tmp_path):
    marker = tmp_path / "ran"
    with np.load(trained_run / "checkpoint.npz", allow_pickle=False) as npz:
        members = {name: npz[name] for name in npz.files}
    members["evil"] = np.array([Payload(marker)], dtype=object)
    bad = tmp_path / "checkpoint.npz"
    np.savez(bad, **members)
    with pytest.raises(checkpoint.CheckpointError, match="entry 'evil' holds Python objects"):
        train.load_checkpoint(bad)
    assert not marker.exists()
    del members["evil"]
    members["extra"] = np.zeros(3, np.float32)  # plain data, but not covered by the checksum
    np.savez(bad, **members)
    with pytest.raises(checkpoint.CheckpointError, match="does not match its SHA-256"):
        train.load_checkpoint(bad)


def test_the_checksum_catches_a_changed_value_the_zip_cannot(trained_run, tmp_path):
    with np.load(trained_run / "checkpoint.npz", allow_pickle=False) as npz:
        members = {name: npz[name] for name in npz.files}
    members["G/0.weight"] = members["G/0.weight"].copy()
    members["G/0.weight"][0, 0] += 1e-3  # a valid zip (fresh CRCs), one weight different
    bad = tmp_path / "checkpoint.npz"
    np.savez(bad, **members)
    with pytest.raises(checkpoint.CheckpointError, match="does not match its SHA-256 checksum"):
        train.load_checkpoint(bad)


@pytest.mark.parametrize("change, message", [
    (lambda a, d: a["G/0.weight"].__setitem__((0, 0), np.nan), "G|finite|NaN"),
    (lambda a, d: a.__setitem__("G/0.weight", a["G/0.weight"].astype(np.float64)), "dtype"),
    (lambda a, d: a.__setitem__("opt_d/0/v", -np.abs(a["opt_d/0/v"]) - 1), "v"),
    (lambda a, d: a.__setitem__("fixed_noise", a["fixed_noise"][:3]), "fixed_noise"),
    (lambda a, d: a.__setitem__("surprise", np.zeros(2)), "unexpected array 'surprise'"),
    (lambda a, d: d.update(epoch=-1), "epoch must be"),
    (lambda a, d: d["config"].update(batch_size=2.7), "batch_size"),
    (lambda a, d: d["recipe"].update(lr_d=-1.0), "lr_d"),
    (lambda a, d: d["config"].update(surprise=1), "surprise"),
    (lambda a, d: d["rng"]["data"].update(bit_generator="MT19937"), "PCG64"),
])
def test_a_well_formed_file_with_bad_values_is_refused(trained_run, tmp_path, change, message):
    bad = tmp_path / "checkpoint.npz"
    rewrite(trained_run / "checkpoint.npz", bad, change)
    with pytest.raises(checkpoint.CheckpointError, match=message):
        train.resume(bad, tiny_images(), epochs=2, log=quiet)


def test_a_nan_running_variance_cannot_be_resumed(tmp_path):
    """The stable recipe's generator has BatchNorm: training-mode losses never read its running
    statistics, so only the load-time check can catch a NaN there."""
    out = tmp_path / "run"
    train.Trainer(config(out), tiny_images(), log=quiet).train()
    bad = tmp_path / "bad.npz"
    rewrite(out / "checkpoint.npz", bad,
            lambda a, d: a["G/3.running_var"].__setitem__(0, np.nan))
    with pytest.raises(checkpoint.CheckpointError, match="running_var"):
        train.resume(bad, tiny_images(), epochs=2, log=quiet)


def test_a_nan_in_a_running_statistic_stops_training_before_it_is_saved(tmp_path):
    out = tmp_path / "run"
    trainer = train.Trainer(config(out, epochs=2), tiny_images(), log=quiet)
    trainer.config.epochs = 1
    trainer.train()
    good = (out / "checkpoint.npz").read_bytes()
    trainer.config.epochs = 2
    trainer.G[3].running_var.data[0] = np.inf  # losses in training mode use batch statistics
    with pytest.raises(train.TrainingDiverged, match=r"G\.3\.running_var holds NaN or infinite"):
        trainer.train()
    assert (out / "checkpoint.npz").read_bytes() == good


def tiny_checkpoint(path):
    """A small file in the trainer's layout: float32 weights, an int64 0-d counter, optimizer
    moments, uint8 frames, and a document with PCG64 states (128-bit integers)."""
    rng = np.random.default_rng(0)
    arrays = {"G/0.weight": rng.standard_normal((4, 3)).astype(np.float32),
              "G/0.bias": np.zeros(4, np.float32),
              "G/1.num_batches_tracked": np.array(7, np.int64),
              "opt_g/0/m": rng.standard_normal((4, 3)).astype(np.float32),
              "frames": rng.integers(0, 255, (2, 5, 5), dtype=np.uint8)}
    document = {"epoch": 1, "rng": np.random.default_rng(5).bit_generator.state,
                "epochs": [{"epoch": 1, "loss_d": 1.25}]}
    checkpoint.save(path, arrays, document)
    return arrays, dict(document, format=checkpoint.FORMAT, version=checkpoint.VERSION)


@settings(max_examples=300)
@given(seed=st.integers(0, 2**32 - 1))
def test_fuzz_a_damaged_checkpoint_is_refused_or_loads_identically(tmp_path_factory, seed):
    folder = tmp_path_factory.mktemp("fuzz")
    arrays, document = tiny_checkpoint(folder / "good.npz")
    raw = bytearray((folder / "good.npz").read_bytes())
    rng = np.random.default_rng(seed)
    for position in rng.choice(len(raw), size=int(rng.integers(1, 4)), replace=False):
        raw[position] = (raw[position] + int(rng.integers(1, 256))) % 256  # always a change
    damaged = folder / "damaged.npz"
    damaged.write_bytes(bytes(raw))
    try:
        got_arrays, got_document = checkpoint.load(damaged)
    except checkpoint.CheckpointError as error:
        assert "\n" not in str(error) and str(damaged) in str(error)
        return
    assert got_document == document  # a change in unused bytes: everything as written
    assert sorted(got_arrays) == sorted(arrays)
    for name, value in arrays.items():
        assert got_arrays[name].dtype == value.dtype and got_arrays[name].shape == value.shape
        np.testing.assert_array_equal(got_arrays[name], value)


def test_damage_in_a_real_checkpoint_is_refused(trained_run, tmp_path):
    raw = (trained_run / "checkpoint.npz").read_bytes()
    with zipfile.ZipFile(trained_run / "checkpoint.npz") as archive:
        offsets = [info.header_offset for info in archive.infolist()]
    rng = np.random.default_rng(1)
    # every member's local header and the start of its data, and places in the payload
    positions = [o + int(rng.integers(0, 120)) for o in offsets[:8]] + \
        [int(p) for p in rng.integers(0, len(raw), 8)]
    for position in positions:
        damaged = bytearray(raw)
        damaged[position] ^= 0x5A
        (tmp_path / "damaged.npz").write_bytes(bytes(damaged))
        try:
            state = train.load_checkpoint(tmp_path / "damaged.npz")
        except checkpoint.CheckpointError:
            continue
        good = train.load_checkpoint(trained_run / "checkpoint.npz")
        for net in ("G", "D"):
            for name, value in good[net].items():
                np.testing.assert_array_equal(state[net][name], value)


def test_not_a_checkpoint_is_one_clear_line(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    np.savez(tmp_path / "generator.npz", w=np.zeros(3, np.float32))
    for name, message in (("notes.txt", "is not a minigan checkpoint"),
                          ("generator.npz", "lacks")):
        with pytest.raises(checkpoint.CheckpointError, match=message) as error:
            train.load_checkpoint(tmp_path / name)
        assert "\n" not in str(error.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train.load_checkpoint(tmp_path / "missing.npz")
    with pytest.raises(FileNotFoundError, match="is a folder"):
        train.load_checkpoint(tmp_path)


def test_no_loader_in_the_package_or_examples_unpickles():
    for folder in ("minigan", "examples"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            assert "pickle.load" not in text and "allow_pickle=True" not in text, path


KILLED_DURING_A_WRITE = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from minigan import checkpoint, train
    out, images = sys.argv[1], np.load(sys.argv[2])
    config = train.TrainConfig(epochs=1, batch_size=8, out=out, log_every=2, seed=3,
                               recipe="original")
    trainer = train.Trainer(config, images, log=lambda line: None)
    trainer.train()

    def write_half_then_die(file, **arrays):
        file.write(b"half a checkpoint" * 1000)
        file.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    checkpoint.np.savez = write_half_then_die
    trainer.config.epochs = 2
    trainer.train()
""")


def test_a_kill_during_a_write_keeps_the_last_checkpoint_and_resume_is_exact(tmp_path):
    images = tiny_images()
    np.save(tmp_path / "images.npy", images)
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-c", KILLED_DURING_A_WRITE, str(out),
                             str(tmp_path / "images.npy")], capture_output=True, text=True,
                            timeout=300, cwd=ROOT)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert list(out.glob("checkpoint.npz.tmp*"))  # the half-written file, left by the kill
    assert train.load_checkpoint(out / "checkpoint.npz")["epoch"] == 1
    resumed = train.resume(out / "checkpoint.npz", images, epochs=2, log=quiet)
    resumed.train()
    assert not list(out.glob("checkpoint.npz.tmp*"))  # cleaned up by the resumed run
    full = train.Trainer(config(tmp_path / "full", epochs=2, recipe="original"), images, log=quiet)
    full.train()
    for net in ("G", "D"):
        ours, theirs = getattr(resumed, net).state_dict(), getattr(full, net).state_dict()
        for name, value in theirs.items():
            np.testing.assert_array_equal(ours[name], value, err_msg=f"{net}.{name}")


def test_an_interrupt_mid_epoch_resumes_to_the_same_weights(tmp_path):
    images = tiny_images()
    lines = []

    def interrupt_in_epoch_two(line):
        lines.append(line)
        if line.startswith("epoch 2/3"):
            raise KeyboardInterrupt
    interrupted = train.Trainer(config(tmp_path / "run", epochs=3, recipe="original"), images,
                                log=interrupt_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        interrupted.train()
    resumed = train.resume(tmp_path / "run" / "checkpoint.npz", images, log=quiet)
    assert resumed.epoch == 1 and resumed.config.epochs == 3  # the planned total is kept
    resumed.train()
    full = train.Trainer(config(tmp_path / "full", epochs=3, recipe="original"), images, log=quiet)
    full.train()
    for name, value in full.G.state_dict().items():
        np.testing.assert_array_equal(resumed.G.state_dict()[name], value, err_msg=name)
    for name, value in full.D.state_dict().items():
        np.testing.assert_array_equal(resumed.D.state_dict()[name], value, err_msg=name)
    assert [row["loss_d"] for row in resumed.epochs] == [row["loss_d"] for row in full.epochs]


def test_the_document_is_plain_json(trained_run):
    with zipfile.ZipFile(trained_run / "checkpoint.npz") as archive:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in archive.infolist())
    with np.load(trained_run / "checkpoint.npz", allow_pickle=False) as npz:
        document = json.loads(npz["document"].tobytes())
    assert document["format"] == "minigan-checkpoint" and document["version"] == 2
    assert document["rng"]["data"]["bit_generator"] == "PCG64"
    assert os.path.getsize(trained_run / "checkpoint.npz") > 0
