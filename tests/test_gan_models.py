"""The models beyond the seed: the DCGAN generator and discriminator, the conditional generator
and projection discriminator, and what the trainer, sampling and evaluation do with them."""
import dataclasses
import json
import runpy
from pathlib import Path

import numpy as np
import pytest

import minigan as mg
from conftest import quiet, randn, tiny_images
from minigan import autograd, batch, build, conditional, gan, metrics, nn, sampling, train
from minigan.config import ORIGINAL_SCHEDULE
from minigan.gradcheck import gradcheck
from minigan.recipes import Recipe, RECIPES

ROOT = Path(__file__).resolve().parents[1]
DCGAN_COND = dataclasses.replace(RECIPES["dcgan"], conditional=True)
DCGAN_AC = dataclasses.replace(DCGAN_COND, classifier=1.0)   # with the auxiliary classifier


def recipe(model="mlp", discriminator="original", conditional=False, base="stable"):
    return dataclasses.replace(RECIPES[base], model=model, discriminator=discriminator,
                               conditional=conditional)


def tiny_labels(n=48, seed=1):
    return np.random.default_rng(seed).integers(0, 10, n).astype(np.uint8)


def config(tmp_path, **overrides):
    settings = dict(epochs=1, batch_size=8, out=str(tmp_path / "run"), log_every=2, seed=3,
                    recipe="dcgan")
    settings.update(overrides)
    return train.TrainConfig(**settings)


# Recipes
def test_recipe_fields_for_the_models_are_checked():
    with pytest.raises(ValueError, match=r"model must be one of \('mlp', 'dcgan'\)"):
        Recipe("x", model="resnet")
    with pytest.raises(ValueError, match="discriminator must be one of"):
        Recipe("x", discriminator="patch")
    with pytest.raises(ValueError, match="conditional must be True or False"):
        Recipe("x", conditional=1)
    with pytest.raises(ValueError, match="conditional recipe judges one image per label: pack"):
        Recipe("x", conditional=True, pack=2)
    dcgan = RECIPES["dcgan"]
    assert (dcgan.model, dcgan.conditional) == ("dcgan", False)
    # the DCGAN recipe trains as the stable one does: only the models differ
    assert dataclasses.replace(dcgan, name="stable", model="mlp",
                               discriminator="original") == RECIPES["stable"]


def test_a_recipe_json_from_before_the_models_reads_as_the_mlp(tmp_path):
    fields = dataclasses.asdict(RECIPES["stable"])
    for name in ("model", "discriminator", "conditional"):
        del fields[name]
    (tmp_path / "recipe.json").write_text(json.dumps(fields))
    assert sampling.read_recipe(tmp_path / "recipe.json") == RECIPES["stable"]


# The models
@pytest.mark.parametrize("model", ["mlp", "dcgan"])
@pytest.mark.parametrize("told", [False, True])
def test_each_generator_draws_flat_images_in_range(model, told):
    mg.manual_seed(0)
    G = build.build_generator(recipe(model, conditional=told))
    assert isinstance(G, conditional.ConditionalGenerator) == told
    z = gan.sample_noise(5)
    labels = np.array([0, 3, 3, 9, 5]) if told else None
    images = conditional.draw(G, z, labels).numpy()
    assert images.shape == (5, 784) and images.dtype == np.float32
    assert np.abs(images).max() <= 1


def test_the_conditional_generator_reads_the_label_through_its_embedding():
    mg.manual_seed(0)
    G = build.build_generator(recipe("dcgan", conditional=True)).eval()
    z = gan.sample_noise(2)
    same_noise = mg.tensor(np.repeat(z.numpy()[:1], 2, axis=0))
    # Two rows of one batch may run through different kernel paths of a GEMM (OpenBLAS's edge
    # and full tiles round otherwise on some CPUs): equal within float32 rounding carried
    # through the layers (sqrt(K) * 2^-24 per product, K <= 128: ~1e-6), while another
    # label moves the image by more than 1e-3.
    twins = G(same_noise, np.array([4, 4])).numpy()
    np.testing.assert_allclose(twins[0], twins[1], rtol=0, atol=1e-5)
    apart = G(same_noise, np.array([4, 7])).numpy()
    assert np.abs(apart[0] - apart[1]).max() > 1e-3
    # the body sees [z, E[y]]: 110 inputs
    assert G.body[0].in_features == gan.NOISE_DIM + conditional.LABEL_DIM
    with pytest.raises(TypeError, match="indices must be integers"):
        G(z, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 10\)"):
        G(z, np.array([0, 10]))


