"""Pins the numbers of a tiny fixed-seed run of each model (the original and stable MLP GANs, the
DCGAN, the conditional DCGAN with its auxiliary classifier): a change to the code's shape must not
change what it computes. The values were recorded before the GAN layer was restructured (the MLP
runs before the first restructuring, the DCGAN ones before gan.py was split by model).

They hold on any CPU, at 1e-4 relative. Two CPUs whose BLAS kernels differ (OpenBLAS's SkylakeX
kernels on Intel Xeon and AVX-512 AMD EPYC, its Haswell/Zen kernels on other EPYCs) round each
product's elements otherwise, by float32 rounding: about 1e-6 relative. Adam's step
lr * m / (sqrt(v) + eps) carries a gradient's relative perturbation into the weights at the same
order, except where a gradient is itself within rounding of zero: there the step's sign is the
rounding's, up to lr a step. The biases that feed a BatchNorm are such (their gradient is zero but
for rounding) and are left out. What is pinned are sums over thousands of values: the losses of
the first epoch and the sums of squares of the weights. Measured against these values (2026-12-04,
AMD EPYC, both kernel families through OPENBLAS_CORETYPE): the seed recipe within 4e-8, the stable
recipe within 2e-5 (its minibatch discrimination and feature matching leave more gradients near
zero), the DCGAN within 3e-6 and the conditional DCGAN within 1e-5 (its label embedding). The
DCGAN's BatchNorm running means are left out with the biases that feed them: between the two
kernel families they moved by up to 1e-3 relative, the biases' rounding-sized steps summed. The
bit-identical check on full-size runs is done by hand."""
import numpy as np
import pytest

from minigan import train
from minigan.recipes import recipe_from_flags

PINNED = {
    "original": {
        "losses": [1.2775274117787678, 0.6166319847106934, 0.6040103236834208, 0.5361502369244894],
        "squares": {
            "0.weight": 113.41458833804398,
            "2.weight": 171.7335579755514,
            "4.weight": 340.98802366283866,
            "6.weight": 682.9008324355839,
            "8.weight": 886.7127329163466,
        },
        "discriminator": [1.9471622556176498, 42.83175451156242, 2.015453517170293],
    },
    "stable": {
        "losses": [1.3786476850509644, 3.541305144627889, 0.47398191690444946, 0.47179940342903137],
        "squares": {
            "0.weight": 113.32273880176965,
            "2.weight": 171.67797119656456,
            "3.weight": 256.0004035439021,
            "3.running_mean": 8.905873849436738,
            "3.running_var": 53.487513515612164,
            "5.weight": 340.93607971897376,
            "6.weight": 511.9924825987652,
            "6.running_mean": 21.01901311261041,
            "6.running_var": 132.29012286116898,
            "8.weight": 682.9007822197657,
            "9.weight": 1022.9335959542002,
            "9.running_mean": 37.9027527347354,
            "9.running_var": 265.7211685104348,
            "11.weight": 885.3012199039808,
        },
        "discriminator": [2.0224702110189923, 42.82062384279496, 160.73736017224684,
                          2.0148839280206476],
    },
    "dcgan": {
        "losses": [1.3912406762440999, 3.2918828328450522, 0.5331045786539713, 0.5256920258204142],
        "squares": {
            "0.weight": 196.9776616985793,
            "1.weight": 6272.059601560631,
            "1.running_var": 582.0695131713087,
            "4.weight": 85.3984800332831,
            "5.weight": 64.00620528895138,
            "5.running_var": 9.04073239072017,
            "7.weight": 2.02419543332423,
        },
        "discriminator": [2.018229406416794, 43.223579920571126, 160.71551974027443,
                          2.022744535651005],
    },
    "conditional dcgan": {
        "losses": [3.6895453135172525, 17.346233367919922, 0.5174153546492258, 0.49841474493344623],
        "squares": {
            "body.0.weight": 216.41256347641098,
            "body.1.weight": 6272.565467139044,
            "body.1.running_var": 590.6428851113274,
            "body.4.weight": 85.30270961254375,
            "body.5.weight": 63.91208532381053,
            "body.5.running_var": 9.295614568981609,
            "body.7.weight": 1.9550375572475878,
            "embed.weight": 107.05448725245357,
        },
        "discriminator": [1.9377105934941594, 42.762431943332075, 160.6974633364973,
                          2.005396201949237, 0.10947965978464276, 20.2087922183869],
    },
}
# The recipe of each pinned run: a named one, or the DCGAN told the digit (and its classifier).
RECIPES = {"original": "original", "stable": "stable", "dcgan": "dcgan",
           "conditional dcgan": recipe_from_flags("dcgan", conditional=True)}


@pytest.mark.parametrize("recipe", list(PINNED))
def test_a_tiny_fixed_seed_run_computes_the_pinned_numbers(tmp_path, recipe):
    images = np.random.default_rng(0).uniform(-1, 1, (48, 784)).astype(np.float32)
    labels = np.random.default_rng(1).integers(0, 10, 48)      # read by the conditional run only
    config = train.TrainConfig(epochs=1, batch_size=8, out=str(tmp_path / "run"), log_every=2,
                               seed=3, recipe="dcgan" if "dcgan" in recipe else recipe)
    trainer = train.Trainer(config, images, labels=labels, log=lambda line: None,
                            recipe=RECIPES[recipe])
    row = trainer.train()
    expected = PINNED[recipe]
    losses = [row[k] for k in ("loss_d", "loss_g", "d_real", "d_fake")]
    np.testing.assert_allclose(losses, expected["losses"], rtol=1e-4)
    squares = {name: float((value.astype(np.float64) ** 2).sum())
               for name, value in trainer.G.state_dict().items() if name in expected["squares"]}
    assert squares.keys() == expected["squares"].keys()
    for name, value in expected["squares"].items():
        np.testing.assert_allclose(squares[name], value, rtol=1e-4, err_msg=f"G.{name}")
    d_squares = [float((p.numpy().astype(np.float64) ** 2).sum())
                 for p in trainer.D.parameters() if p.ndim > 1]  # weights, in creation order
    np.testing.assert_allclose(d_squares, expected["discriminator"], rtol=1e-4)
