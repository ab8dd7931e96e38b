"""Bad input met with one line, before anything trains or is written: an empty batch in any op
(the same rule on every path), training images that are not finite or not in [-1, 1], a batch
too small for the recipe's batch statistics, an MPI launch without --distributed, and a resumed
run whose data-parallel statistics differ from its checkpoint's. The MPI runs themselves are in
tests/test_distributed_ranks.py."""
import dataclasses
import types

import numpy as np
import pytest

import minigan as mg
import minigan.functional as F
from conftest import quiet, tiny_images
from minigan import checkpoint, nn, train
from minigan.distributed import ops
from minigan.recipes import get_recipe
import test_mnist_gan_cli
from test_mnist_gan_cli import one_error_line


mnist_gan_main = test_mnist_gan_cli.cli   # that module's fixture, under this name here


@pytest.fixture
def cli(mnist_gan_main):
    """run(*argv) -> (exit code, stdout, stderr) of examples/mnist_gan.py's main on 48 random
    images (tests/test_mnist_gan_cli.py)."""
    return mnist_gan_main


def empty(*shape):
    return mg.tensor(np.zeros(shape, np.float32), requires_grad=True)


def weights(*shape):
    return mg.tensor(np.ones(shape, np.float32), requires_grad=True)


def batch_norm(layer, training):
    return (layer.train() if training else layer.eval())


# Every path an empty batch (N = 0) can take: each is refused by the op it reaches first.
EMPTY_BATCHES = {
    "conv2d im2col": ("conv2d", lambda: F.conv2d(empty(0, 1, 8, 8), weights(4, 1, 3, 3),
                                                 algorithm="im2col")),
    "conv2d stride 2": ("conv2d", lambda: F.conv2d(empty(0, 1, 8, 8), weights(4, 1, 3, 3),
                                                   stride=2)),
    "conv2d winograd": ("conv2d", lambda: F.conv2d(empty(0, 8, 8, 8), weights(8, 8, 3, 3),
                                                   algorithm="winograd")),
    "Conv2D layer": ("conv2d", lambda: nn.Conv2D(8, 8, 3)(empty(0, 8, 8, 8))),
    "conv_transpose2d": ("conv_transpose2d", lambda: nn.ConvTranspose2D(
        4, 2, 4, stride=2, padding=1)(empty(0, 4, 7, 7))),
    "BatchNorm1d train": ("batch_norm", lambda: batch_norm(nn.BatchNorm1d(3), True)(
        empty(0, 3))),
    "BatchNorm1d eval": ("batch_norm", lambda: batch_norm(nn.BatchNorm1d(3), False)(
        empty(0, 3))),
    "BatchNorm2d train": ("batch_norm", lambda: batch_norm(nn.BatchNorm2d(3), True)(
        empty(0, 3, 4, 4))),
    "BatchNorm2d eval": ("batch_norm", lambda: batch_norm(nn.BatchNorm2d(3), False)(
        empty(0, 3, 4, 4))),
    "Dense": ("dense", lambda: nn.Dense(3, 2)(empty(0, 3))),
    "dropout": ("dropout", lambda: F.dropout(empty(0, 3), 0.5)),
    "dropout eval": ("dropout", lambda: F.dropout(empty(0, 3), 0.5, training=False)),
    "leaky_relu_dropout": ("leaky_relu_dropout", lambda: F.leaky_relu_dropout(
        empty(0, 3), 0.2, 0.5)),
    "minibatch_std": ("minibatch_std", lambda: F.minibatch_std(empty(0, 3))),
    "global minibatch_std": ("minibatch_std", lambda: ops.minibatch_std(empty(0, 3), None)),
    "batch_closeness": ("batch_closeness", lambda: F.batch_closeness(empty(0, 3, 2))),
    "binary_cross_entropy": ("binary_cross_entropy", lambda: F.binary_cross_entropy(
        empty(0, 1), empty(0, 1))),
    "binary_cross_entropy_with_logits": ("binary_cross_entropy_with_logits",
                                         lambda: F.binary_cross_entropy_with_logits(
                                             empty(0, 1), empty(0, 1))),
    "cross_entropy": ("cross_entropy", lambda: F.cross_entropy(empty(0, 10),
                                                               np.zeros(0, np.int64))),
}


@pytest.mark.parametrize("path", EMPTY_BATCHES)
def test_an_empty_batch_is_one_value_error_on_every_path(path):
    op, call = EMPTY_BATCHES[path]
    with pytest.raises(ValueError, match=rf"^{op}: the batch is empty \(x has shape \(0, "
                                         r"[0-9, ]*\)\); give at least one sample$"):
        call()


def test_a_refused_empty_batch_leaves_batch_norm_as_it_was():
    layer = nn.BatchNorm1d(3).train()
    with pytest.raises(ValueError, match="the batch is empty"):
        layer(empty(0, 3))
    assert int(layer.num_batches_tracked.data) == 0


def config(tmp_path, **overrides):
    settings = dict(epochs=1, batch_size=8, out=str(tmp_path / "run"), log_every=2, seed=3,
                    recipe="original")
    settings.update(overrides)
    return train.TrainConfig(**settings)