def test_the_conditional_generator_gradcheck_reaches_the_embedding():
    mg.manual_seed(0)
    body = nn.Sequential(nn.Dense(6, 5), nn.Tanh())
    G = conditional.ConditionalGenerator(body, digits=4, label_dim=2)
    for p in G.parameters():
        p.data = p.data.astype(np.float64)
    z = randn((7, 4), seed=1)
    labels = np.array([0, 1, 1, 3, 0, 2, 1])               # repeated labels add up in dE
    gradcheck(lambda z, E: body(autograd.concatenate([z, E[labels]], axis=1)), z,
              G.embed.weight)
    gradcheck(lambda z: G(z, labels), z)


def test_the_dcgan_discriminator_halves_the_side_twice():
    mg.manual_seed(0)
    D = build.build_discriminator(recipe(discriminator="dcgan"))
    x = mg.tensor(tiny_images(6))
    features = D.features(x)
    assert features.shape == (6, 128 + 1, 7, 7)             # 128 maps and the std channel
    assert D(x).shape == (6, 1)
    convs = [m for m in D.features if isinstance(m, nn.Conv2D)]
    assert [(c.kernel_size, c.stride, c.padding) for c in convs] == [((4, 4), 2, 1)] * 2
    assert sum(isinstance(m, nn.BatchNorm2d) for m in D.features) == 1


@pytest.mark.parametrize("discriminator", ["original", "dcgan"])
def test_the_projection_head_adds_the_label_vector_dot_the_features(discriminator):
    """P(real | y) = sigmoid(psi(h) + E[y] . h): recomputed here in NumPy from psi's output."""
    mg.manual_seed(0)
    D = build.build_discriminator(recipe(discriminator=discriminator, conditional=True))
    D.eval()                                                # no dropout: comparable outputs
    x = mg.tensor(tiny_images(4))
    labels = np.array([2, 2, 5, 0])
    np.testing.assert_array_equal(D(x, labels).numpy(), D.head.judge(D.features(x)).sigmoid()
                                  .numpy())                 # E starts at zero
    E = np.random.default_rng(0).normal(0, 1e-3, D.head.projection.weight.shape)
    D.head.projection.weight.data[...] = E
    h = D.features(x).numpy().reshape(4, -1).astype(np.float64)
    logit = D.head.judge(D.features(x)).numpy()[:, 0] + (E[labels] * h).sum(axis=1)
    np.testing.assert_allclose(D(x, labels).numpy()[:, 0], 1 / (1 + np.exp(-logit)), rtol=1e-4)
    with pytest.raises(ValueError, match="conditional discriminator judges .images, labels."):
        D(x)


def test_projection_head_gradcheck():
    mg.manual_seed(0)
    judge = nn.Sequential(nn.Flatten(), nn.Dense(12, 1))
    head = conditional.ProjectionHead(judge, 12, digits=3)
    for p in head.parameters():
        p.data = p.data.astype(np.float64)
    head.projection.weight.data[...] = np.random.default_rng(2).normal(size=(3, 12))
    features = randn((5, 3, 2, 2), seed=3)
    labels = np.array([0, 2, 2, 1, 0])
    gradcheck(lambda f, E, w: head(f, labels), features, head.projection.weight,
              judge[1].weight)


# The steps
def test_the_steps_refuse_a_conditional_gan_without_its_labels():
    mg.manual_seed(0)
    cond = recipe(conditional=True)
    G, D = build.build_generator(cond), build.build_discriminator(cond)
    opt_d, opt_g = gan.make_optimizers(G, D, cond)
    real = tiny_images(4)
    with pytest.raises(ValueError, match="a conditional discriminator judges .*give the labels"):
        gan.discriminator_step(G, D, opt_d, real, build.rules(cond))
    with pytest.raises(ValueError, match="a conditional generator draws .*give the labels"):
        gan.generator_step(G, D, opt_g, real, build.rules(cond))
    Gy, Dy = conditional.given(G, D, np.arange(4))          # bound: the same steps train them
    assert np.isfinite(float(gan.discriminator_step(Gy, Dy, opt_d, real, build.rules(cond))[0]))


