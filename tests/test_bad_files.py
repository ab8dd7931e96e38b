"""Bad input to the readers and the sampling CLIs: pickle payloads, files that are not generators,
broken weights, bad recipes, odd MNIST files. Each gets one clear line, and nothing on disk is
lost or run."""
import dataclasses
import gzip
import hashlib
import json
import os
import pathlib
import pickle
import runpy
import subprocess
import sys

import numpy as np
import pytest

from minigan import build, data, recipes, sampling

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("MINIGAN_DATA_DIR", "/nonexistent"))
needs_mnist = pytest.mark.skipif(not (SHARED / data.FILES["test-images"][0]).is_file(),
                                 reason="MINIGAN_DATA_DIR does not hold the MNIST .gz files")


class Touch:
    """Unpickling this calls Path(marker).touch(): a payload that shows whether it ran."""

    def __init__(self, marker):
        self.marker = pathlib.Path(marker)

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def save_run(folder, recipe="stable", state=None):
    """A run folder as the trainer writes it: generator.npz and recipe.json."""
    folder.mkdir(parents=True, exist_ok=True)
    recipe = recipes.get_recipe(recipe)
    np.savez(folder / "generator.npz", **(state or build.build_generator(recipe).state_dict()))
    (folder / "recipe.json").write_text(json.dumps(dataclasses.asdict(recipe)))
    return folder


def load_script(name):
    return runpy.run_path(str(ROOT / "examples" / name))["main"]


def one_error_line(stderr):
    assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr and "allow_pickle" not in stderr
    return stderr


def test_a_pickle_payload_never_runs(tmp_path):
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(Touch(control)))
    assert control.exists()                              # the payload is live when unpickled
    marker = tmp_path / "MARKER"
    payload = pickle.dumps({"0.weight": Touch(marker)})
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "generator.npz").write_bytes(payload)
    (tmp_path / "payload.pkl").write_bytes(payload)
    for source in ("run/generator.npz", "payload.pkl"):
        for command in (["examples/sample.py", source, "--out", "x.png"],
                        ["-m", "minigan.evaluate", source]):
            if command[0].startswith("examples"):
                command[0] = str(ROOT / command[0])
            result = subprocess.run([sys.executable, *command], cwd=tmp_path,
                                    capture_output=True, text=True, timeout=60)
            assert result.returncode == 1
            assert "never loads pickles" in one_error_line(result.stderr)
            assert source in result.stderr
    assert not marker.exists() and not (tmp_path / "x.png").exists()


def test_an_npz_entry_holding_objects_is_refused_unread(tmp_path, capsys):
    marker = tmp_path / "MARKER"
    np.savez(tmp_path / "generator.npz", w=np.array([Touch(marker)], dtype=object))
    with pytest.raises(ValueError, match="entry 'w' holds Python objects") as info:
        sampling.load_generator(tmp_path)
    assert "allow_pickle" not in str(info.value) and "generator.npz" in str(info.value)
    (tmp_path / "x.png").write_bytes(b"keep")
    assert load_script("sample.py")([str(tmp_path), "--out", str(tmp_path / "x.png"),
                                     "--overwrite"]) == 1
    assert "never loads pickles" in one_error_line(capsys.readouterr().err)
    assert not marker.exists() and (tmp_path / "x.png").read_bytes() == b"keep"


def test_files_that_are_not_generators_get_one_line_and_keep_out(tmp_path, capsys):
    from minigan import visualize
    visualize.save_grid(tmp_path / "picture.png", np.zeros((1, 784)), 1, 1)
    (tmp_path / "notes.txt").write_text("not weights\n")
    good = save_run(tmp_path / "run") / "generator.npz"
    (tmp_path / "cut.npz").write_bytes(good.read_bytes()[:5000])
    np.save(tmp_path / "one.npy", np.zeros(3))
    out = tmp_path / "x.npy"
    out.write_bytes(b"keep")
    sample = load_script("sample.py")
    for name in ("picture.png", "notes.txt", "cut.npz", "one.npy"):
        assert sample([str(tmp_path / name), "--out", str(out), "--overwrite"]) == 1
        err = one_error_line(capsys.readouterr().err)
        assert f"{name} is not a minigan generator file (.npz of arrays)" in err
    assert out.read_bytes() == b"keep"


