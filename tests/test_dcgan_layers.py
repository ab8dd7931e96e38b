"""The DCGAN and conditional-GAN layers: conv_transpose2d / ConvTranspose2D, BatchNorm2d and
Embedding. Each against a NumPy reference written here from its definition (float64), by finite
differences (float64 gradcheck over hypothesis shapes), and against PyTorch (float32, every
gradient; tolerances as in test_layers_parity_torch: the summation order differs)."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import minigan as mg
import minigan.functional as F
from conftest import normal_array, randn, randomized_batch_norm
from minigan import dcgan, kernels, nn

seeds = st.integers(0, 2**16)
RED_RTOL, RED_ATOL = 1e-4, 1e-5


def conv_transpose_reference(x, w, b, S, P, OP):
    """Every input pixel x[n, c, h, w] adds x * W[c] (C_out, KH, KW) into the output at rows
    h*S - P + i, columns w*S - P + j; the output is (H - 1)*S - 2P + KH + OP high."""
    N, C, H, W = x.shape
    _, OC, KH, KW = w.shape
    OH, OW = (H - 1) * S - 2 * P + KH + OP, (W - 1) * S - 2 * P + KW + OP
    big = np.zeros((N, OC, (H - 1) * S + KH + OP + P, (W - 1) * S + KW + OP + P))
    for h in range(H):
        for v in range(W):
            big[:, :, h * S:h * S + KH, v * S:v * S + KW] += np.einsum(
                "nc,cokl->nokl", x[:, :, h, v], w)
    y = big[:, :, P:P + OH, P:P + OW]
    return y + (0 if b is None else b.reshape(1, -1, 1, 1))


@st.composite
def transposed(draw, max_side=5):
    S = draw(st.integers(1, 3))
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    P, OP = draw(st.integers(0, 2)), draw(st.integers(0, S - 1))
    N, C, OC = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    assume((H - 1) * S - 2 * P + KH + OP >= 1 and (W - 1) * S - 2 * P + KW + OP >= 1)
    return (N, C, H, W), (C, OC, KH, KW), S, P, OP


@settings(max_examples=40, deadline=None)
@given(case=transposed(), seed=seeds)
def test_conv_transpose2d_equals_its_definition(case, seed):
    x_shape, w_shape, S, P, OP = case
    x, w = normal_array(x_shape, seed, np.float64), normal_array(w_shape, seed + 1, np.float64)
    b = normal_array(w_shape[1:2], seed + 2, np.float64)
    y = F.conv_transpose2d(mg.tensor(x, dtype="float64"), mg.tensor(w, dtype="float64"),
                           mg.tensor(b, dtype="float64"), S, P, OP).numpy()
    want = conv_transpose_reference(x, w, b, S, P, OP)
    assert y.shape == want.shape
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(case=transposed(max_side=4), seed=seeds, bias=st.booleans())
def test_conv_transpose2d_gradcheck(case, seed, bias):
    x_shape, w_shape, S, P, OP = case
    x, w = randn(x_shape, seed=seed), randn(w_shape, seed=seed + 1)
    if bias:
        mg.gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, S, P, OP), x, w,
                     randn(w_shape[1:2], seed=seed + 2))
    else:
        mg.gradcheck(lambda x, w: F.conv_transpose2d(x, w, None, S, P, OP), x, w)


@settings(max_examples=25, deadline=None)
@given(case=transposed(max_side=7), seed=seeds)
def test_conv_transpose2d_parity_with_pytorch(case, seed):
    torch = pytest.importorskip("torch")
    x_shape, w_shape, S, P, OP = case
    x, w = normal_array(x_shape, seed), normal_array(w_shape, seed + 1)
    b = normal_array(w_shape[1:2], seed + 2)
    ours = [mg.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = F.conv_transpose2d(*ours, stride=S, padding=P, output_padding=OP)
    yt = torch.nn.functional.conv_transpose2d(*theirs, stride=S, padding=P, output_padding=OP)
    gy = normal_array(y.shape, seed + 3)
    y.backward(mg.tensor(gy))
    yt.backward(torch.tensor(gy))
    for name, got, want in zip(("y", "dx", "dW", "db"), [y] + [t.grad for t in ours],
                               [yt] + [t.grad for t in theirs]):
        assert got.dtype == np.float32, name
        np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=RED_RTOL,
                                   atol=RED_ATOL, err_msg=name)


def test_the_dcgan_upsampling_doubles_the_side():
    layer = nn.ConvTranspose2D(128, 64, 4, stride=2, padding=1)
    assert layer.weight.shape == (128, 64, 4, 4)
    assert layer(mg.tensor(np.zeros((2, 128, 7, 7), np.float32))).shape == (2, 64, 14, 14)
    assert "stride=2, padding=1" in repr(layer)


def test_conv_transpose2d_refuses_bad_arguments_with_one_line():
    x, w = mg.tensor(np.ones((1, 2, 3, 3))), mg.tensor(np.ones((2, 4, 3, 3)))
    cases = [({"output_padding": 1}, r"output_padding must be an int in \[0, stride\)"),
             ({"stride": 0}, "stride must be an int >= 1"),
             ({"padding": -1}, "padding must be an int >= 0"),
             ({"padding": 3}, "crops a 3x3 input")]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            F.conv_transpose2d(x, w, **kwargs)
    with pytest.raises(ValueError, match=r"weight \(C_in, C_out, KH, KW\) with the same C_in"):
        F.conv_transpose2d(mg.tensor(np.ones((1, 4, 3, 3))), w)
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        F.conv_transpose2d(x, w, mg.tensor(np.ones(2)))
    with pytest.raises(ValueError, match="output_padding"):
        nn.ConvTranspose2D(2, 4, 3, stride=2, output_padding=2)


# ---------------------------------------------------------------------------------------------
# BatchNorm2d

def batch_norm2d_reference(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)
    return gamma.reshape(1, -1, 1, 1) * (x - mean) / np.sqrt(var + eps) + beta.reshape(1, -1, 1, 1)


@settings(max_examples=30, deadline=None)
@given(N=st.integers(1, 4), C=st.integers(1, 4), P=st.integers(1, 20), seed=seeds,
       dtype=st.sampled_from([np.float32, np.float64]), batch_stats=st.booleans())
def test_batch_norm_kernels_equal_their_references(N, C, P, seed, dtype, batch_stats):
    x = normal_array((N, C, P), seed, dtype) * 3 + 2
    gy, xhat = normal_array((N, C, P), seed + 1, dtype), normal_array((N, C, P), seed + 2, dtype)
    gamma, beta = normal_array((C,), seed + 3, dtype), normal_array((C,), seed + 4, dtype)
    inv_std = np.abs(normal_array((C,), seed + 5, dtype)) + dtype(0.5)
    kb = kernels.batch_norm
    tol = 1e-5 if dtype == np.float32 else 1e-12
    pairs = [*zip(kb.stats(x), kb.stats_reference(x)),
             *zip(kb.normalize(x, gamma, inv_std, gamma, beta),
                  kb.normalize_reference(x, gamma, inv_std, gamma, beta)),
             *zip(kb.grad(gy, xhat, gamma, inv_std, batch_stats),
                  kb.grad_reference(gy, xhat, gamma, inv_std, batch_stats))]
    for got, want in pairs:
        assert got.dtype == dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1, np.abs(want).max()))


@settings(deadline=None)
@given(seed=seeds, n=st.integers(1, 3), C=st.integers(1, 3), side=st.integers(1, 3),
       training=st.booleans())
def test_batch_norm2d_gradcheck(seed, n, C, side, training):
    assume(not training or n * side * side >= 2)
    bn = randomized_batch_norm(nn.BatchNorm2d(C), seed, training)
    mg.gradcheck(lambda x, *params: bn(x), randn((n, C, side, side + 1), seed=seed),
                 *bn.parameters())


def test_batch_norm2d_normalizes_each_channel_over_batch_and_pixels():
    x = normal_array((4, 3, 5, 6), 0, np.float64) * 3 + 1
    bn = randomized_batch_norm(nn.BatchNorm2d(3), 1, True)
    gamma, beta = bn.weight.numpy().astype(np.float64), bn.bias.numpy().astype(np.float64)
    y = bn(mg.tensor(x.astype(np.float32)))
    np.testing.assert_allclose(y.numpy(), batch_norm2d_reference(x, gamma, beta), rtol=1e-5,
                               atol=1e-5)


def test_batch_norm2d_parity_with_pytorch_in_training_and_evaluation():
    """Output, every gradient and the running statistics over three training steps, then the
    evaluation output with those statistics."""
    torch = pytest.importorskip("torch")
    bn, tbn = nn.BatchNorm2d(5, momentum=0.2), torch.nn.BatchNorm2d(5, momentum=0.2)
    rng = np.random.default_rng(3)
    bn.weight.data[:] = rng.uniform(0.5, 1.5, 5).astype(np.float32)
    bn.bias.data[:] = rng.standard_normal(5).astype(np.float32)
    with torch.no_grad():
        tbn.weight.copy_(torch.tensor(bn.weight.numpy()))
        tbn.bias.copy_(torch.tensor(bn.bias.numpy()))
    for step in range(3):
        x = normal_array((6, 5, 7, 7), 10 + step) * (step + 1) + step
        gy = normal_array((6, 5, 7, 7), 20 + step)
        xm, xt = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y, yt = bn(xm), tbn(xt)
        y.backward(mg.tensor(gy))
        yt.backward(torch.tensor(gy))
        pairs = {"y": (y, yt), "dx": (xm.grad, xt.grad),
                 "dgamma": (bn.weight.grad, tbn.weight.grad),
                 "dbeta": (bn.bias.grad, tbn.bias.grad),
                 "running_mean": (bn.running_mean, tbn.running_mean),
                 "running_var": (bn.running_var, tbn.running_var)}
        for name, (got, want) in pairs.items():
            np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=RED_RTOL,
                                       atol=RED_ATOL, err_msg=f"step {step}: {name}")
        bn.zero_grad()
        tbn.zero_grad()
    bn.eval()
    tbn.eval()
    x = normal_array((2, 5, 3, 3), 30)
    np.testing.assert_allclose(bn(mg.tensor(x)).numpy(), tbn(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)
    assert int(bn.num_batches_tracked.data) == 3


def test_batch_norm_layers_name_the_input_they_need():
    with pytest.raises(ValueError, match=r"BatchNorm2d: x must be \(N, C, H, W\)"):
        nn.BatchNorm2d(3)(mg.tensor(np.ones((4, 3))))
    with pytest.raises(ValueError, match=r"BatchNorm1d: x must be \(N, F\)"):
        nn.BatchNorm1d(3)(mg.tensor(np.ones((4, 3, 2, 2))))
    with pytest.raises(ValueError, match="at least 2 values per feature"):
        nn.BatchNorm2d(3)(mg.tensor(np.ones((1, 3, 1, 1))))


# ---------------------------------------------------------------------------------------------
# Embedding

@settings(deadline=None)
@given(seed=seeds, rows=st.integers(1, 5), dim=st.integers(1, 4), n=st.integers(1, 8))
def test_embedding_gradcheck_with_repeated_indices(seed, rows, dim, n):
    labels = np.random.default_rng(seed).integers(0, rows, n)
    mg.gradcheck(lambda w: F.embedding(labels, w), randn((rows, dim), seed=seed))


def test_embedding_gathers_rows_and_adds_the_gradients_of_repeated_indices():
    table = nn.Embedding(4, 3)
    labels = np.array([2, 0, 2, 2])
    y = table(labels)
    np.testing.assert_array_equal(y.numpy(), table.weight.numpy()[labels])
    gy = normal_array((4, 3), 1)
    y.backward(mg.tensor(gy))
    want = np.zeros((4, 3), np.float32)
    want[0] = gy[1]
    want[2] = gy[0] + gy[2] + gy[3]                  # row 2 was read three times
    np.testing.assert_allclose(table.weight.grad.numpy(), want, rtol=1e-6)


def test_embedding_parity_with_pytorch():
    torch = pytest.importorskip("torch")
    weight = normal_array((10, 6), 2)
    labels = np.random.default_rng(3).integers(0, 10, 64)
    w, wt = mg.tensor(weight, requires_grad=True), torch.tensor(weight, requires_grad=True)
    y, yt = F.embedding(labels, w), torch.nn.functional.embedding(torch.tensor(labels), wt)
    gy = normal_array((64, 6), 4)
    y.backward(mg.tensor(gy))
    yt.backward(torch.tensor(gy))
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_embedding_refuses_bad_labels_with_one_line():
    table = nn.Embedding(10, 2)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 10\), got values from 3 to 10"):
        table(np.array([3, 10]))
    with pytest.raises(ValueError, match=r"from -1 to"):
        table(np.array([-1, 2]))
    with pytest.raises(TypeError, match="indices must be integers"):
        table(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="dim must be a positive int"):
        nn.Embedding(10, 0)


# ---------------------------------------------------------------------------------------------
# The DCGAN generator, built from these layers

def test_dcgan_generator_matches_a_pytorch_twin():
    """The same weights in both engines: the images and every parameter's gradient of a loss
    on them, in train mode (batch statistics), and the images in eval mode."""
    torch = pytest.importorskip("torch")
    mg.manual_seed(0)
    G = dcgan.build_generator()
    tnn = torch.nn
    twin = tnn.Sequential(tnn.Linear(100, 6272), tnn.BatchNorm1d(6272), tnn.ReLU(),
                          tnn.Unflatten(1, (128, 7, 7)),
                          tnn.ConvTranspose2d(128, 64, 4, 2, 1), tnn.BatchNorm2d(64), tnn.ReLU(),
                          tnn.ConvTranspose2d(64, 1, 4, 2, 1), tnn.Tanh(), tnn.Flatten())
    ours = G.state_dict()
    theirs = twin.state_dict()
    assert [v.shape for v in ours.values()] == [tuple(v.shape) for v in theirs.values()]
    twin.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in zip(theirs, ours.values())})
    z = normal_array((16, 100), 5)
    images, timages = G(mg.tensor(z)), twin(torch.tensor(z))
    assert images.shape == (16, 784)
    np.testing.assert_allclose(images.numpy(), timages.detach().numpy(), rtol=RED_RTOL,
                               atol=RED_ATOL)
    weights = normal_array((16, 784), 6)
    (images * mg.tensor(weights)).sum().backward()
    (timages * torch.tensor(weights)).sum().backward()
    grads = {name: (p.grad.numpy(), tp.grad.numpy())
             for (name, p), tp in zip(G.named_parameters(), twin.parameters())}
    for name in ("0.bias", "4.bias"):   # a bias a BatchNorm follows: its gradient is 0 exactly,
        ours_, theirs_ = grads.pop(name)  # its float32 values are rounding in both engines
        assert np.abs(ours_).max() < 1e-5 * np.abs(grads[name[:-4] + "weight"][1]).max()
    for name, (got, want) in grads.items():
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * np.abs(want).max(),
                                   err_msg=name)
    G.eval()
    twin.eval()
    np.testing.assert_allclose(G(mg.tensor(z)).numpy(), twin(torch.tensor(z)).detach().numpy(),
                               rtol=RED_RTOL, atol=RED_ATOL)