def test_conditional_steps_train_the_label_tables():
    """D's step moves its projection rows of the batch's digits only; G's step moves G's label
    embedding and leaves D (projection included) untouched."""
    mg.manual_seed(0)
    cond = recipe("dcgan", "dcgan", conditional=True)
    G, D = build.build_generator(cond), build.build_discriminator(cond)
    opt_d, opt_g = gan.make_optimizers(G, D, cond)
    real, labels = tiny_images(8), np.array([1, 1, 2, 2, 3, 3, 1, 2])
    Gy, Dy = conditional.given(G, D, labels)
    gan.discriminator_step(Gy, Dy, opt_d, real, build.rules(cond, 0.1))
    moved = np.abs(D.head.projection.weight.numpy()).sum(axis=1) > 0
    assert moved.tolist() == [d in (1, 2, 3) for d in range(10)]
    before_d = {k: v.copy() for k, v in D.state_dict().items() if "running" not in k
                and "num_batches" not in k}
    before_embed = G.embed.weight.numpy().copy()
    gan.generator_step(Gy, Dy, opt_g, real, build.rules(cond, 0.1))
    for name, value in before_d.items():
        np.testing.assert_array_equal(D.state_dict()[name], value, err_msg=name)
    assert np.abs(G.embed.weight.numpy() - before_embed).max() > 0


# The trainer
def test_a_conditional_dcgan_run_writes_grids_with_a_row_per_digit(tmp_path):
    from PIL import Image
    trainer = train.Trainer(config(tmp_path), tiny_images(), labels=tiny_labels(), log=quiet,
                            recipe=DCGAN_COND)
    trainer.train()
    run = tmp_path / "run"
    side = (10 * (28 + 2) + 2) * 3                           # 10 x 10 digits, padding, scale 3
    for name in ("samples_epoch001.png", "final_grid.png"):
        assert Image.open(run / name).size == (side, side)
    assert trainer.fixed_labels.reshape(10, 10).tolist() == [[d] * 10 for d in range(10)]
    G = sampling.load_generator(run)               # the recipe's averaged generator
    assert sampling.is_conditional(G) and not G.training
    for name, value in trainer.sampled.state_dict().items():
        np.testing.assert_array_equal(G.state_dict()[name], value, err_msg=name)
    trained = sampling.load_generator(run, which="raw")
    for name, value in trainer.G.state_dict().items():
        np.testing.assert_array_equal(trained.state_dict()[name], value, err_msg=name)


def test_a_conditional_run_needs_its_labels(tmp_path):
    with pytest.raises(ValueError, match="recipe dcgan is conditional: give the training labels"):
        train.Trainer(config(tmp_path), tiny_images(), log=quiet, recipe=DCGAN_COND)
    with pytest.raises(ValueError, match=r"labels must be an integer NumPy array \(48,\)"):
        train.Trainer(config(tmp_path), tiny_images(), labels=tiny_labels(47), log=quiet,
                      recipe=DCGAN_COND)
    with pytest.raises(ValueError, match="labels must be digits 0-9"):
        train.Trainer(config(tmp_path), tiny_images(), labels=tiny_labels() + 5, log=quiet,
                      recipe=DCGAN_COND)


@pytest.mark.parametrize("schedule", ["standard", "original"])
def test_a_resumed_conditional_dcgan_run_matches_an_uninterrupted_one(tmp_path, schedule,
                                                                      monkeypatch):
    monkeypatch.setitem(ORIGINAL_SCHEDULE, "iterations", 3)
    images, labels = tiny_images(), tiny_labels()
    runs = {}
    for name, epochs in (("full", 2), ("first", 1)):
        runs[name] = train.Trainer(config(tmp_path / name, epochs=epochs, schedule=schedule),
                                   images, labels=labels, log=quiet, recipe=DCGAN_AC)
        runs[name].train()
    resumed = train.resume(tmp_path / "first" / "run" / "checkpoint.npz", images,
                           labels=labels, epochs=2, log=quiet)
    assert resumed.recipe == DCGAN_AC
    resumed.train()
    for net in ("G", "D"):
        full = getattr(runs["full"], net).state_dict()
        for name, value in full.items():
            np.testing.assert_array_equal(getattr(resumed, net).state_dict()[name], value,
                                          err_msg=f"{net}.{name}")


