"""The GAN and its trainer on tiny data: steps, schedules, outputs, checkpoints, resume, NaN."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigan as mg
import minigan.functional as F
from conftest import quiet, randn, tiny_images
from minigan import build, gan, nn, recipes, train
from minigan.config import ORIGINAL_SCHEDULE


def config(tmp_path, **overrides):
    settings = dict(epochs=1, batch_size=8, out=str(tmp_path / "run"), log_every=2, seed=3)
    settings.update(overrides)
    return train.TrainConfig(**settings)


def test_the_original_configuration_matches_the_keras_script():
    assert ORIGINAL_SCHEDULE == {"epochs": 100, "batch_size": 64, "iterations": 64,
                                   "sample_every": 10, "grid": 4}
    r = recipes.RECIPES["original"]
    assert (r.generator, r.minibatch_std, r.lr_d, r.lr_g, r.beta1, r.real_label,
            r.instance_noise) == ("relu", False, 1e-4, 1e-4, 0.9, 1.0, 0.0)
    G = build.build_generator("original")
    dense = [m for m in G if isinstance(m, nn.Dense)]
    assert [(d.in_features, d.out_features) for d in dense] == [
        (100, 128), (128, 256), (256, 512), (512, 1024), (1024, 784)]
    assert [type(m).__name__ for m in G][-2:] == ["Dense", "Tanh"]
    assert sum(isinstance(m, nn.ReLU) for m in G) == 4
    D = build.build_discriminator("original")
    assert [type(m).__name__ for m in D.features] == [
        "Pack", "Conv2D", "LeakyReLUDropout", "Conv2D", "LeakyReLUDropout"]
    assert [type(m).__name__ for m in D.head] == ["Flatten", "Dense", "Sigmoid"]
    f = D.features
    assert (f[1].out_channels, f[3].out_channels, f[2].alpha, f[2].rate) == (32, 64, 0.01, 0.3)
    assert f[1].padding == "same" and f[1].kernel_size == (3, 3)
    assert f[0].m == 1 and f[1].in_channels == 1   # one image per input: the plain (N, 1, 28, 28)
    assert (D.head[1].in_features, D.head[1].out_features) == (28 * 28 * 64, 1)
    opt_d, opt_g = gan.make_optimizers(G, D, r)
    assert opt_d.hyper["lr"] == opt_g.hyper["lr"] == 1e-4
    assert opt_d.params == D.parameters() and opt_g.params == G.parameters()


def test_generator_step_leaves_the_discriminator_frozen():
    G, D = build.build_generator("original"), build.build_discriminator("original")
    opt_d, opt_g = gan.make_optimizers(G, D, recipes.RECIPES["original"])
    before = D.state_dict()
    g_before = G.state_dict()
    gan.generator_step(G, D, opt_g, tiny_images(4), build.rules(recipes.RECIPES["original"]))
    for name, value in D.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)
    assert all(p.grad is None for p in D.parameters())  # no weight gradients were computed
    assert all(p.requires_grad for p in D.parameters())  # and D is trainable again afterwards
    assert any(not np.array_equal(v, g_before[k]) for k, v in G.state_dict().items())


def test_discriminator_step_moves_only_the_discriminator():
    r = recipes.RECIPES["stable"]
    G, D = build.build_generator(r), build.build_discriminator(r)
    opt_d, _ = gan.make_optimizers(G, D, r)
    g_before = {k: v for k, v in G.state_dict().items() if "running" not in k
                and "num_batches" not in k}
    d_before = D.state_dict()
    loss, d_real, d_fake = gan.discriminator_step(G, D, opt_d, tiny_images(4), build.rules(r, 0.1))
    assert np.isfinite(float(loss)) and 0 < float(d_real) < 1 and 0 < float(d_fake) < 1
    for k, v in g_before.items():
        np.testing.assert_array_equal(G.state_dict()[k], v)
    assert any(not np.array_equal(v, d_before[k]) for k, v in D.state_dict().items())


@pytest.mark.parametrize("recipe", ["stable", "original"])
def test_a_short_standard_run_writes_every_output(tmp_path, recipe):
    trainer = train.Trainer(config(tmp_path, recipe=recipe), tiny_images(), log=quiet)
    last = trainer.train()
    out = tmp_path / "run"
    for name in ("samples_epoch001.png", "final_grid.png", "progress.gif", "losses.png",
                 "history.csv", "checkpoint.npz", "generator.npz", "recipe.json"):
        assert (out / name).is_file(), name
    assert last["g_steps"] == 6 and np.isfinite(last["loss_d"]) and np.isfinite(last["loss_g"])
    G = build.build_generator(recipe)
    G.load_state_dict(dict(np.load(out / "generator.npz")))  # the documented way back


def test_on_epoch_end_sees_each_finished_epoch(tmp_path):
    seen = []
    trainer = train.Trainer(config(tmp_path, epochs=2), tiny_images(), log=quiet,
                            on_epoch_end=lambda t: seen.append((t.epoch, t.epochs[-1]["epoch"])))
    trainer.train()
    assert seen == [(1, 1), (2, 2)]


def test_instance_noise_anneals_over_the_whole_run(tmp_path):
    trainer = train.Trainer(config(tmp_path, epochs=4), tiny_images(), log=quiet)
    stds = []
    for epoch in range(4):
        trainer.epoch = epoch
        stds.append(trainer.noise_std())
    assert stds == pytest.approx([0.3, 0.225, 0.15, 0.075])


def test_a_short_seed_schedule_run(tmp_path, monkeypatch):
    monkeypatch.setitem(ORIGINAL_SCHEDULE, "iterations", 3)
    trainer = train.Trainer(config(tmp_path, schedule="original", recipe="original", epochs=2),
                            tiny_images(), log=quiet)
    trainer.train()
    assert trainer.g_steps == 2  # one generator step per epoch, as the original
    assert (tmp_path / "run" / "samples_epoch002.png").is_file()


def test_checkpoint_round_trip(tmp_path):
    trainer = train.Trainer(config(tmp_path), tiny_images(), log=quiet)
    trainer.train()
    state = train.load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    for name, value in trainer.G.state_dict().items():
        np.testing.assert_array_equal(state["G"][name], value)
    assert state["epoch"] == 1 and len(state["opt_d"]["state"]) == len(trainer.D.parameters())
    (tmp_path / "junk.pkl").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.pkl is not a minigan checkpoint"):
        train.load_checkpoint(tmp_path / "junk.pkl")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train.load_checkpoint(tmp_path / "missing.pkl")


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    images = tiny_images()
    full = train.Trainer(config(tmp_path / "a", epochs=2), images, log=quiet)
    full.train()
    first = train.Trainer(config(tmp_path / "b", epochs=1), images, log=quiet)
    first.train()
    resumed = train.resume(tmp_path / "b" / "run" / "checkpoint.npz", images, epochs=2,
                           log=quiet)
    resumed.train()
    for name, value in full.G.state_dict().items():
        np.testing.assert_array_equal(resumed.G.state_dict()[name], value, err_msg=name)
    for name, value in full.D.state_dict().items():
        np.testing.assert_array_equal(resumed.D.state_dict()[name], value, err_msg=name)


def test_nan_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    trainer = train.Trainer(config(tmp_path, epochs=3), tiny_images(), log=quiet)
    trainer.config.epochs = 1
    trainer.train()
    good = (tmp_path / "run" / "checkpoint.npz").read_bytes()
    trainer.config.epochs = 3
    trainer.D.head[-2].weight.data[...] = np.nan  # the final Dense: D's output becomes NaN
    with pytest.raises(train.TrainingDiverged, match=r"epoch 2.*nan.*checkpoint.npz"):
        trainer.train()
    assert (tmp_path / "run" / "checkpoint.npz").read_bytes() == good


def test_bad_configuration_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="schedule must be"):
        train.TrainConfig(schedule="fast")
    with pytest.raises(ValueError, match="unknown recipe 'best'"):
        train.TrainConfig(recipe="best")
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        train.TrainConfig(epochs=0)


def test_minibatch_std_gradcheck_and_value():
    for shape in ((5, 4), (3, 2, 2, 3)):
        x = randn(shape)
        mg.gradcheck(lambda x: gan.MinibatchStd()(x), x)
        y = gan.MinibatchStd()(x).numpy()
        expected = np.sqrt(x.numpy().var(axis=0) + 1e-8).mean()
        np.testing.assert_allclose(y[:, :shape[1]], x.numpy())
        np.testing.assert_allclose(y[:, shape[1]:], expected, rtol=1e-12)


def test_minibatch_discrimination_gradcheck_and_value():
    layer = gan.MinibatchDiscrimination(6, kernels=3, kernel_dim=2)
    layer.weight.data = layer.weight.data.astype(np.float64)
    x = randn((5, 6))
    mg.gradcheck(lambda x, w: layer(x), x, layer.weight)        # d/dx and d/dT, float64
    y, w = layer(x).numpy(), layer.weight.numpy()
    m = (x.numpy() @ w).reshape(5, 3, 2)
    expected = [[sum(np.exp(-np.abs(m[i, b] - m[j, b]).sum()) for j in range(5) if j != i)
                 for b in range(3)] for i in range(5)]
    np.testing.assert_allclose(y[:, :6], x.numpy())
    np.testing.assert_allclose(y[:, 6:], expected, rtol=1e-12)
    # A batch of one sample repeated is as crowded as can be: every closeness is 1.
    same = layer(mg.tensor(np.tile(x.numpy()[:1], (4, 1)), dtype="float64")).numpy()
    np.testing.assert_allclose(same[:, 6:], 3.0)
    layer32 = gan.MinibatchDiscrimination(6, kernels=3)
    assert layer32(mg.tensor(np.ones((4, 6)))).dtype == np.float32  # float32 in, float32 out
    with pytest.raises(ValueError, match="kernels and kernel_dim must be positive"):
        gan.MinibatchDiscrimination(6, kernels=0)


@given(seed=st.integers(0, 2**16), n=st.integers(1, 5), kernels=st.integers(1, 3),
       kernel_dim=st.integers(1, 3))
def test_batch_closeness_gradcheck_over_shapes(seed, n, kernels, kernel_dim):
    m = randn((n, kernels, kernel_dim), seed=seed)
    mg.gradcheck(F.batch_closeness, m)


def test_discriminator_with_minibatch_discrimination():
    def layer(recipe):
        found = [m for m in build.build_discriminator(recipe).head
                 if isinstance(m, gan.MinibatchDiscrimination)]
        return found[0] if found else None
    assert layer("stable").kernels == 16 and layer("original") is None
    assert layer(dataclasses.replace(recipes.RECIPES["stable"], minibatch_kernels=4)).kernels == 4
    D = build.build_discriminator(dataclasses.replace(recipes.RECIPES["stable"], pack=2))
    assert D(mg.tensor(np.zeros((6, 784)))).shape == (3, 1)


def test_pack_puts_consecutive_images_in_the_channels_of_one_input():
    x = np.arange(6 * 784, dtype=np.float64).reshape(6, 784)
    y = gan.Pack(2)(mg.tensor(x)).numpy()
    assert y.shape == (3, 2, 28, 28)
    np.testing.assert_array_equal(y[1, 0], x[2].reshape(28, 28))
    np.testing.assert_array_equal(y[1, 1], x[3].reshape(28, 28))
    mg.gradcheck(lambda t: gan.Pack(3)(t) * gan.Pack(3)(t), randn((3, 784)))
    with pytest.raises(ValueError, match="5 images cannot be packed in groups of 2"):
        gan.Pack(2)(mg.tensor(x[:5]))
    with pytest.raises(ValueError, match="pack must be a positive whole number"):
        gan.Pack(0)


def test_packed_discriminator_gives_one_probability_per_pack():
    r = dataclasses.replace(recipes.RECIPES["stable"], pack=2)
    G, D = build.build_generator(r), build.build_discriminator(r)
    assert D.features[1].in_channels == 2
    opt_d, opt_g = gan.make_optimizers(G, D, r)
    real = mg.tensor(tiny_images(8))
    assert D(real).shape == (4, 1)
    loss, d_real, d_fake = gan.discriminator_step(G, D, opt_d, real, build.rules(r, 0.1))
    assert np.isfinite(float(loss)) and 0 < float(d_real) < 1 and 0 < float(d_fake) < 1
    loss_g, _ = gan.generator_step(G, D, opt_g, real, build.rules(r, 0.1))
    assert np.isfinite(float(loss_g))


def test_a_batch_size_the_pack_does_not_divide_is_refused_before_training(tmp_path):
    packed = dataclasses.replace(recipes.RECIPES["stable"], pack=2)
    with pytest.raises(ValueError, match="batch size 7 is not a multiple of the recipe's pack"):
        train.Trainer(config(tmp_path, batch_size=7), tiny_images(), log=quiet, recipe=packed)


def test_feature_matching_pulls_fake_features_towards_real():
    r = recipes.Recipe("fm", feature_matching=1.0)
    strong = dataclasses.replace(r, feature_matching=100.0)
    G, D = build.build_generator(r), build.build_discriminator(r)
    D.eval()  # no dropout: the features are a deterministic function of the images
    _, opt_g = gan.make_optimizers(G, D, r)
    real = mg.tensor(tiny_images(16))
    mg.manual_seed(1)

    def gap():
        with mg.no_grad():
            z = gan.sample_noise(16)
            f_fake = D.features(G(z)).numpy().mean(axis=0)
            f_real = D.features(real).numpy().mean(axis=0)
        return float(((f_fake - f_real) ** 2).mean())
    before = gap()
    for _ in range(5):
        gan.generator_step(G, D, opt_g, real, build.rules(strong))
    assert gap() < before


def test_resume_a_variant_recipe(tmp_path):
    """A run of a recipe variant (here without the minibatch-std channel, so D has another
    shape) resumes with that variant, not with the named recipe's defaults."""
    variant = dataclasses.replace(recipes.RECIPES["stable"], minibatch_std=False)
    first = train.Trainer(config(tmp_path), tiny_images(), log=quiet, recipe=variant)
    first.train()
    resumed = train.resume(tmp_path / "run" / "checkpoint.npz", tiny_images(), epochs=2,
                           log=quiet)
    assert resumed.recipe == variant and resumed.D.head[-2].in_features == 28 * 28 * 64 + 16
    resumed.train()
    assert resumed.epoch == 2


