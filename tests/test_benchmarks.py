"""Smoke tests: each benchmark script runs one quick case end to end (timings are not checked)."""
import os
import runpy
from pathlib import Path

import pytest

from minigan import build

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


def test_torch_gan_twin_trains_and_judges(tmp_path, capsys, monkeypatch, no_shipped_mnist):
    pytest.importorskip("torch")
    monkeypatch.delenv("MINIGAN_DATA_DIR", raising=False)   # only the folder given below:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no test files anywhere
    import dataclasses

    import numpy as np

    import minigan as mg
    from minigan import data, recipes, sampling
    pixels = np.random.default_rng(0).integers(0, 256, (128, 28, 28), dtype=np.uint8)
    data.save_idx(tmp_path / "train-images-idx3-ubyte.gz", pixels)
    main = runpy.run_path(str(BENCHMARKS / "torch_gan.py"))["main"]
    main(["--epochs", "1", "--device", "cpu", "--threads", "1",
          "--data-dir", str(tmp_path), "--set", "ema=0.9", "--set", "pack=2",
          "--out", str(tmp_path / "run")])
    record = __import__("json").loads((tmp_path / "run" / "trials.jsonl").read_text())
    assert record["epoch"] == 1 and sum(record["shares"]) == pytest.approx(1, abs=0.01)
    assert record["covered"] == sum(share >= 0.05 for share in record["shares"])
    assert 0 <= record["covered_ema_standing"] <= 10 and len(record["shares_ema"]) == 10
    assert "fid" not in record                        # no test files in this data folder
    stable = dataclasses.asdict(recipes.RECIPES["stable"])   # the twin trains minigan's recipe
    assert record["recipe"] == {**{k: v for k, v in stable.items() if k != "name"}, "pack": 2,
                                "mode_seeking": 0.0, "adversarial": 1.0, "ema": 0.9}
    G = sampling.load_generator(tmp_path / "run")  # minigan reads the twin's generator (same keys)
    assert G(mg.tensor(np.zeros((2, 100)))).shape == (2, 784)
    assert sampling.read_recipe(tmp_path / "run" / "recipe.json").pack == 2
    assert (tmp_path / "run" / "generator_epoch001.npz").is_file()


