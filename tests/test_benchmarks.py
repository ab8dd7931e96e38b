"""Smoke tests: each benchmark script runs one quick case end to end (timings are not checked)."""
import os
import runpy
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_engine_overhead_quick(capsys):
    pytest.importorskip("torch")
    main = runpy.run_path(str(BENCHMARKS / "engine_overhead.py"))["main"]
    assert main(["--quick", "--repeats", "2"]) in (0, None)
    out = capsys.readouterr().out
    assert "| chain100 |" in out and "| mlp3 |" in out


def test_conv_kernels_quick(capsys):
    pytest.importorskip("torch")
    main = runpy.run_path(str(BENCHMARKS / "conv_kernels.py"))["main"]
    assert main(["--quick", "--no-jit", "--repeats", "1", "--warmup", "1"]) in (0, None)
    out = capsys.readouterr().out
    assert "| im2col C=32 |" in out and "| disc train step |" in out


def test_torch_gan_twin_trains_and_judges(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.delenv("MINIGAN_DATA_DIR", raising=False)   # only the folder given below:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no test files anywhere
    import numpy as np

    import minigan as mg
    from minigan import classifier, data, gan
    judge = tmp_path / "judge.npz"
    np.savez(judge, **classifier.build_classifier().state_dict())  # untrained is enough here
    pixels = np.random.default_rng(0).integers(0, 256, (128, 28, 28), dtype=np.uint8)
    data.save_idx(tmp_path / "train-images-idx3-ubyte.gz", pixels)
    main = runpy.run_path(str(BENCHMARKS / "torch_gan.py"))["main"]
    main(["--epochs", "1", "--device", "cpu", "--threads", "1", "--judge", str(judge),
          "--data-dir", str(tmp_path), "--set", "ema=0.9",
          "--out", str(tmp_path / "run")])
    record = __import__("json").loads((tmp_path / "run" / "trials.jsonl").read_text())
    assert record["epoch"] == 1 and sum(record["shares"]) == pytest.approx(1, abs=0.01)
    assert 0 <= record["covered_ema_standing"] <= 10
    assert 0 <= record["lenet_covered"] <= 10 and len(record["lenet_shares"]) == 10
    assert "lenet_fid" not in record                  # no test files in this data folder
    G = gan.load_generator(tmp_path / "run")  # minigan reads the twin's generator (same keys)
    assert G(mg.tensor(np.zeros((2, 100)))).shape == (2, 784)
    assert (tmp_path / "run" / "generator_epoch001.npz").is_file()


def test_torch_gan_twin_defaults_are_minigans_stable_recipe():
    """The PyTorch comparison is only fair if the twin trains minigan's default recipe."""
    import dataclasses

    from minigan import gan
    twin = runpy.run_path(str(BENCHMARKS / "torch_gan.py"))
    ours = dataclasses.asdict(gan.RECIPES["stable"])
    theirs = dataclasses.asdict(twin["Recipe"]())
    assert {k: theirs[k] for k in ours if k != "name"} == {k: v for k, v in ours.items()
                                                          if k != "name"}
    seed = dataclasses.asdict(dataclasses.replace(twin["Recipe"](), **twin["SEED_RECIPE"]))
    assert {k: seed[k] for k in ours if k != "name"} == {
        k: v for k, v in dataclasses.asdict(gan.RECIPES["seed"]).items() if k != "name"}


@pytest.mark.parametrize("pack, kernels", [(1, 0), (2, 0), (1, 4)])
def test_torch_gan_twin_discriminator_is_minigans(pack, kernels):
    """Same weights, same images: the twin's D (packed or not, with minibatch discrimination or
    not) gives minigan's features and P(real), so the comparison trains one model in two
    engines."""
    torch = pytest.importorskip("torch")
    import dataclasses

    import numpy as np

    import minigan as mg
    from minigan import gan
    twin = runpy.run_path(str(BENCHMARKS / "torch_gan.py"))
    D = gan.build_discriminator(dataclasses.replace(gan.RECIPES["stable"], pack=pack,
                                                    minibatch_kernels=kernels)).eval()
    Dt = twin["build_discriminator"](twin["Recipe"](pack=pack, minibatch_kernels=kernels)).eval()
    Dt.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in D.state_dict().items()})
    x = np.random.default_rng(0).uniform(-1, 1, (8, 784)).astype(np.float32)
    features, p = gan.features_and_output(D, mg.tensor(x))
    with torch.no_grad():
        features_t, p_t = twin["features_and_output"](Dt, torch.from_numpy(x))
    assert p.shape == tuple(p_t.shape) == (8 // pack, 1)
    np.testing.assert_allclose(features.numpy(), features_t.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(p.numpy(), p_t.numpy(), rtol=1e-5, atol=1e-6)


def test_gan_bench_quick(tmp_path, capsys):
    pytest.importorskip("torch")
    main = runpy.run_path(str(BENCHMARKS / "gan_bench.py"))["main"]
    report = tmp_path / "gan.md"
    assert main(["--quick", "--cases", "dense 100->128 fwd+bwd,G step", "--batches", "16",
                 "--output", str(report)]) == 0
    out = capsys.readouterr().out
    for row in ("| dense 100->128 fwd+bwd |", "| G step b16 |", "| square: (1024x1024)"):
        assert row in out and row in report.read_text()
    assert (tmp_path / "gan.png").stat().st_size > 0


def test_gan_bench_gpu_missing_is_one_clear_line(capsys):
    pytest.importorskip("torch")
    import minigan as mg
    from minigan import backend
    try:
        backend.check_device("gpu")
        pytest.skip("a GPU is visible: --device gpu would run")
    except mg.DeviceError:
        pass
    main = runpy.run_path(str(BENCHMARKS / "gan_bench.py"))["main"]
    with pytest.raises(SystemExit) as exit_info:
        main(["--device", "gpu", "--quick", "--cases", "bce"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --device gpu:") and "\n" not in err


def test_profile_step_lists_the_ops(capsys):
    main = runpy.run_path(str(BENCHMARKS / "profile_step.py"))["main"]
    main(["--batch", "2", "--rounds", "1"])
    out = capsys.readouterr().out
    assert "| Conv2d | (2, 32, 28, 28) | backward |" in out and "D step on 2 images" in out


@pytest.mark.skipif(not os.environ.get("MINIGAN_DATA_DIR"),
                    reason="MINIGAN_DATA_DIR not set (the real MNIST test files)")
def test_compare_quality_scores_both_engines_and_states_the_spread(tmp_path, capsys):
    import json

    import numpy as np

    from minigan import gan
    runs = {}
    for name, seed in (("minigan", 0), ("torch0", 1), ("torch1", 2)):
        run = tmp_path / name
        run.mkdir()
        gan.backend.manual_seed(seed)
        state = gan.build_generator("seed").state_dict()
        np.savez(run / "generator.npz", **state)
        (run / "recipe.json").write_text(json.dumps({"name": "seed"}))
        if name == "minigan":
            (run / "history.csv").write_text("epoch,fid,digits\n1,300.5,3\n")
        else:
            np.savez(run / "generator_epoch001.npz", **state)
        runs[name] = str(run)
    main = runpy.run_path(str(BENCHMARKS / "compare_quality.py"))["main"]
    assert main(["--minigan", runs["minigan"], "--torch", runs["torch0"], runs["torch1"],
                 "--n", "200", "--output", str(tmp_path / "q.md"),
                 "--json", str(tmp_path / "q.json")]) == 0
    scores = json.loads((tmp_path / "q.json").read_text())
    assert scores["minigan"][0]["per_epoch"] == [[1, 300.5, 3]]
    torch_fids = [r["final"]["fid"] for r in scores["PyTorch"]]
    assert [r["per_epoch"][0][1] for r in scores["PyTorch"]] == torch_fids  # same weights
    report = (tmp_path / "q.md").read_text()
    assert f"spread (max - min) {max(torch_fids) - min(torch_fids):.1f}" in report
    assert "PyTorch's run-to-run spread" in report
    with pytest.raises(SystemExit):
        main(["--minigan", str(tmp_path / "missing")])


@pytest.mark.parametrize("script", ["benchmarks/torch_gan.py", "examples/recipe_trials.py"])
def test_recipe_overrides_take_each_fields_declared_type(script):
    import argparse
    parse = runpy.run_path(str(BENCHMARKS.parent / script))["parse_override"]
    assert parse("pack=2") == ("pack", 2) and isinstance(parse("pack=2")[1], int)
    assert parse("lr_d=1e-4") == ("lr_d", 1e-4)
    assert parse("minibatch_std=False") == ("minibatch_std", False)
    assert parse("generator=seed") == ("generator", "seed")
    for bad, message in (("pack=2.5", "pack must be of type int"),
                         ("minibatch_std=yes", "True or False"),
                         ("nope=1", "unknown recipe field")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            parse(bad)