def test_the_tricks_are_every_field_the_stable_recipe_changes():
    """An ablation removes each trick: a new change to the default recipe must be listed in
    recipes.TRICKS, or no ablation would ever take it out (the averaged generator,
    recipes.KEPT_GENERATOR, changes no training: every run scores the trained G beside it)."""
    from minigan.recipes import KEPT_GENERATOR, TRICKS, without
    seed, stable = recipes.RECIPES["original"], recipes.RECIPES["stable"]
    changed = {f.name for f in dataclasses.fields(stable)
               if f.name not in ("name", *KEPT_GENERATOR)
               and getattr(stable, f.name) != getattr(seed, f.name)}
    listed = [field for fields in TRICKS.values() for field in fields]
    assert sorted(listed) == sorted(changed)
    for trick in TRICKS:     # each removal is a valid recipe with exactly its fields at the seed's
        variant = dataclasses.replace(stable, **without(trick))
        assert {f for f in changed if getattr(variant, f) == getattr(seed, f)} == \
            set(TRICKS[trick])
    with pytest.raises(ValueError, match="unknown trick 'dropout'"):
        without("dropout")


def test_a_trainer_keeps_its_device_and_random_stream_to_itself(tmp_path):
    """Making and training a Trainer leaves the caller's random stream where it was, and the
    caller's stream does not reach the run: the same config trains the same weights after any
    manual_seed."""
    from minigan import backend
    weights = []
    for caller_seed in (11, 12):
        mg.manual_seed(caller_seed)
        expected = backend.rng("cpu").standard_normal(3)
        mg.manual_seed(caller_seed)
        trainer = train.Trainer(config(tmp_path / str(caller_seed), recipe="original"),
                                tiny_images(), log=quiet)
        trainer.train()
        np.testing.assert_array_equal(backend.rng("cpu").standard_normal(3), expected)
        assert backend.get_device() == "cpu"
        weights.append(trainer.G.state_dict())
    for name, value in weights[0].items():
        np.testing.assert_array_equal(weights[1][name], value, err_msg=name)
