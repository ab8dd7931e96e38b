"""minigan.metrics (FID, coverage), the digit classifier (minigan.digits) and its shipped
weights, `python -m minigan.evaluate`, and the trainer's --eval-every scores."""
import json
import os

import numpy as np
import pytest

from minigan import build, data, digits, metrics, train


def test_frechet_distance_of_diagonal_gaussians_has_a_closed_form():
    rng = np.random.default_rng(0)
    a, b, m = rng.uniform(0.1, 2, 5), rng.uniform(0.1, 2, 5), rng.standard_normal(5)
    got = metrics.frechet_distance(np.zeros(5), np.diag(a), m, np.diag(b))
    assert got == pytest.approx(m @ m + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum(), rel=1e-10)


def test_frechet_distance_matches_the_general_formula():
    """Against Tr(S1 + S2 - 2 (S1 S2)^(1/2)) with the square root from the eigen-decomposition
    of the (non-symmetric) product, on full covariances."""
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((2, 6, 6))
    S1, S2 = A @ A.T + 0.1 * np.eye(6), B @ B.T + 0.1 * np.eye(6)
    mu1, mu2 = rng.standard_normal((2, 6))
    values = np.linalg.eigvals(S1 @ S2)  # real and positive for a product of SPD matrices
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(S1 + S2) - 2 * np.sqrt(values.real).sum()
    assert metrics.frechet_distance(mu1, S1, mu2, S2) == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("size", [1, 2, 8, 64])