def test_scores_of_a_conditional_run_include_the_label_accuracy(tmp_path, monkeypatch):
    """The trainer's score asks for each digit in turn and records how often the classifier
    reads the digit asked for; the classifier is replaced by one that reads every image as 3."""
    asked = []

    def fake_evaluate(images, real, model=None, labels=None):
        asked.append(labels)
        probs = np.zeros((len(images), 10))
        probs[:, 3] = 1
        return {"fid": 1.0, **metrics.coverage(probs), "n": len(images),
                **metrics.label_accuracy(probs, labels)}

    monkeypatch.setattr(metrics, "evaluate_images", fake_evaluate)
    trainer = train.Trainer(config(tmp_path, eval_every=1, eval_samples=20), tiny_images(),
                            labels=tiny_labels(), log=quiet, recipe=DCGAN_COND,
                            eval_images=tiny_images(20))
    row = trainer.train()
    assert asked[0].tolist() == [d % 10 for d in range(20)]
    assert row["label_accuracy"] == 0.1


def test_label_accuracy_per_digit_and_overall():
    probs = np.eye(10)[[0, 0, 1, 7, 2, 2]]                  # what the classifier reads
    result = metrics.label_accuracy(probs, [0, 1, 1, 7, 2, 2])
    assert result["label_accuracy"] == pytest.approx(5 / 6)
    assert result["label_accuracy_per_digit"] == [1.0, 0.5, 1.0, None, None, None, None, 1.0,
                                                  None, None]


# Sampling and the command lines
@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cond")
    train.Trainer(config(out), tiny_images(), labels=tiny_labels(), log=quiet,
                  recipe=DCGAN_COND).train()
    return out / "run"


def test_sample_draws_the_digit_asked_for(conditional_run, tmp_path, monkeypatch):
    sample = runpy.run_path(str(ROOT / "examples" / "sample.py"))["main"]
    G = sampling.load_generator(conditional_run)
    sevens = sampling.digit_labels(5, 7)
    np.testing.assert_array_equal(sampling.generate(G, 5, seed=2, labels=np.full(5, 7)),
                                  sampling.generate(G, 5, seed=2, labels=sevens))
    assert sample([str(conditional_run), "--digit", "7", "--n", "5", "--seed", "2", "--out",
                   str(tmp_path / "sevens.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "sevens.npy"),
                                  sampling.generate(G, 5, seed=2, labels=np.full(5, 7)))
    assert sample([str(conditional_run), "--n", "20", "--out", str(tmp_path / "g.png")]) == 0
    with pytest.raises(ValueError, match="this generator is unconditional"):
        sampling.generate(build.build_generator("stable"), 3, labels=np.zeros(3, int))
    with pytest.raises(ValueError, match="digit must be a whole number from 0 to 9"):
        sampling.digit_labels(3, 10)


def test_sample_digit_on_an_unconditional_run_is_one_clear_error(tmp_path, capsys):
    from test_bad_files import one_error_line, save_run
    sample = runpy.run_path(str(ROOT / "examples" / "sample.py"))["main"]
    run = save_run(tmp_path / "run")
    assert sample([str(run), "--digit", "3", "--out", str(tmp_path / "x.png")]) == 1
    assert "--digit needs a conditional run" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "x.png").exists()


def test_evaluate_reports_label_accuracy_for_a_conditional_run(conditional_run, capsys):
    from test_examples import skip_without_mnist
    skip_without_mnist()
    from minigan import evaluate
    assert evaluate.main([str(conditional_run), "--n", "500"]) == 0
    printed = capsys.readouterr().out
    assert "label accuracy (conditional: samples read as the digit asked for)" in printed
    result = evaluate.evaluate(str(conditional_run), n=500)
    assert len(result["label_accuracy_per_digit"]) == 10
    assert 0 <= result["label_accuracy"] <= 1


def test_mnist_gan_trains_a_conditional_dcgan_and_guards_its_resume(tmp_path, capsys):
    from test_examples import skip_without_mnist
    skip_without_mnist()
    main = runpy.run_path(str(ROOT / "examples" / "mnist_gan.py"))["main"]
    out = tmp_path / "run"
    assert main(["--model", "dcgan", "--conditional", "--discriminator", "dcgan", "--limit",
                 "64", "--epochs", "1", "--out", str(out), "--log-every", "4"]) == 0
    saved = json.loads((out / "recipe.json").read_text())
    assert (saved["name"], saved["model"], saved["discriminator"], saved["conditional"],
            saved["classifier"]) == ("dcgan", "dcgan", "dcgan", True, 1.0)
    checkpoint = str(out / "checkpoint.npz")
    capsys.readouterr()
    assert main(["--resume", checkpoint, "--classifier", "0", "--limit", "64", "--epochs",
                 "2"]) == 1
    assert "--classifier 0.0 conflicts with" in capsys.readouterr().err
    assert main(["--classifier", "0.5", "--limit", "64", "--out", str(tmp_path / "x")]) == 1
    assert "--classifier reads the digit a conditional GAN was asked for: add --conditional" \
        in capsys.readouterr().err
    assert main(["--resume", checkpoint, "--model", "mlp", "--limit", "64", "--epochs", "2"]) == 1
    assert "--model mlp conflicts with" in capsys.readouterr().err
    assert main(["--resume", checkpoint, "--discriminator", "seed", "--limit", "64",
                 "--epochs", "2"]) == 1
    assert "--discriminator original conflicts with" in capsys.readouterr().err   # old name read
    assert main(["--resume", checkpoint, "--limit", "64", "--epochs", "2", "--conditional"]) == 0
    plain = tmp_path / "plain"
    assert main(["--limit", "64", "--epochs", "1", "--out", str(plain)]) == 0
    capsys.readouterr()
    assert main(["--resume", str(plain / "checkpoint.npz"), "--conditional", "--limit", "64",
                 "--epochs", "2"]) == 1
    assert "--conditional conflicts with" in capsys.readouterr().err


# Embedding's backward: rows picked twice get both gradients
def test_row_scatter_add_matches_add_at():
    rng = np.random.default_rng(0)
    for index in (np.array([3, 1, 3, 3, 0]), np.array([-1, 4, 2, -5]), rng.integers(0, 6, 40)):
        gy = rng.normal(size=(len(index), 7))
        x = mg.tensor(rng.normal(size=(5 if index.min() < 0 else 6, 7)), dtype="float64",
                      requires_grad=True)
        x[index].backward(gy)
        expected = np.zeros(x.shape)
        np.add.at(expected, index, gy)
        np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)


