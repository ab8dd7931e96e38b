"""The averaged generator (--ema): its update rule, that it changes nothing the training computes,
what the run folder keeps, and that a resumed run continues the average exactly."""
import numpy as np
import pytest

import minigan as mg
from minigan import build, digits, ema, metrics, optim, sampling, train

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


def run(tmp_path, name, epochs, kill_after=None, **settings):
    config = train.TrainConfig(epochs=epochs, batch_size=16, out=str(tmp_path / name),
                               recipe="stable", seed=5, **settings)

    def on_epoch_end(trainer):
        if trainer.epoch == kill_after:
            raise Killed
    trainer = train.Trainer(config, IMAGES, log=lambda line: None, on_epoch_end=on_epoch_end,
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


def test_bad_decays_are_one_clear_line(tmp_path):
    for bad in (1.0, -0.1, True):
        with pytest.raises(ValueError, match="ema must be a number in .0, 1."):
            train.TrainConfig(epochs=1, out=str(tmp_path / "x"), ema=bad)
