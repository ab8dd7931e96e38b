"""Latent walks: slerp's ends and norm, the walks' images as the generator's outputs for the
interpolated inputs, the conditional digit walk, and sample.py --walk writing the grid and GIF."""
import runpy
from pathlib import Path

import numpy as np
import pytest

import minigan as mg
from minigan import build, latent, recipes, sampling, train

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_slerp_keeps_its_ends_and_the_norm():
    rng = np.random.default_rng(0)
    z0, z1 = rng.standard_normal((2, 5, 100))
    z1 *= np.linalg.norm(z0, axis=1, keepdims=True) / np.linalg.norm(z1, axis=1, keepdims=True)
    np.testing.assert_allclose(latent.slerp(z0, z1, 0.0), z0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(latent.slerp(z0, z1, 1.0), z1, rtol=0, atol=1e-12)
    for t in np.linspace(0, 1, 9):
        np.testing.assert_allclose(np.linalg.norm(latent.slerp(z0, z1, t), axis=1),
                                   np.linalg.norm(z0, axis=1), rtol=1e-12)
    # the straight line cuts inside the sphere the noise lives on: its midpoint is ~0.7 as long
    assert (np.linalg.norm(latent.lerp(z0, z1, 0.5), axis=1)
            < 0.85 * np.linalg.norm(z0, axis=1)).all()
    np.testing.assert_allclose(latent.slerp(z0[0], 2 * z0[0], 0.25), 1.25 * z0[0])  # parallel


def test_a_walks_frames_are_the_generators_images_of_its_points():
    mg.manual_seed(0)
    G = build.build_generator("original").eval()
    for spherical in (True, False):
        images, z = latent.latent_walk(G, 3, 5, seed=4, spherical=spherical)
        assert images.shape == (3, 5, 28, 28) and z.shape == (3, 5, 100)
        ends = np.random.default_rng(4).standard_normal((2, 3, 100)).astype(np.float32)
        np.testing.assert_allclose(z[:, 0], ends[0], rtol=1e-6)
        np.testing.assert_allclose(z[:, -1], ends[1], rtol=1e-6)
        with mg.no_grad():     # the walk's points as one batch: the same products, bit for bit
            direct = G(mg.tensor(z.reshape(15, 100))).numpy()
        np.testing.assert_array_equal(images.reshape(15, 784), direct)


def test_a_digit_walk_runs_from_one_digits_images_to_the_others():
    mg.manual_seed(0)
    G = build.build_generator(recipes.recipe_from_flags("stable", conditional=True)).eval()
    images, vectors = latent.digit_walk(G, 3, 8, walks=2, steps=6, seed=1)
    assert images.shape == (2, 6, 28, 28) and vectors.shape == (6, 10)
    z = np.random.default_rng(1).standard_normal((2, 100)).astype(np.float32)
    with mg.no_grad():
        threes = G(mg.tensor(z), np.array([3, 3])).numpy().reshape(2, 28, 28)
        eights = G(mg.tensor(z), np.array([8, 8])).numpy().reshape(2, 28, 28)
    np.testing.assert_allclose(images[:, 0], threes, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(images[:, -1], eights, rtol=1e-5, atol=1e-6)
    assert np.abs(images[:, 2] - images[:, 0]).max() > 0      # the middle is in between
    with pytest.raises(ValueError, match="needs a conditional generator"):
        latent.digit_walk(build.build_generator("original"), 3, 8, 1, 4)
    with pytest.raises(ValueError, match="to_digit must be a digit 0-9"):
        latent.digit_walk(G, 3, 10, 1, 4)
    with pytest.raises(ValueError, match="at least 2 steps"):
        latent.path(np.zeros(3), np.ones(3), 1)


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    """A one-epoch conditional run on 32 random images (digits 0-9 in turn)."""
    out = tmp_path_factory.mktemp("cgan") / "run"
    images = np.random.default_rng(0).uniform(-1, 1, (32, 784)).astype(np.float32)
    config = train.TrainConfig(epochs=1, batch_size=16, out=str(out), recipe="stable")
    recipe = recipes.recipe_from_flags("stable", conditional=True)
    train.Trainer(config, images, labels=np.arange(32) % 10, recipe=recipe,
                  log=lambda line: None).train()
    return out


def test_sample_walk_writes_the_grid_and_the_gif(tmp_path, conditional_run, capsys):
    from PIL import Image
    sample = runpy.run_path(str(EXAMPLES / "sample.py"))["main"]
    out = tmp_path / "walk.png"
    assert sample(["--pretrained", "--walk", "4", "--steps", "8", "--out", str(out)]) == 0
    with Image.open(out.with_suffix(".gif")) as gif:
        assert gif.n_frames == 8
    assert Image.open(out).size == ((8 * 30 + 2) * 3, (4 * 30 + 2) * 3)   # a walk per row
    assert "4 walks of 8 steps along great circles" in capsys.readouterr().out
    morph = tmp_path / "morph.png"
    assert sample([str(conditional_run), "--walk", "2", "--steps", "5", "--from-digit", "3",
                   "--to-digit", "8", "--out", str(morph)]) == 0
    with Image.open(morph.with_suffix(".gif")) as gif:
        assert gif.n_frames == 5
    assert sample(["--pretrained", "--walk", "2", "--from-digit", "1", "--to-digit", "7",
                   "--out", str(tmp_path / "no.png")]) == 1                 # not conditional
    assert "needs a conditional generator" in capsys.readouterr().err
    assert sampling.load_generator(conditional_run) is not None


@pytest.mark.parametrize("argv, message", [
    (["--from-digit", "1", "--to-digit", "2"], "shape a --walk: add --walk N"),
    (["--walk", "2", "--from-digit", "1"], "needs both --from-digit and --to-digit"),
    (["--walk", "2", "--steps", "1"], "--steps S at least 2"),
    (["--walk", "2", "--linear", "--from-digit", "1", "--to-digit", "2"], "holds z fixed"),
])
def test_bad_walk_flags_are_one_clear_line(tmp_path, capsys, argv, message):
    sample = runpy.run_path(str(EXAMPLES / "sample.py"))["main"]
    with pytest.raises(SystemExit):
        sample(["--pretrained", *argv, "--out", str(tmp_path / "w.png")])
    assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        sample(["--pretrained", "--walk", "2", "--out", str(tmp_path / "w.npy")])
