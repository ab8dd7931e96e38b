"""The averaged generator (the recipe's ema, --ema): its update rule, that it changes nothing the
training computes, what the run folder keeps, that a resumed run continues the average exactly,
and that the default recipes keep one and the original does not."""
import dataclasses

import numpy as np
import pytest

import minigan as mg
from minigan import build, checkpoint, digits, ema, metrics, optim, recipes, sampling, train
from minigan.train_command import new_run_config, new_run_recipe, parse_args

IMAGES = np.random.default_rng(0).uniform(-1, 1, (32, 784)).astype(np.float32)


def test_the_average_follows_its_rule():
    mg.manual_seed(0)
    G = build.build_generator("stable")           # BatchNorm: running statistics and a counter
    averaging = ema.WeightAveraging(optim.Adam(G.parameters()), G, 0.9)
    start = G.state_dict()                          # the average starts as a copy of G
    history = []
    for k in range(3):
        for _, t in G.named_tensors():            # stand-ins for three training steps
            if t.data.dtype.kind == "f":
                t.data += np.float32(0.1 * (k + 1))
            else:
                t.data += 1
        averaging.update()
        history.append(G.state_dict())
    got = averaging.average.state_dict()
    for name, value in got.items():
        if value.dtype.kind != "f":
            np.testing.assert_array_equal(value, history[-1][name])   # counters: copied
            continue
        expected = start[name].copy()
        for t, step in enumerate(history):                          # d_t = min(0.9, (1+t)/(10+t))
            keep = min(0.9, (1 + t) / (10 + t))
            expected *= np.float32(keep)
            expected += np.float32(1 - keep) * step[name]
        np.testing.assert_array_equal(value, expected)
    with pytest.raises(ValueError, match="decay must be in .0, 1."):
        ema.WeightAveraging(optim.Adam(G.parameters()), G, 1.0)


class Killed(Exception):
    """A run stopped from outside after an epoch (its checkpoint written)."""


def run(tmp_path, name, epochs, kill_after=None, ema=0.0, **settings):
    """The stable recipe with the averaged generator's decay `ema` (0: none)."""
    config = train.TrainConfig(epochs=epochs, batch_size=16, out=str(tmp_path / name),
                               recipe="stable", seed=5, **settings)

    def on_epoch_end(trainer):
        if trainer.epoch == kill_after:
            raise Killed
    trainer = train.Trainer(config, IMAGES, log=lambda line: None, on_epoch_end=on_epoch_end,
                            recipe=dataclasses.replace(recipes.RECIPES["stable"], ema=ema),
                            **({"eval_images": IMAGES} if settings.get("eval_every") else {}))
    trainer.train()
    return trainer


def test_averaging_changes_nothing_the_training_computes(tmp_path):
    plain, averaged = run(tmp_path, "plain", 2), run(tmp_path, "averaged", 2, ema=0.99)
    for name, value in plain.G.state_dict().items():
        np.testing.assert_array_equal(averaged.G.state_dict()[name], value)
    raw = sampling.load_generator(tmp_path / "averaged", which="raw").state_dict()
    kept = sampling.load_generator(tmp_path / "averaged").state_dict()
    for name, value in averaged.G.state_dict().items():
        np.testing.assert_array_equal(raw[name], value)                 # generator_raw.npz: G
        np.testing.assert_array_equal(kept[name], averaged.sampled.state_dict()[name])
    assert any(not np.array_equal(kept[n], raw[n]) for n in kept)      # generator.npz: the average


def test_a_resumed_run_continues_the_average_exactly(tmp_path):
    """A 3-epoch run killed after epoch 2 and resumed ends with the average of one that ran
    straight through, bit for bit."""
    straight = run(tmp_path, "straight", 3, ema=0.99)
    with pytest.raises(Killed):
        run(tmp_path, "parts", 3, kill_after=2, ema=0.99)
    resumed = train.resume(tmp_path / "parts" / "checkpoint.npz", IMAGES,
                           log=lambda line: None)
    resumed.train()
    for name, value in straight.sampled.state_dict().items():
        np.testing.assert_array_equal(resumed.sampled.state_dict()[name], value)
    assert resumed.opt_g.updates == straight.opt_g.updates == straight.g_steps


def test_a_scored_run_scores_both_generators(tmp_path, monkeypatch):
    monkeypatch.setattr(digits, "load", lambda path=None: digits.build().eval())
    scored = []
    evaluate_images = metrics.evaluate_images
    monkeypatch.setattr(metrics, "evaluate_images", lambda images, real, labels=None: (
        scored.append(images.copy()) or evaluate_images(images, real, labels=labels)))
    trainer = run(tmp_path, "scored", 1, ema=0.99, eval_every=1, eval_samples=20)
    row = trainer.epochs[-1]
    assert {"fid", "fid_raw", "digits", "digits_raw"} <= set(row)
    assert len(scored) == 2 and not np.array_equal(scored[0], scored[1])   # average, then G


def test_a_checkpoint_that_kept_the_decay_in_its_config_resumes_with_it(tmp_path):
    """The decay was a TrainConfig setting before it was the recipe's: such a checkpoint (its
    config holds ema, its recipe none) resumes with its average, as a current one does."""
    with pytest.raises(Killed):
        run(tmp_path, "old", 2, kill_after=1, ema=0.99)
    path = tmp_path / "old" / "checkpoint.npz"
    state = train.load_checkpoint(path)
    state["config"]["ema"] = state["recipe"].pop("ema")
    checkpoint.save(path, *checkpoint.flatten({k: v for k, v in state.items() if k != "path"}))
    resumed = train.resume(path, IMAGES, log=lambda line: None)
    assert resumed.recipe.ema == 0.99 and resumed.opt_g.updates == 2
    resumed.train()
    straight = run(tmp_path, "straight", 2, ema=0.99)
    for name, value in straight.sampled.state_dict().items():
        np.testing.assert_array_equal(resumed.sampled.state_dict()[name], value)


def test_the_default_recipes_keep_the_average_and_the_original_does_not():
    """The averaged generator scored better than the trained one on both seeds measured
    (docs/gan-tricks.md): stable and dcgan keep it; the original recipe stays the Keras
    script's; --ema replaces the recipe's decay, 0 turns it off."""
    def decay(*flags):
        args = parse_args(list(flags))
        return new_run_recipe(args, new_run_config(args)).ema
    assert decay() == decay("--model", "dcgan") == decay("--recipe", "dcgan") == 0.999
    assert decay("--recipe", "original") == 0.0
    assert decay("--ema", "0") == 0.0 and decay("--recipe", "original", "--ema", "0.99") == 0.99


def test_bad_decays_are_one_clear_line():
    for bad in (1.0, -0.1, True):
        with pytest.raises(ValueError, match="recipe field ema must be"):
            dataclasses.replace(recipes.RECIPES["stable"], ema=bad)
