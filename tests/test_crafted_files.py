"""Crafted files cannot hang or crash a reader: a checkpoint re-saved with a valid checksum, a
recipe.json, the generator's JSON, an IDX file or an .npz each get one line naming the file and
the fix, within the limits the readers state (checkpoint.MAX_NAME, MAX_DEPTH, ...), and without
reading more than the file declares. Also sample.py's --out, --seed and evaluate's --seed, and
a --data-dir that does not hold the files."""
import dataclasses
import gzip
import json
import os
import pathlib
import runpy
import shutil
import tracemalloc

import numpy as np
import pytest

from conftest import quiet, tiny_images
from minigan import build, checkpoint, data, evaluate, recipes, sampling, train

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEEP = 200_000   # levels of nesting that gave RecursionError tracebacks


def script(name):
    return runpy.run_path(str(ROOT / "examples" / name))["main"]


def run_main(main, argv, capsys):
    """(exit code, stderr) of a script's main; argparse's exit is a code too."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit:
        code = exit.code
    return code, capsys.readouterr().err


def one_line(err):
    assert err.startswith("error: ") and err.count("\n") == 1, err[:2000]
    assert "Traceback" not in err and len(err) < 600, err[:2000]
    return err


def save_run(folder, recipe_text=None, recipe="stable"):
    """A run folder: generator.npz and recipe.json (`recipe_text` in place of the real one)."""
    folder.mkdir(parents=True, exist_ok=True)
    recipe = recipes.get_recipe(recipe)
    np.savez(folder / "generator.npz", **build.build_generator(recipe).state_dict())
    (folder / "recipe.json").write_text(recipe_text or json.dumps(dataclasses.asdict(recipe)))
    return folder


def deep_json(depth=DEEP):
    return "[" * depth + "]" * depth


def save_document(path, document_text, arrays=None):
    """checkpoint.save's layout around any document text, the SHA-256 made anew (json.dumps
    cannot write a 200k-deep document, a forger can)."""
    arrays = arrays or {}
    raw = document_text.encode()
    np.savez(path, **arrays, document=np.frombuffer(raw, np.uint8),
             sha256=np.frombuffer(checkpoint.digest(raw, arrays), np.uint8))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A one-epoch run of the original recipe on 48 random images (the smallest checkpoint)."""
    out = tmp_path_factory.mktemp("trained") / "run"
    config = train.TrainConfig(epochs=1, batch_size=8, out=str(out), log_every=2, seed=3,
                               recipe="original")
    train.Trainer(config, tiny_images(), log=quiet).train()
    return out


def resave(source, target, change):
    """The checkpoint at `source` edited by change(document) and saved with checkpoint.save:
    its checksum is valid."""
    arrays, document = checkpoint.load(source)
    change(document)
    checkpoint.save(target, arrays, {k: v for k, v in document.items()
                                     if k not in ("format", "version")})


def _long_name(document):
    document["recipe"]["name"] = "n" * 1_000_000


def _long_out(document):
    document["config"]["out"] = "/" + "o" * 5000


def _long_key(document):
    document["epochs"][0]["k" * 300] = 1


def _long_list(document):
    document["epochs"] = [{}] * 1_000_001


def _control_characters(document):
    document["recipe"]["name"] = "original\x1b[2J\nrun"


@pytest.mark.parametrize("change, problem", [
    (_long_name, "a string of 1,000,000 characters at recipe.name, where a name holds at most 256"),
    (_long_out, "a string of 5,001 characters at config.out, where a text holds at most 4,096"),
    (_long_key, "a key of 300 characters at epochs[0], where a name holds at most 256"),
    (_long_list, "a list of 1,000,001 items at epochs, where at most 1,000,000"),
    (_control_characters, "control characters in the string at recipe.name"),
], ids=["long-name", "long-out", "long-key", "long-list", "control-characters"])
def test_a_resaved_checkpoint_beyond_the_limits_is_refused_on_load(trained_run, tmp_path, change,
                                                                   problem):
    resave(trained_run / "checkpoint.npz", tmp_path / "crafted.npz", change)
    with pytest.raises(checkpoint.CheckpointError) as info:
        train.load_checkpoint(tmp_path / "crafted.npz")
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'crafted.npz'} is not a minigan checkpoint")
    assert problem in message and "\n" not in message and len(message) < 400


def test_a_deep_checkpoint_document_is_one_line_in_load_and_resume(tmp_path, monkeypatch,
                                                                   capsys):
    crafted = tmp_path / "checkpoint.npz"
    save_document(crafted, '{"format": "minigan-checkpoint", "version": 2, "recipe": '
                  + deep_json() + "}")
    with pytest.raises(checkpoint.CheckpointError, match="nested deeper than 32 levels"):
        checkpoint.load(crafted)
    monkeypatch.setattr(data, "load_mnist", lambda *a, **k: pytest.fail("loaded MNIST"))
    code, err = run_main(script("mnist_gan.py"), ["--resume", crafted], capsys)
    assert code == 1 and str(crafted) in one_line(err) and "nested deeper than 32" in err


