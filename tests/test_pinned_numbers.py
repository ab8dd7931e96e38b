"""Pins the numbers of a tiny fixed-seed run of each recipe: a change to the code's shape must
not change what it computes. The values were recorded before the GAN layer was restructured.

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
zero). The bit-identical check on full-size runs is done by hand."""
import numpy as np
import pytest

from minigan import train

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
}


@pytest.mark.parametrize("recipe", ["original", "stable"])
def test_a_tiny_fixed_seed_run_computes_the_pinned_numbers(tmp_path, recipe):
    images = np.random.default_rng(0).uniform(-1, 1, (48, 784)).astype(np.float32)
    config = train.TrainConfig(epochs=1, batch_size=8, out=str(tmp_path / "run"), log_every=2,
                               seed=3, recipe=recipe)
    trainer = train.Trainer(config, images, log=lambda line: None)
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