def test_matrix_square_root_matches_scipy_sqrtm_on_random_spd_matrices(size):
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(size)
    A = rng.standard_normal((size, size))
    S = A @ A.T + 1e-3 * np.eye(size)
    root = metrics._sqrt_psd(S)
    np.testing.assert_allclose(root, np.real(linalg.sqrtm(S)), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(root @ root, S, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(root, root.T, rtol=0, atol=1e-13 * np.abs(root).max())


def test_fid_is_zero_for_the_same_features_symmetric_and_sees_a_shift():
    f = np.random.default_rng(2).standard_normal((500, 8))
    g = np.random.default_rng(3).standard_normal((500, 8)) * 1.5
    assert abs(metrics.fid(f, f)) < 1e-9
    assert metrics.fid(f, g) == pytest.approx(metrics.fid(g, f), rel=1e-9)
    shift = np.arange(8.0)
    assert metrics.fid(f, f + shift) == pytest.approx(shift @ shift, rel=1e-9)


def test_fid_stays_finite_for_rank_deficient_covariances():
    f = np.random.default_rng(4).standard_normal((5, 64))  # 5 samples, 64 features: rank 4
    g = np.zeros((5, 64))
    value = metrics.fid(f, g)
    assert np.isfinite(value) and value > 0
    with pytest.raises(ValueError, match="N >= 2"):
        metrics.fid(f[:1], g)


def test_coverage_counts_digits_and_measures_evenness():
    one_digit = np.tile(np.eye(10)[3], (100, 1))
    c = metrics.coverage(one_digit)
    assert c["digits_covered"] == 1 and c["kl_to_uniform"] == pytest.approx(np.log(10))
    assert c["confidence"] == 1.0 and c["shares"][3] == 1.0
    even = np.eye(10)[np.arange(1000) % 10] * 0.5 + 0.05
    c = metrics.coverage(even)
    assert c["digits_covered"] == 10 and c["kl_to_uniform"] == pytest.approx(0, abs=1e-12)
    assert c["confidence"] == pytest.approx(0.55)


def test_classifier_shapes_save_and_load(tmp_path):
    model = digits.build()
    x = np.random.default_rng(0).uniform(-1, 1, (3, 784)).astype(np.float32)
    features, probs = digits.run(model, x)
    assert features.shape == (3, digits.FEATURES) and probs.shape == (3, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    digits.save(model, tmp_path / "w.npz")
    again = digits.run(digits.load(tmp_path / "w.npz"), x)[1]
    np.testing.assert_allclose(again, probs, atol=2e-3)  # float16 weights
    with pytest.raises(FileNotFoundError, match="train_classifier"):
        digits.load(tmp_path / "missing.npz")


def test_shift_augmentation_moves_pixels_and_fills_background():
    img = -np.ones((1, 784), np.float32)
    img[0, 14 * 28 + 14] = 1.0
    out = digits.shifted(img, np.random.default_rng(0), max_shift=2).reshape(28, 28)
    (y,), (x,) = np.nonzero(out == 1.0)
    assert abs(y - 14) <= 2 and abs(x - 14) <= 2 and (out == -1).sum() == 783


needs_mnist = pytest.mark.skipif(not os.environ.get("MINIGAN_DATA_DIR"),
                                 reason="MINIGAN_DATA_DIR not set (the real MNIST files)")


@needs_mnist
def test_the_shipped_classifier_keeps_its_published_scores(monkeypatch):
    """The README's numbers: 99.15% test accuracy (85 of 10,000 wrong), FID floor 16.320. The
    count is exact on any CPU because no test image lies near a tie: its two likeliest digits
    are more than 1e-3 apart in probability (the closest, 0.0068), while float32 rounding
    through the network moves a probability by about 1e-6. The floor is a sum over thousands of
    float32 features: OpenBLAS's SkylakeX and Haswell kernels give 16.3197449 and 16.3197430."""
    images, labels = data.load_mnist("test")
    outputs, run = [], digits.run
    monkeypatch.setattr(digits, "run", lambda *args: outputs.append(run(*args)) or outputs[-1])
    report = metrics.classifier_report(images, labels)
    top_two = np.sort(outputs[0][1], axis=1)[:, -2:]
    assert (top_two[:, 1] - top_two[:, 0]).min() > 1e-3
    assert round(report["classifier_test_accuracy"] * len(labels)) == 9915
    assert report["fid_floor_real_vs_real"] == pytest.approx(16.320, abs=5e-4)


@needs_mnist
def test_real_versus_real_fid_is_small_and_a_collapsed_set_is_far():
    images, labels = data.load_mnist("test")
    floor = metrics.classifier_report(images[:2000], labels[:2000])["fid_floor_real_vs_real"]
    ones = images[labels == 1][:1000]
    collapsed = metrics.evaluate_images(ones, images[:1000])
    assert floor < collapsed["fid"] / 10
    assert collapsed["digits_covered"] == 1
    real = metrics.evaluate_images(images[5000:7000], images[:2000])  # the test set itself
    assert real["digits_covered"] == 10 and real["kl_to_uniform"] < 0.01
    assert real["fid"] < collapsed["fid"] / 10


@needs_mnist
def test_the_floor_is_random_training_images_scored_as_a_generator_is():
    """Random training images against test[:N] score well below the test set's second half
    against the same test[:N] (writer shift: NIST's cleaner first 5,000 test digits against its
    harder last 5,000), the floor is the same for the same seed, and its draws differ."""
    train_images, _ = data.load_mnist("train")
    test_images, _ = data.load_mnist("test")
    n = 2000
    floor = metrics.training_floor(train_images, test_images[:n], draws=3, seed=1)
    shift = metrics.evaluate_images(test_images[5000:5000 + n], test_images[:n])["fid"]
    assert floor["fid_floor_max"] < shift / 1.5
    assert floor["fid_floor_min"] < floor["fid_floor"] < floor["fid_floor_max"]
    assert floor["n_floor_train"] == n and floor["fid_floor_draws"] == 3
    assert metrics.training_floor(train_images, test_images[:n], draws=3, seed=1) == floor
    with pytest.raises(ValueError, match="draws >= 1"):
        metrics.training_floor(train_images, test_images[:n], draws=0)


def test_isolated_pixels_counts_lit_pixels_without_a_lit_neighbour():
    images = -np.ones((3, 28, 28), np.float32)
    images[0, 5:9, 5] = 1.0                  # a stroke: every lit pixel has a lit neighbour
    images[1, 10, 10] = 0.0                  # one stray pixel, and one 3 pixels from a stroke
    images[1, 20, 3:7] = 1.0
    images[1, 20, 10] = -0.5
    images[2, 0, 0] = images[2, 27, 27] = -0.59   # lit at the corners, where the window wraps
    images[2, 14, 14] = -0.61                     # not lit
    result = metrics.isolated_pixels(images)
    assert result["isolated_pixels"] == pytest.approx(4 / 3)
    assert result["images_with_isolated"] == pytest.approx(2 / 3)
    assert metrics.isolated_pixels(images[:1])["isolated_pixels"] == 0


@needs_mnist
def test_mnist_digits_have_fewer_than_one_stray_pixel_in_a_hundred_images():
    """The rate the docs compare generators with (0.008 per image): a pen rarely leaves one."""
    images, _ = data.load_mnist("test")
    result = metrics.isolated_pixels(images)
    assert 0 < result["isolated_pixels"] < 0.01 and result["images_with_isolated"] < 0.01


@needs_mnist
def test_evaluate_cli_scores_a_generator(tmp_path, capsys):
    from minigan import evaluate
    G = build.build_generator("original")
    np.savez(tmp_path / "generator.npz", **G.state_dict())
    (tmp_path / "recipe.json").write_text(json.dumps(
        {"name": "seed", "generator": "seed", "minibatch_std": False}))
    assert evaluate.main([str(tmp_path), "--n", "200", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 200 and result["fid"] > result["fid_floor_real_vs_real"]
    assert result["n_floor_train"] == 200 and result["fid"] > result["fid_floor_max"]
    assert evaluate.main([str(tmp_path), "--n", "200"]) == 0
    assert "above the floor" in capsys.readouterr().out
    assert evaluate.main([str(tmp_path), "--n", "200", "--floor-draws", "0", "--json"]) == 0
    assert "fid_floor" not in json.loads(capsys.readouterr().out)
    assert evaluate.main([str(tmp_path / "nothing")]) == 1
    assert "no generator weights" in capsys.readouterr().err


@needs_mnist
def test_evaluate_cli_prints_the_classifiers_accuracy_and_floor(capsys):
    from minigan import evaluate
    assert evaluate.main(["--classifier", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["classifier_test_accuracy"] >= 0.99 and result["n_floor"] == 5000
    assert 0 < result["fid_floor_real_vs_real"] < 50
    assert evaluate.main(["--classifier"]) == 0
    assert "test accuracy 99." in capsys.readouterr().out
    with pytest.raises(SystemExit):
        evaluate.main([])                     # neither a run nor --classifier


def test_trainer_scores_every_n_epochs(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (32, 784)).astype(np.float32)
    monkeypatch.setattr(digits, "load", lambda path=None: digits.build().eval())  # untrained
    config = train.TrainConfig(epochs=2, batch_size=16, out=str(tmp_path / "run"),
                               eval_every=1, eval_samples=20)
    trainer = train.Trainer(config, images, log=lambda line: None, eval_images=images)
    trainer.train()
    assert all("fid" in row and 0 <= row["digits"] <= 10 for row in trainer.epochs)
    assert "fid" in (tmp_path / "run" / "history.csv").read_text().splitlines()[0]
    with pytest.raises(ValueError, match="eval_images"):
        train.Trainer(config, images, log=lambda line: None)


def test_a_resumed_run_can_start_scoring(tmp_path, monkeypatch):
    """--resume with --eval-every on a run trained without scores: the new epochs are scored."""
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (32, 784)).astype(np.float32)
    monkeypatch.setattr(digits, "load", lambda path=None: digits.build().eval())  # untrained
    config = train.TrainConfig(epochs=1, batch_size=16, out=str(tmp_path / "run"))
    train.Trainer(config, images, log=lambda line: None).train()
    trainer = train.resume(tmp_path / "run" / "checkpoint.npz", images, epochs=2,
                           log=lambda line: None, eval_images=images, eval_every=1)
    trainer.train()
    assert "fid" not in trainer.epochs[0] and "fid" in trainer.epochs[1]
    again = train.resume(tmp_path / "run" / "checkpoint.npz", images, epochs=3,
                         log=lambda line: None, eval_images=images)   # keeps the interval
    assert again.config.eval_every == 1