@pytest.mark.parametrize("recipe_text, problem", [
    (deep_json(), "nested deeper than 32 levels"),
    (json.dumps(dict(dataclasses.asdict(recipes.RECIPES["stable"]), name="n" * 1_000_000)),
     "a string of 1,000,000 characters at name, where a name holds at most 256"),
    ('{"name": "stable", "x": ' + "[" * 40 + "]" * 40 + "}", "nested deeper than 32 levels"),
], ids=["200k-deep", "long-name", "40-deep"])
def test_a_crafted_recipe_json_is_one_line_in_every_reader(tmp_path, monkeypatch, capsys,
                                                           recipe_text, problem):
    run = save_run(tmp_path / "run", recipe_text)
    with pytest.raises(sampling.GeneratorError, match=problem) as info:
        sampling.load_generator(run)
    assert str(info.value).startswith(f"{run / 'recipe.json'}: ") and len(str(info.value)) < 400
    monkeypatch.setattr(data, "load_mnist", lambda *a, **k: pytest.fail("loaded MNIST"))
    out = tmp_path / "grid.png"
    for main, argv in ((script("sample.py"), [run, "--out", out]), (evaluate.main, [run])):
        code, err = run_main(main, argv, capsys)
        assert code == 1 and problem in one_line(err) and "recipe.json" in err
    assert not out.exists()


def test_the_pretrained_generators_json_is_read_within_the_limits(tmp_path):
    npz = tmp_path / "generator_pretrained.npz"
    shutil.copy(sampling.PRETRAINED, npz)
    info = json.loads(sampling.PRETRAINED.with_suffix(".json").read_text())
    for text, problem in ((deep_json(), "nested deeper than 32 levels"),
                          (json.dumps(dict(info, provenance={"command": "c" * 5000})),
                           "a string of 5,000 characters at provenance.command")):
        npz.with_suffix(".json").write_text(text)
        with pytest.raises(sampling.GeneratorError, match=problem):
            sampling.load_pretrained(npz)


def test_sample_refuses_an_existing_out_unless_overwrite(tmp_path, capsys):
    run = save_run(tmp_path / "run")
    sample = script("sample.py")
    out = tmp_path / "exist.png"
    out.write_text("my notes")
    code, err = run_main(sample, [run, "--n", 4, "--out", out], capsys)
    assert code == 1 and "already exists" in one_line(err) and "--overwrite" in err
    assert out.read_text() == "my notes"
    link = tmp_path / "link.npy"
    link.symlink_to(tmp_path / "elsewhere.npy")             # dangling: still a name in use
    code, err = run_main(sample, [run, "--n", 4, "--out", link], capsys)
    assert code == 1 and "already exists" in one_line(err)
    assert link.is_symlink() and not (tmp_path / "elsewhere.npy").exists()
    code, err = run_main(sample, [run, "--n", 4, "--out", out, "--overwrite"], capsys)
    assert code == 0 and out.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_sample_writes_its_outputs_with_the_umask(tmp_path, capsys, umask):
    run = save_run(tmp_path / "run")
    sample = script("sample.py")
    replaced = tmp_path / "old.png"
    replaced.write_text("old")
    replaced.chmod(0o644)
    old = os.umask(umask)
    try:
        for out, extra in ((tmp_path / "new.npy", []), (replaced, ["--overwrite"])):
            code, err = run_main(sample, [run, "--n", 4, "--out", out, *extra], capsys)
            assert code == 0, err
            assert out.stat().st_mode & 0o777 == 0o666 & ~umask
    finally:
        os.umask(old)


@pytest.mark.parametrize("command", ["sample", "evaluate"])
def test_a_negative_seed_names_the_flag_before_anything_loads(tmp_path, monkeypatch, capsys,
                                                              command):
    monkeypatch.setattr(sampling, "load_generator", lambda *a: pytest.fail("loaded"))
    monkeypatch.setattr(sampling, "load_pretrained", lambda *a: pytest.fail("loaded"))
    monkeypatch.setattr(data, "load_mnist", lambda *a, **k: pytest.fail("loaded MNIST"))
    main = script("sample.py") if command == "sample" else evaluate.main
    extra = ["--out", tmp_path / "x.png"] if command == "sample" else []
    code, err = run_main(main, ["--pretrained", "--seed", "-1", *extra], capsys)
    assert code == 2 and "argument --seed: must be at least 0, got -1" in err
    with pytest.raises(ValueError, match="seed must be a whole number >= 0, got -1"):
        sampling.generate(build.build_generator("original"), 2, seed=-1)


def test_a_generator_without_its_recipe_json_says_what_to_give(tmp_path, capsys):
    run = save_run(tmp_path / "run", recipe="dcgan")
    (run / "recipe.json").unlink()
    with pytest.raises(sampling.GeneratorError) as info:
        sampling.load_generator(run / "generator.npz")
    message = str(info.value)
    assert "no recipe.json beside it" in message and "put the run's recipe.json" in message
    assert "\n" not in message and len(message) < 400
    code, err = run_main(script("sample.py"), [run, "--out", tmp_path / "x.png"], capsys)
    assert code == 1 and "no recipe.json beside it" in one_line(err)