@pytest.mark.parametrize("bad, first", [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_images_that_are_not_finite_are_refused_before_training(tmp_path, bad, first):
    images = tiny_images()
    images[5, 100] = bad
    with pytest.raises(ValueError) as error:
        train.Trainer(config(tmp_path), images, log=quiet)
    assert str(error.value) == (f"images must be finite, but image 5 holds {first}: check how "
                                "they were read or scaled (data.load_mnist gives float32 in "
                                "[-1, 1])")
    assert not (tmp_path / "run").exists()


def test_raw_pixels_are_refused_with_how_to_scale_them(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (48, 784)).astype(np.float32)
    pixels[0, 0], pixels[0, 1] = 0, 255
    with pytest.raises(ValueError) as error:
        train.check_images(pixels, config(tmp_path), get_recipe("original"))
    assert str(error.value) == ("images must lie in [-1, 1], the range of the generator's tanh, "
                                "but they run from 0 to 255: scale them (0-255 pixels: "
                                "images / 127.5 - 1)")
    slightly_over = tiny_images()
    slightly_over[3, 3], slightly_over[4, 4] = 1.01, -1
    with pytest.raises(ValueError, match=r"but they run from -1 to 1.01: scale them"):
        train.Trainer(config(tmp_path), slightly_over, log=quiet)
    assert not (tmp_path / "run").exists()


def test_batch_size_1_is_refused_in_the_clis_words_before_the_folder_is_made(cli, tmp_path):
    code, _, err = cli("--batch-size", 1, "--out", tmp_path / "run")    # the stable recipe
    assert code == 1
    assert one_error_line(err) == (
        "error: batch size 1 is too small for recipe stable: G.3 (BatchNorm1d) takes statistics "
        "over the rows of a batch (1 here) and needs at least 2; use --batch-size 2 or more")
    assert not (tmp_path / "run").exists()


def test_the_least_batch_follows_the_recipes_statistics_layers_and_pack(tmp_path):
    train.Trainer(config(tmp_path, batch_size=1), tiny_images(), log=quiet)   # none: 1 is fine
    packed = dataclasses.replace(get_recipe("original"), minibatch_std=True, pack=2)
    with pytest.raises(ValueError) as error:
        train.Trainer(config(tmp_path, batch_size=2), tiny_images(), log=quiet, recipe=packed)
    assert str(error.value) == (
        "batch size 2 is too small for recipe original: D.features.5 (MinibatchStd) takes "
        "statistics over the rows of a batch (1 here; packs of 2 images) and needs at least 2; "
        "use --batch-size 4 or more")


def test_per_process_statistics_need_the_least_batch_on_each_process():
    G, D = nn.Sequential(nn.Dense(4, 4), nn.BatchNorm1d(4)), nn.Sequential(nn.Dense(4, 1))
    local = types.SimpleNamespace(size=2, rank=0, sync_statistics=False)
    settings = types.SimpleNamespace(batch_size=2)
    with pytest.raises(ValueError) as error:
        train.check_batch_statistics(G, D, settings, get_recipe("original"), local)
    assert str(error.value) == (
        "batch size 2 is too small for recipe original: G.1 (BatchNorm1d) takes statistics "
        "over the rows of a batch (1 here; each of the 2 processes takes its own, "
        "--local-statistics) and needs at least 2; use --batch-size 4 or more")
    synced = types.SimpleNamespace(size=2, rank=0, sync_statistics=True)   # 2 rows over both
    train.check_batch_statistics(G, D, settings, get_recipe("original"), synced)


@pytest.mark.parametrize("variable", ["PMI_SIZE", "OMPI_COMM_WORLD_SIZE"])
def test_an_mpi_launch_without_distributed_is_refused(cli, tmp_path, monkeypatch, variable):
    monkeypatch.setenv(variable, "2")
    code, out, err = cli("--recipe", "original", "--batch-size", 8, "--out", tmp_path / "run")
    assert code == 1 and out == ""
    assert one_error_line(err) == (
        "error: this is one of 2 processes of an MPI launch (mpiexec), but --distributed is "
        "not given: each process would train a run of its own into the same --out; add "
        "--distributed for one data-parallel run, or run without mpiexec")
    assert not (tmp_path / "run").exists() and cli.loaded == []


def local_statistics_checkpoint(finished_run, settings):
    """The finished run's checkpoint, made one of a run with these data-parallel settings (None:
    a checkpoint of a version that did not save them), checksum and all."""
    path = finished_run / "checkpoint.npz"
    arrays, document = checkpoint.load(path)
    document.pop("data_parallel", None)
    if settings is not None:
        document["data_parallel"] = settings
    checkpoint.save(path, arrays, document)
    return path


def test_a_local_statistics_run_resumed_on_one_process_is_refused(cli, tmp_path):
    out = tmp_path / "run"
    code, _, err = cli("--recipe", "original", "--batch-size", 8, "--epochs", 1, "--out", out)
    assert code == 0, err
    assert train.load_checkpoint(out / "checkpoint.npz")["data_parallel"] == \
        {"processes": 1, "local_statistics": False}
    path = local_statistics_checkpoint(out, {"processes": 2, "local_statistics": True})
    before = path.read_bytes()
    code, _, err = cli("--resume", path, "--epochs", 2)
    assert code == 1
    assert one_error_line(err) == (
        f"error: {path} was trained with --local-statistics over 2 processes (batch statistics "
        "per process): a resumed run keeps its own; resume it with mpiexec -n 2 and "
        "--distributed --local-statistics, or start a new run")
    assert path.read_bytes() == before
    local_statistics_checkpoint(out, None)          # older checkpoints: statistics not local
    code, _, err = cli("--resume", path, "--epochs", 2)
    assert code == 0, err
    assert train.load_checkpoint(path)["epoch"] == 2


def test_a_malformed_data_parallel_setting_is_one_line(cli, tmp_path):
    out = tmp_path / "run"
    code, _, err = cli("--recipe", "original", "--batch-size", 8, "--epochs", 1, "--out", out)
    assert code == 0, err
    path = local_statistics_checkpoint(out, {"processes": 0, "local_statistics": "yes"})
    code, _, err = cli("--resume", path, "--epochs", 2)
    assert code == 1
    assert one_error_line(err).startswith(f"error: {path} is not a valid minigan checkpoint "
                                          "(data_parallel must be")