def test_class_means_average_the_rows_of_each_digit_present():
    labels = np.array([3, 1, 3, 3, 7])
    means = batch.class_means(labels, 5, np.float64, "cpu").numpy()
    rows = np.arange(10.0).reshape(5, 2)
    np.testing.assert_allclose(means @ rows, [rows[[1]].mean(0), rows[[0, 2, 3]].mean(0),
                                              rows[[4]].mean(0)])


def test_conditional_feature_matching_compares_each_digit_with_its_own(tmp_path):
    """The G step's loss = -mean log D(G(z, y) | y) + w * mean over digits and features of
    (fake mean - real mean)**2, the means per digit of the batch, recomputed here in NumPy."""
    mg.manual_seed(0)
    cond = dataclasses.replace(recipe(conditional=True), instance_noise=0.0)
    G, D = build.build_generator(cond), build.build_discriminator(cond)
    _, opt_g = gan.make_optimizers(G, D, cond)
    D.eval()                                                # no dropout: a deterministic D
    real, labels = tiny_images(8), np.array([0, 0, 1, 1, 1, 2, 2, 7])
    mg.manual_seed(5)
    z = gan.sample_noise(8)
    with mg.no_grad():
        fake_features = D.features(G(z, labels))
        p = D.head(fake_features, labels).numpy().astype(np.float64)
        fake_f = fake_features.numpy().reshape(8, -1).astype(np.float64)
        real_f = D.features(mg.tensor(real)).numpy().reshape(8, -1).astype(np.float64)
    per_digit = np.stack([fake_f[labels == d].mean(0) - real_f[labels == d].mean(0)
                          for d in (0, 1, 2, 7)])
    overall = fake_f.mean(0) - real_f.mean(0)
    adversarial = -np.log(p).mean()
    mg.manual_seed(5)                                       # the step draws the same z
    loss = float(gan.generator_step(*conditional.given(G, D, labels), opt_g, real,
                                    build.rules(cond))[0])
    expected = adversarial + cond.feature_matching * (per_digit ** 2).mean()
    assert loss == pytest.approx(expected, rel=1e-4)
    assert abs(loss - (adversarial + cond.feature_matching * (overall ** 2).mean())) > 1e-2 * loss