def test_a_checkpoint_given_for_a_generator_says_what_to_give(trained_run, tmp_path, capsys):
    source = trained_run / "checkpoint.npz"
    with pytest.raises(sampling.GeneratorError) as info:
        sampling.load_generator(source)
    message = str(info.value)
    assert message.startswith(f"{source} is a training checkpoint, not a generator")
    assert f"give the run folder {trained_run}" in message and len(message) < 400
    code, err = run_main(evaluate.main, [source], capsys)
    assert code == 1 and "is a training checkpoint" in one_line(err)


def test_a_file_that_is_not_an_npz_is_named_by_its_type_never_its_contents(tmp_path, capsys):
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / "generator.npz").symlink_to(secret)
    (tmp_path / "blob.npz").write_bytes(bytes(range(200, 256)) * 3)
    for source, kind in ((run, "a text file"), (tmp_path / "blob.npz", "binary data")):
        with pytest.raises(sampling.GeneratorError) as info:
            sampling.load_generator(source)
        assert kind in str(info.value) and "root:" not in str(info.value)
        assert "b'" not in str(info.value) and "\\x" not in str(info.value)
        code, err = run_main(script("sample.py"), [source, "--out", tmp_path / "x.png"], capsys)
        assert code == 1 and kind in one_line(err) and "root:" not in err


def peak_memory(call):
    """(exception, peak bytes traced) of call(), which must raise."""
    tracemalloc.start()
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the caller checks what it was
        error = exc
    else:
        error = None
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return error, peak


def gz_with_zeros(path, head, megabytes):
    """A .gz of `head` then `megabytes` MiB of zeros, written in chunks (a small bomb)."""
    with gzip.open(path, "wb") as f:
        f.write(head)
        for _ in range(megabytes):
            f.write(bytes(1 << 20))


def test_read_idx_rejects_a_wrong_magic_before_reading_the_body(tmp_path):
    bomb = tmp_path / "bomb.gz"
    gz_with_zeros(bomb, b"\x12\x34\x08\x01" + (64 << 20).to_bytes(4, "big"), 64)
    assert bomb.stat().st_size < 200_000
    error, peak = peak_memory(lambda: data.read_idx(bomb))
    assert isinstance(error, data.DataError) and "wrong magic number 12340801" in str(error)
    assert peak < 4 << 20, f"{peak / 2**20:.0f} MiB traced while rejecting the header"


def test_read_idx_stops_at_the_size_its_header_declares(tmp_path):
    long = tmp_path / "long.gz"
    gz_with_zeros(long, bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + bytes(10), 64)
    error, peak = peak_memory(lambda: data.read_idx(long))
    assert isinstance(error, data.DataError) and "longer than the 18 bytes" in str(error)
    assert peak < 4 << 20, f"{peak / 2**20:.0f} MiB traced for an 18-byte array"
    huge = tmp_path / "huge.idx"          # declares 2**96 bytes, holds 8
    huge.write_bytes(bytes([0, 0, 8, 3]) + (2**32 - 1).to_bytes(4, "big") * 3 + bytes(8))
    with pytest.raises(data.DataError, match="huge.idx.*truncated"):
        data.read_idx(huge)


@pytest.mark.parametrize("kind", ["missing", "empty", "a file"])
def test_a_named_data_dir_must_hold_the_files(tmp_path, monkeypatch, kind):
    """No fallback to $MINIGAN_DATA_DIR, the cache or the shipped copy (all of which hold
    the files here) when a folder is named."""
    folder = tmp_path / "mnist"
    if kind == "empty":
        folder.mkdir()
    elif kind == "a file":
        folder.write_text("")
    with pytest.raises(data.DataError) as info:
        data.load_mnist("test", data_dir=folder)
    message = str(info.value)
    expected = {"missing": f"MNIST folder {folder} does not exist",
                "empty": f"MNIST folder {folder} holds no t10k-images-idx3-ubyte.gz",
                "a file": f"MNIST folder {folder} is a file, not a folder"}[kind]
    assert message.startswith(expected) and "\n" not in message
    assert data.MIRRORS[0] in message and "leave --data-dir out" in message


def test_evaluate_and_mnist_gan_refuse_a_data_dir_without_the_files(tmp_path, monkeypatch,
                                                                    capsys):
    monkeypatch.setattr(sampling, "load_pretrained", lambda *a: pytest.fail("loaded"))
    code, err = run_main(evaluate.main, ["--pretrained", "--data-dir", "/nonexistent"], capsys)
    assert code == 1 and "MNIST folder /nonexistent does not exist" in one_line(err)
    out = tmp_path / "run"
    code, err = run_main(script("mnist_gan.py"),
                         ["--data-dir", tmp_path, "--out", out, "--epochs", 1, "--limit", 64,
                          "--batch-size", 32, "--recipe", "original"], capsys)
    assert code == 1 and f"MNIST folder {tmp_path} holds no train-images" in err
    assert "Traceback" not in err