@pytest.mark.parametrize("generator", ["relu", "batchnorm"])
@pytest.mark.parametrize("pack, kernels, std", [(1, 0, False), (2, 0, True), (1, 4, True)])
def test_torch_gan_twin_is_minigans_gan(pack, kernels, std, generator):
    """Same weights, same inputs: the twin's G and D (packed or not, with the minibatch-std
    channel and minibatch discrimination or not) give minigan's images, features and P(real),
    so the comparisons train one model in two engines."""
    torch = pytest.importorskip("torch")
    import dataclasses

    import numpy as np

    import minigan as mg
    from minigan import gan, recipes
    twin = runpy.run_path(str(BENCHMARKS / "torch_gan.py"))
    copy_weights = runpy.run_path(str(BENCHMARKS / "bench_common.py"))["copy_weights"]
    recipe = dataclasses.replace(recipes.RECIPES["stable"], pack=pack, minibatch_kernels=kernels,
                                 minibatch_std=std, generator=generator)
    G, D = build.build_generator(recipe), build.build_discriminator(recipe)
    for _ in range(2):  # BatchNorm's running statistics move away from their start
        G(mg.tensor(np.random.default_rng(1).standard_normal((8, 100)).astype(np.float32)))
    Gt, Dt = twin["build_generator"](recipe, gan.GENERATOR_SIZES), twin["Discriminator"](recipe)
    copy_weights(G, Gt)
    copy_weights(D, Dt)
    for model in (G, D, Gt, Dt):
        model.eval()
    z = np.random.default_rng(2).standard_normal((8, 100)).astype(np.float32)
    x = np.random.default_rng(0).uniform(-1, 1, (8, 784)).astype(np.float32)
    features, p = D.features(mg.tensor(x)), D(mg.tensor(x))
    with torch.no_grad():
        images_t, features_t, p_t = Gt(torch.from_numpy(z)), Dt.features(torch.from_numpy(x)), \
            Dt(torch.from_numpy(x))
    np.testing.assert_allclose(G(mg.tensor(z)).numpy(), images_t.numpy(), rtol=1e-4, atol=1e-5)
    assert p.shape == tuple(p_t.shape) == (8 // pack, 1)
    np.testing.assert_allclose(features.numpy(), features_t.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(p.numpy(), p_t.numpy(), rtol=1e-5, atol=1e-6)


def test_copy_weights_refuses_a_twin_of_another_shape():
    pytest.importorskip("torch")
    import dataclasses

    from minigan import recipes
    twin = runpy.run_path(str(BENCHMARKS / "torch_gan.py"))
    copy_weights = runpy.run_path(str(BENCHMARKS / "bench_common.py"))["copy_weights"]
    recipe = recipes.RECIPES["original"]
    with pytest.raises(ValueError, match="does not fit"):  # 1 input channel, the twin has 2
        copy_weights(build.build_discriminator(recipe),
                     twin["Discriminator"](dataclasses.replace(recipe, pack=2)))
    with pytest.raises(ValueError, match="tensors"):       # minibatch discrimination's T
        copy_weights(build.build_discriminator(recipe),
                     twin["Discriminator"](dataclasses.replace(recipe, minibatch_kernels=4)))


@pytest.mark.parametrize("model", ["seed", "dcgan cond"])
def test_gan_memory_measures_each_engine_alone(model):
    """The seed recipe on its schedule, and the conditional DCGAN (labels, the classifier,
    instance noise) on the standard one, each engine in a child of its own."""
    pytest.importorskip("torch")
    import dataclasses

    from minigan import gan
    memory = runpy.run_path(str(BENCHMARKS / "gan_memory.py"))
    bench = runpy.run_path(str(BENCHMARKS / "gan_bench.py"), run_name="gan_bench")
    recipe, schedule = bench["MODEL_RECIPES"][model]
    spec = {"recipe": dataclasses.asdict(recipe), "sizes": gan.GENERATOR_SIZES,
            "schedule": schedule, "noise": recipe.instance_noise}
    result = memory["measure_both"]("cpu", 1, 4, 0, spec, ("OMP_NUM_THREADS",))
    assert "error" not in result, result
    for engine in ("minigan", "torch"):  # each child refuses to run with the other engine loaded
        assert 0 < result[engine]["rss_import_mib"] < result[engine]["rss_peak_mib"]
    assert (result["batch"], result["steps"]) == (4, 0)


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
    assert "| Conv2dWinograd | (2, 32, 28, 28) | backward |" in out
    assert "original recipe, step d-real, batch 2:" in out
    main(["--batch", "4", "--rounds", "1", "--recipe", "stable", "--step", "d+g", "--min-ms", "0"])
    out = capsys.readouterr().out   # the default recipe's extra layers, both steps, Adam
    for row in ("| MinibatchStd | (4, 64, 28, 28) | forward |", "| BatchCloseness |",
                "| BatchNorm | (4, 1024) | forward |"):
        assert row in out, row


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
        state = build.build_generator("original").state_dict()
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
    mean = sum(torch_fids) / 2
    assert (f"PyTorch: FID {mean:.1f} ({min(torch_fids):.1f}-{max(torch_fids):.1f}) over 2 seeds"
            in report)
    minigan_fid = scores["minigan"][0]["final"]["fid"]
    overlap = min(torch_fids) <= minigan_fid <= max(torch_fids)
    assert f"ranges {'overlap' if overlap else 'do not overlap'}" in report
    assert "FID floor (200 random training images against the same 200 test images" in report
    with pytest.raises(SystemExit):
        main(["--minigan", str(tmp_path / "missing")])


def test_torch_gan_settings_are_recipe_fields_or_trial_terms():
    """--set: a Recipe field typed and range-checked by minigan.recipes, or a twin-only setting
    (torch_gan.TWIN_SETTINGS)."""
    import argparse
    parse = runpy.run_path(str(BENCHMARKS / "torch_gan.py"))["parse_setting"]
    assert parse("pack=2") == ("pack", 2) and isinstance(parse("pack=2")[1], int)
    assert parse("lr_d=1e-4") == ("lr_d", 1e-4)
    assert parse("minibatch_std=False") == ("minibatch_std", False)
    assert parse("generator=seed") == ("generator", "seed")
    assert parse("ema=0.999") == ("ema", 0.999) and parse("adversarial=0") == ("adversarial", 0.0)
    for bad, message in (("pack=2.5", "pack must be of type int"),
                         ("pack=0", "pack must be"),
                         ("minibatch_std=yes", "True or False"),
                         ("mode_seeking=much", "mode_seeking must be a number"),
                         ("nope=1", "unknown recipe field")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            parse(bad)


def test_compile_bench_times_minigan_eager_and_compiled_pytorch(capsys):
    """The torch.compile anchor, on the backend that generates no code (a C++ compiler is not
    needed): the three engines of one model, their ratios, the compile time on its own line."""
    main = runpy.run_path(str(BENCHMARKS / "compile_bench.py"))["main"]
    rows = main(["--models", "seed G", "--batch", "8", "--rounds", "1", "--warmup", "1",
                 "--backend", "eager"])
    (name, medians, compile_s, agreement), = rows
    assert name == "seed G step" and set(medians) == {"minigan", "eager", "compiled"}
    assert all(ms > 0 for ms in medians.values()) and compile_s > 0
    out = capsys.readouterr().out
    assert "| seed G step |" in out and "torch.compile backend eager" in out
    assert agreement.startswith("eval G, D outputs: max rel. diff")
    with pytest.raises(SystemExit):
        main(["--models", "no such model"])


def test_the_twins_auxiliary_classifier_is_minigans():
    """A conditional recipe with the auxiliary classifier, on the DCGAN discriminator (no
    dropout, so a loss is deterministic): from the same weights, both engines' D loss on a real
    batch is BCE(D(x), real label) plus classifier * the classifier's cross-entropy, equal to
    float32 rounding; and the classifier's term is a real part of it (about log 10)."""
    torch = pytest.importorskip("torch")
    import dataclasses

    import numpy as np

    from minigan import gan, recipes
    twin = runpy.run_path(str(BENCHMARKS / "torch_gan.py"))
    common = runpy.run_path(str(BENCHMARKS / "bench_common.py"))
    recipe = dataclasses.replace(recipes.recipe_from_flags("dcgan", conditional=True),
                                 discriminator="dcgan", instance_noise=0.0)
    assert recipe.classifier > 0
    G, D, opt_d, opt_g = common["minigan_models"](recipe)
    tG, tD = twin["build_generator"](recipe, gan.GENERATOR_SIZES), twin["Discriminator"](recipe)
    common["copy_weights"](G, tG)
    common["copy_weights"](D, tD)
    real = np.random.default_rng(0).uniform(-1, 1, (16, 784)).astype(np.float32)
    labels = np.arange(16) % 10
    real_t, labels_t = torch.tensor(real), torch.tensor(labels)
    with torch.no_grad():
        features = tD.features(real_t)
        bce = torch.nn.functional.binary_cross_entropy(
            tD.head(features, labels_t), torch.full((16, 1), recipe.real_label))
        digits = tD.digit_loss(features, labels_t)
    d_step = common["minigan_steps"](G, D, opt_d, opt_g, recipe, 0.0, labels)[0]
    loss = float(d_step(real, 0))                         # the real batch alone, then Adam
    t_opt_d = twin["make_optimizers"](tG, tD, recipe)[0]
    t_loss = float(twin["discriminator_step"](tG, tD, t_opt_d, recipe, real_t, 0.0, 0,
                                              labels_t)[0])
    assert abs(loss - t_loss) <= 1e-5 * abs(t_loss)
    assert abs(t_loss - (float(bce) + recipe.classifier * float(digits))) <= 1e-5 * t_loss
    assert 1.5 < float(digits) < 3.5                      # log 10 = 2.3 for an untrained head