# The auxiliary classifier (AC-GAN)
def test_the_auxiliary_classifier_belongs_to_conditional_recipes():
    with pytest.raises(ValueError, match="set conditional=True or classifier=0"):
        Recipe("x", classifier=1.0)
    with pytest.raises(ValueError, match="classifier must be a finite number >= 0"):
        Recipe("x", conditional=True, classifier=-1.0)
    assert build.build_discriminator(DCGAN_COND).classifier is None
    mg.manual_seed(0)
    D = build.build_discriminator(DCGAN_AC)
    assert D.classifier[1].weight.shape == (10, 28 * 28 * 65)   # 64 maps and the std channel
    # the classifier is built last: D's other weights are those of the recipe without it
    mg.manual_seed(0)
    plain = build.build_discriminator(DCGAN_COND).state_dict()
    for name, value in plain.items():
        np.testing.assert_array_equal(D.state_dict()[name], value, err_msg=name)


def softmax_cross_entropy(logits, labels):
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(labels)), labels].mean()


def test_the_discriminator_step_learns_digits_from_real_images_only():
    """D's loss on a real batch = BCE(D(x | y), real_label) + w * CE(classifier(h), y),
    recomputed in NumPy; a step on fakes alone leaves the classifier where it was."""
    mg.manual_seed(0)
    ac = dataclasses.replace(DCGAN_AC, classifier=0.5)
    G, D = build.build_generator(ac), build.build_discriminator(ac)
    opt_d, _ = gan.make_optimizers(G, D, ac)
    D.eval()                                                # no dropout: a deterministic D
    real, labels = tiny_images(6), np.array([3, 3, 0, 9, 1, 3])
    with mg.no_grad():
        features = D.features(mg.tensor(real))
        p = D.head(features, labels).numpy().astype(np.float64)[:, 0]
        logits = D.classifier(features).numpy()
    t = ac.real_label
    expected = -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean() + \
        0.5 * softmax_cross_entropy(logits, labels)
    Gy, Dy = conditional.given(G, D, labels)
    loss, _ = gan.real_loss(Dy, mg.tensor(real), build.rules(ac))
    gan.adam_step(opt_d, loss)
    assert float(loss.data) == pytest.approx(expected, rel=1e-5)
    before = D.classifier[1].weight.numpy().copy()
    gan.adam_step(opt_d, gan.fake_loss(Gy, Dy, 6, build.rules(ac))[0])
    np.testing.assert_array_equal(D.classifier[1].weight.numpy(), before)


def test_the_generator_step_pulls_fakes_towards_reading_as_their_digit():
    """G's loss gains w * CE(classifier(h(G(z, y))), y), recomputed in NumPy; D stays as it was
    and the gradient reaches G's label embedding."""
    mg.manual_seed(0)
    ac = dataclasses.replace(DCGAN_AC, instance_noise=0.0, feature_matching=0.0,
                             classifier=2.0)
    G, D = build.build_generator(ac), build.build_discriminator(ac)
    _, opt_g = gan.make_optimizers(G, D, ac)
    D.eval()
    real, labels = tiny_images(5), np.array([4, 4, 8, 2, 0])
    mg.manual_seed(5)
    z = gan.sample_noise(5)
    with mg.no_grad():
        features = D.features(G(z, labels))
        p = D.head(features, labels).numpy().astype(np.float64)
        logits = D.classifier(features).numpy()
    before_d = {k: v.copy() for k, v in D.state_dict().items()}
    before_embed = G.embed.weight.numpy().copy()
    mg.manual_seed(5)                                       # the step draws the same z
    loss = float(gan.generator_step(*conditional.given(G, D, labels), opt_g, real,
                                    build.rules(ac))[0])
    expected = -np.log(p).mean() + 2.0 * softmax_cross_entropy(logits, labels)
    assert loss == pytest.approx(expected, rel=1e-5)
    assert abs(loss - (-np.log(p).mean())) > 0.1           # the classifier's term is there
    for name, value in before_d.items():
        np.testing.assert_array_equal(D.state_dict()[name], value, err_msg=name)
    assert np.abs(G.embed.weight.numpy()[[0, 2, 4, 8]] - before_embed[[0, 2, 4, 8]]).min() > 0