def test_non_finite_weights_or_running_statistics_are_refused_before_sampling(tmp_path, capsys):
    G = build.build_generator("stable")
    state = G.state_dict()
    state["3.running_var"][5] = np.nan                  # one NaN in a BatchNorm running variance
    run = save_run(tmp_path / "run", state=state)
    out = tmp_path / "grid.png"
    out.write_bytes(b"keep")
    assert load_script("sample.py")([str(run), "--out", str(out), "--overwrite"]) == 1
    err = one_error_line(capsys.readouterr().err)
    assert "generator.npz" in err and "3.running_var" in err and "non-finite" in err
    assert out.read_bytes() == b"keep"
    G.eval()
    dict(G.named_tensors())["3.running_var"].data[5] = np.nan   # already in memory: generate
    with pytest.raises(sampling.GeneratorError, match="non-finite images.*running statistics"):
        sampling.generate(G, 4)


@pytest.mark.parametrize("text, problem", [
    ('{"name": "x", "extra": 1}', r"unknown fields \['extra'\]"),
    ("[1, 2]", "JSON list"),
    ('{"name": "x",', "cannot read it as JSON"),
    ('{"generator": "seed"}', "no 'name' field"),
    ('{"name": "x", "pack": 0}', "pack must be a whole number >= 1, got 0"),
])
def test_a_bad_recipe_json_is_named(tmp_path, text, problem):
    save_run(tmp_path)
    (tmp_path / "recipe.json").write_text(text)
    with pytest.raises(ValueError, match=problem) as info:
        sampling.load_generator(tmp_path)
    assert str(info.value).startswith(f"{tmp_path / 'recipe.json'}: ")


@pytest.mark.parametrize("field, value, allowed", [
    ("pack", 0, ">= 1"), ("pack", True, "whole number"), ("pack", 2.0, "whole number"),
    ("real_label", 2, r"in \(0, 1\]"), ("real_label", 0.0, r"in \(0, 1\]"),
    ("instance_noise", -1, ">= 0"), ("feature_matching", -5, ">= 0"),
    ("feature_matching", float("inf"), "finite"), ("lr_d", 0, "> 0"), ("lr_g", float("nan"), "> 0"),
    ("beta1", 1.0, r"in \[0, 1\)"), ("minibatch_kernels", -1, ">= 0"),
    ("minibatch_std", 1, "True or False"), ("generator", "big", "one of"), ("name", 3, "string"),
])
def test_a_recipe_refuses_wrong_types_and_ranges(field, value, allowed):
    with pytest.raises(ValueError, match=rf"recipe field {field} must be .*{allowed}.*got"):
        dataclasses.replace(recipes.RECIPES["stable"], **{field: value})
    fields = {**dataclasses.asdict(recipes.RECIPES["original"]), field: value}   # a checkpoint's
    with pytest.raises(ValueError, match=f"recipe field {field}"):
        recipes.Recipe(**fields)


@pytest.mark.parametrize("setting, message", [
    ("pack=0", "pack must be a whole number >= 1"), ("real_label=2", "real_label must be"),
    ("instance_noise=-1", "instance_noise must be"), ("generator=big", "generator must be one"),
])
def test_recipe_trials_refuses_out_of_range_settings(monkeypatch, capsys, setting, message):
    monkeypatch.setattr(data, "load_mnist", lambda *a, **k: pytest.fail("loaded data"))
    with pytest.raises(SystemExit) as info:
        load_script("recipe_trials.py")(["--set", setting])
    assert info.value.code == 2
    assert message in capsys.readouterr().err.splitlines()[-1]


