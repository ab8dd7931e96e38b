"""Gradient checks of the layers' ops and modules over hypothesis shapes, and their errors."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minigan as mg
import minigan.functional as F
from conftest import away_from_zero, normal_array, randn, randomized_batch_norm
from minigan import nn
from minigan.functional.conv import conv_geometry

seeds = st.integers(0, 2**16)


@st.composite
def small_conv(draw):
    N, C, OC = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    K, S = draw(st.sampled_from([1, 3])), draw(st.sampled_from([1, 2]))
    padding = draw(st.sampled_from(["same", "valid", 1]))
    try:
        conv_geometry(H, W, K, K, S, padding)
    except ValueError:
        assume(False)
    return (N, C, H, W), (OC, C, K, K), S, padding


@given(case=small_conv(), seed=seeds, bias=st.booleans())
def test_conv2d_gradcheck(case, seed, bias):
    x_shape, w_shape, S, padding = case
    x, w = randn(x_shape, seed=seed), randn(w_shape, seed=seed + 1)
    b = randn(w_shape[:1], seed=seed + 2)
    if bias:
        mg.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=S, padding=padding), x, w, b)
    else:
        mg.gradcheck(lambda x, w: F.conv2d(x, w, stride=S, padding=padding), x, w)


def test_conv2d_frozen_input_gets_no_gradient_work():
    x = randn((2, 1, 5, 5), requires_grad=False)
    w = randn((3, 1, 3, 3))
    F.conv2d(x, w).sum().backward()
    assert x.grad is None and w.grad is not None


@pytest.mark.parametrize("H, S, expected", [(28, 1, (1, 1, 28, 28)), (28, 2, (0, 0, 14, 14)),
                                            (5, 2, (1, 1, 3, 3)), (6, 2, (0, 0, 3, 3))])
def test_same_padding_follows_keras(H, S, expected):
    # Keras: OH = ceil(H / S), total pad = max((OH - 1) * S + K - H, 0), top = total // 2
    assert conv_geometry(H, H, 3, 3, S, "same") == expected


@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 5)), seed=seeds,
       alpha=st.sampled_from([0.01, 0.2]))
def test_leaky_relu_gradcheck(shape, seed, alpha):
    mg.gradcheck(lambda x: F.leaky_relu(x, alpha), away_from_zero(shape, seed=seed))


@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 5)), seed=seeds,
       rate=st.sampled_from([0.1, 0.3, 0.6]))
def test_dropout_gradcheck_with_a_fixed_mask(shape, seed, rate):
    keep = np.random.default_rng(seed).random(shape) >= rate
    mg.gradcheck(lambda x: F.dropout(x, rate, mask=keep), randn(shape, seed=seed))


@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 5)), seed=seeds,
       rate=st.sampled_from([0.1, 0.3, 0.6]), alpha=st.sampled_from([0.01, 0.2]))
def test_leaky_relu_dropout_gradcheck_with_a_fixed_mask(shape, seed, rate, alpha):
    keep = np.random.default_rng(seed).random(shape) >= rate
    mg.gradcheck(lambda x: F.leaky_relu_dropout(x, alpha, rate, mask=keep),
                 away_from_zero(shape, seed=seed))


def test_leaky_relu_dropout_module_equals_the_two_layers():
    """LeakyReLUDropout in training is one op whose values, gradient and random stream are those
    of LeakyReLU then Dropout; in evaluation it is LeakyReLU alone."""
    x0, gy = normal_array((4, 3, 5, 5)), normal_array((4, 3, 5, 5), seed=1)
    fused = nn.Sequential(nn.LeakyReLUDropout(0.01, 0.3), nn.Dropout(0.5))
    apart = nn.Sequential(nn.LeakyReLU(0.01), nn.Dropout(0.3), nn.Dropout(0.5))
    results = []
    for model in (fused, apart):
        mg.manual_seed(3)
        x = mg.tensor(x0, requires_grad=True)
        y = model(x)
        if model is fused:
            pair = y._ctx.inputs[0]._ctx        # the second Dropout's input came from one op
            assert pair.alpha == 0.01 and pair.inputs[0] is x
        y.backward(gy)
        results.append((y.numpy(), x.grad.numpy(), mg.backend.rng("cpu").integers(0, 2**32)))
    (y1, g1, r1), (y2, g2, r2) = results
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(g1, g2)
    assert r1 == r2  # the generator advanced alike
    fused.eval()
    np.testing.assert_array_equal(fused(mg.tensor(x0)).numpy(), np.where(x0 > 0, x0, 0.01 * x0)
                                  .astype(np.float32))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 3)), seed=seeds)
def test_bce_gradcheck(reduction, shape, seed):
    rng = np.random.default_rng(seed)
    p = mg.tensor(rng.uniform(0.05, 0.95, shape), requires_grad=True, dtype="float64")
    t = rng.choice([0.0, 1.0, 0.3], shape)
    mg.gradcheck(lambda p: F.binary_cross_entropy(p, t, reduction=reduction), p)
    z = randn(shape, seed=seed)
    mg.gradcheck(lambda z: F.binary_cross_entropy_with_logits(z, t, reduction=reduction), z)


def test_bce_is_finite_at_the_ends():
    p = mg.tensor([0.0, 1.0, 0.0, 1.0], requires_grad=True)
    t = np.array([0.0, 1.0, 1.0, 0.0], dtype=np.float32)
    loss = F.binary_cross_entropy(p, t, reduction="none")
    np.testing.assert_allclose(loss.numpy(), [0.0, 0.0, 100.0, 100.0])  # log clamped at -100
    loss.sum().backward()
    assert np.isfinite(p.grad.numpy()).all()
    z = mg.tensor([-100.0, 100.0, 50.0, -50.0], requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(z, t, reduction="none")
    np.testing.assert_allclose(loss.numpy(), [0.0, 0.0, 0.0, 0.0], atol=1e-20)
    F.binary_cross_entropy_with_logits(z, 1 - t).backward()
    np.testing.assert_allclose(z.grad.numpy(), [-0.25, 0.25, 0.25, -0.25])


def test_dropout_behaviour():
    x = mg.tensor(np.ones((200, 500)))
    y = F.dropout(x, 0.3).numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.7)}
    assert abs((y == 0).mean() - 0.3) < 0.01
    assert F.dropout(x, 0.3, training=False) is x
    mg.manual_seed(5)
    a = F.dropout(x, 0.3).numpy()
    mg.manual_seed(5)
    np.testing.assert_array_equal(a, F.dropout(x, 0.3).numpy())
    assert not np.array_equal(a, F.dropout(x, 0.3).numpy())
    for bad in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
            F.dropout(x, bad)


# Modules
def module_gradcheck(module, x):
    mg.gradcheck(lambda x, *params: module(x), x, *module.parameters())


@given(seed=seeds, n=st.integers(1, 2))
def test_conv2d_module_gradcheck(seed, n):
    module_gradcheck(nn.Conv2D(2, 3, 3, padding="same"), randn((n, 2, 4, 4), seed=seed))
    module_gradcheck(nn.Conv2D(2, 2, 3, stride=2, padding="valid", bias=False),
                     randn((n, 2, 5, 5), seed=seed))


@pytest.mark.parametrize("module", [nn.LeakyReLU(0.01), nn.LeakyReLU(alpha=0.3), nn.ReLU(),
                                    nn.Tanh(), nn.Sigmoid(), nn.Flatten(), nn.Reshape(3, 2)],
                         ids=lambda m: repr(m))
def test_activation_and_shape_modules_gradcheck(module):
    mg.gradcheck(module, away_from_zero((2, 6)))


def test_shape_modules_keep_the_batch_axis():
    x = mg.tensor(np.zeros((5, 784)))
    assert nn.Reshape(1, 28, 28)(x).shape == (5, 1, 28, 28)
    assert nn.Flatten()(nn.Reshape(1, 28, 28)(x)).shape == (5, 784)


def test_dropout_module_honours_train_and_eval():
    layer = nn.Dropout(0.5)
    x = mg.tensor(np.ones((50, 50)))
    assert (layer(x).numpy() == 0).any()
    layer.eval()
    assert layer(x) is x
    with pytest.raises(ValueError, match="rate must be in"):
        nn.Dropout(1.0)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_loss_modules(reduction):
    p = mg.tensor([[0.2], [0.9]], requires_grad=True, dtype="float64")
    t = np.array([[0.0], [1.0]])
    mg.gradcheck(lambda p: nn.BCELoss(reduction)(p, t), p)
    mg.gradcheck(lambda z: nn.BCEWithLogitsLoss(reduction)(z, t), randn((2, 1)))


def test_conv2d_init_is_glorot_uniform_with_keras_fans():
    mg.manual_seed(0)
    layer = nn.Conv2D(32, 64, 3)
    limit = np.sqrt(6 / (32 * 9 + 64 * 9))
    w = layer.weight.numpy()
    assert w.shape == (64, 32, 3, 3) and w.dtype == np.float32
    assert limit * 0.98 < np.abs(w).max() <= limit
    np.testing.assert_array_equal(layer.bias.numpy(), 0)


def test_layer_errors_name_the_problem_and_the_fix():
    conv = nn.Conv2D(1, 4, 3)
    with pytest.raises(ValueError, match=r"reshape \(N, 28, 28\) to \(N, 1, 28, 28\)"):
        conv(mg.tensor(np.zeros((2, 28, 28))))
    with pytest.raises(ValueError, match="padding must be 'same', 'valid' or an int"):
        F.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), padding="full")
    with pytest.raises(ValueError, match="does not fit"):
        F.conv2d(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 3)), padding="valid")
    with pytest.raises(ValueError, match="stride must be an int"):
        F.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), stride=0)
    with pytest.raises(ValueError, match=r"target has shape \(2,\) but the input has \(2, 1\)"):
        F.binary_cross_entropy(mg.tensor([[0.5], [0.5]]), np.ones(2, np.float32))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.binary_cross_entropy(mg.tensor([0.5]), [1.0], reduction="avg")


def test_the_seed_discriminator_builds_and_trains():
    D = nn.Sequential(nn.Reshape(1, 28, 28), nn.Conv2D(1, 32, 3, padding="same"),
                      nn.LeakyReLU(0.01), nn.Dropout(0.3), nn.Conv2D(32, 64, 3, padding="same"),
                      nn.LeakyReLU(0.01), nn.Dropout(0.3), nn.Flatten(), nn.Dense(28 * 28 * 64, 1),
                      nn.Sigmoid())
    rng = np.random.default_rng(0)
    real = mg.tensor(rng.uniform(-1, 1, (8, 784)))
    labels = np.ones((8, 1), dtype=np.float32)
    opt = mg.optim.Adam(D.parameters(), lr=1e-3)
    losses = []
    for _ in range(5):
        loss = F.binary_cross_entropy(D(real), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] and all(np.isfinite(losses))
    assert D(real).shape == (8, 1) and D(real).dtype == np.float32


@given(seed=seeds, n=st.integers(2, 5), features=st.integers(1, 4), training=st.booleans())
def test_batch_norm_gradcheck(seed, n, features, training):
    bn = randomized_batch_norm(nn.BatchNorm1d(features), seed, training)
    module_gradcheck(bn, randn((n, features), seed=seed))


def test_batch_norm_checks_its_input():
    with pytest.raises(ValueError, match="at least 2 values per feature"):
        nn.BatchNorm1d(3)(mg.tensor(np.ones((1, 3))))
    with pytest.raises(ValueError, match=r"x must be \(N, F\)"):
        nn.BatchNorm1d(3)(mg.tensor(np.ones((4, 2))))


@given(seed=seeds, n=st.integers(1, 4), k=st.integers(2, 5))
def test_cross_entropy_gradcheck(seed, n, k):
    labels = np.random.default_rng(seed).integers(0, k, n)
    mg.gradcheck(lambda z: F.cross_entropy(z, labels), randn((n, k), seed=seed))