def test_sample_checks_out_and_n_before_generating(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sampling, "generate", lambda *a, **k: pytest.fail("generated"))
    run = save_run(tmp_path / "run")
    sample = load_script("sample.py")
    assert sample([str(run), "--out", str(tmp_path / "missing" / "x.png")]) == 1
    assert "missing does not exist" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "missing").exists()
    for n, out in (("0", "x.png"), ("10001", "x.png"), ("100001", "x.npy")):
        with pytest.raises(SystemExit) as info:
            sample([str(run), "--n", n, "--out", str(tmp_path / out)])
        assert info.value.code == 2 and "--n must be between 1 and" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_evaluate_n_within_the_test_set_and_warns_when_small(tmp_path, monkeypatch, capsys):
    from minigan import evaluate
    run = save_run(tmp_path / "run")
    with pytest.raises(SystemExit) as info:
        evaluate.main([str(run), "--n", "12000"])
    assert info.value.code == 2 and "between 2 and 10000" in capsys.readouterr().err
    with pytest.raises(ValueError, match="between 2 and 10000"):
        evaluate.evaluate(str(run), n=12000)
    monkeypatch.setattr(evaluate, "evaluate", lambda *a: {"n": a[1]})
    assert evaluate.main([str(run), "--n", "100", "--json"]) == 0
    assert capsys.readouterr().err.startswith("warning: FID from 100 samples")
    assert evaluate.main([str(run), "--n", str(evaluate.FEW_SAMPLES), "--json"]) == 0
    assert capsys.readouterr().err == ""


@pytest.fixture(scope="module")
def raw_test_files(tmp_path_factory):
    """The real MNIST test files, uncompressed, in a folder of their own."""
    folder = tmp_path_factory.mktemp("raw")
    for name in ("test-images", "test-labels"):
        filename = data.FILES[name][0]
        (folder / filename[:-3]).write_bytes(gzip.decompress((SHARED / filename).read_bytes()))
    return folder


@needs_mnist
def test_uncompressed_files_are_checksummed(raw_test_files, tmp_path, monkeypatch):
    monkeypatch.delenv("MINIGAN_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    images, labels = data.load_mnist("test", raw_test_files, download=False)
    assert images.shape == (10000, 784) and labels[:3].tolist() == [7, 2, 1]
    raw = (raw_test_files / "t10k-images-idx3-ubyte").read_bytes()
    noise = np.random.default_rng(0).integers(0, 256, len(raw) - 16, dtype=np.uint8).tobytes()
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(raw[:16] + noise)  # header intact
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(
        (raw_test_files / "t10k-labels-idx1-ubyte").read_bytes())
    with pytest.raises(data.DataError, match=r"t10k-images-idx3-ubyte: MD5 .* does not match"):
        data.load_mnist("test", tmp_path, download=False)


@needs_mnist
def test_swapped_train_and_test_files_are_refused(raw_test_files, tmp_path, monkeypatch):
    monkeypatch.delenv("MINIGAN_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for kind in ("images-idx3", "labels-idx1"):
        (tmp_path / f"train-{kind}-ubyte").write_bytes(
            (raw_test_files / f"t10k-{kind}-ubyte").read_bytes())
    with pytest.raises(data.DataError, match=r"train-images-idx3-ubyte: MD5 .* does not match"):
        data.load_mnist("train", tmp_path, download=False)


def test_a_file_of_the_wrong_shape_is_refused_even_with_a_matching_checksum(tmp_path,
                                                                             monkeypatch):
    monkeypatch.delenv("MINIGAN_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data.save_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((32, 28, 28), np.uint8))
    data.save_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(32, np.uint8))
    files = dict(data.FILES)
    for name in ("test-images", "test-labels"):
        filename, gz_md5, _, shape = files[name]
        md5 = hashlib.md5((tmp_path / filename[:-3]).read_bytes()).hexdigest()
        files[name] = (filename, gz_md5, md5, shape)         # the checksum passes, the shape not
    monkeypatch.setattr(data, "FILES", files)
    with pytest.raises(data.DataError, match=r"shape \(32, 28, 28\), but MNIST's test-images"):
        data.load_mnist("test", tmp_path, download=False)
