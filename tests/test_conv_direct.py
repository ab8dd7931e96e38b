"""The direct convolution for thin inputs: its kernels against their NumPy references, the
convolution against im2col in float64 and by finite differences, PyTorch parity in float32, the
float32 accuracy of a real network's gradients, and the dispatcher's choice.

Float32 accuracy: every output of the direct kernels is one sum of C*KH*KW products (y, dx) or of
N*OH*OW products (dW, a dot product per image, then over the images), as im2col's GEMM sums them,
in another order; so its error against float64 is of the same size as im2col's and PyTorch's.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigan as mg
import minigan.functional as F
from conftest import conv_case, normal_array, randn, relative_error
from minigan.functional.conv import choose_algorithm, conv_geometry
from minigan.kernels import conv_direct

seeds = st.integers(0, 2**16)


THIN_CONV = conv_case(3, 5)   # thin inputs: 1-3 channels, any kernel, stride and padding


@settings(max_examples=40, deadline=None)
@given(case=THIN_CONV, seed=seeds, dtype=st.sampled_from([np.float32, np.float64]))
def test_the_kernels_equal_their_references(case, seed, dtype):
    (N, C, H, W), w_shape, S, padding = case
    OC, _, KH, KW = w_shape
    PT, PL, OH, OW = conv_geometry(H, W, KH, KW, S, padding)
    Hp, Wp = conv_direct.padded_size(KH, KW, S, OH, OW)
    x = normal_array((N, C, H, W), seed, dtype)
    w, b = normal_array(w_shape, seed + 1, dtype), normal_array((OC,), seed + 2, dtype)
    gy = normal_array((N, OC, OH, OW), seed + 3, dtype)
    xp = conv_direct.pad(x, Hp, Wp, PT, PL)
    np.testing.assert_array_equal(xp, conv_direct.pad_reference(x, Hp, Wp, PT, PL))
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    pairs = [(conv_direct.forward(xp, w, b, S, OH, OW),
              conv_direct.forward_reference(xp, w, b, S, OH, OW)),
             (conv_direct.input_grad(gy, w, H, W, S, PT, PL),
              conv_direct.input_grad_reference(gy, w, H, W, S, PT, PL)),
             (conv_direct.weight_grad(xp, gy, KH, KW, S),
              conv_direct.weight_grad_reference(xp, gy, KH, KW, S))]
    for got, want in pairs:
        assert got.dtype == dtype and got.shape == want.shape
        assert relative_error(got, want) <= rtol


def both_algorithms(x, w, b, gy, stride, padding, dtype="float64"):
    """{algorithm: [y, dx, dW, db]} of conv2d with the upstream gradient gy."""
    out = {}
    for algorithm in ("im2col", "direct"):
        xt, wt, bt = (mg.tensor(a, requires_grad=True, dtype=dtype) for a in (x, w, b))
        y = F.conv2d(xt, wt, bt, stride=stride, padding=padding, algorithm=algorithm)
        y.backward(gy)
        out[algorithm] = [y.numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()]
    return out


@settings(max_examples=30, deadline=None)
@given(case=THIN_CONV, seed=seeds)
def test_direct_equals_im2col_in_float64(case, seed):
    x_shape, w_shape, S, padding = case
    x, w = normal_array(x_shape, seed, np.float64), normal_array(w_shape, seed + 1, np.float64)
    b = normal_array(w_shape[:1], seed + 2, np.float64)
    _, _, OH, OW = conv_geometry(*x_shape[2:], *w_shape[2:], S, padding)
    gy = normal_array((x_shape[0], w_shape[0], OH, OW), seed + 3, np.float64)
    out = both_algorithms(x, w, b, gy, S, padding)
    for got, want in zip(out["direct"], out["im2col"]):
        assert got.dtype == np.float64
        assert relative_error(got, want) <= 1e-12


@settings(max_examples=20, deadline=None)
@given(case=THIN_CONV, seed=seeds, bias=st.booleans())
def test_direct_conv2d_gradcheck(case, seed, bias):
    x_shape, w_shape, S, padding = case
    x, w = randn(x_shape, seed=seed), randn(w_shape, seed=seed + 1)
    b = randn(w_shape[:1], seed=seed + 2)
    if bias:
        mg.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=S, padding=padding,
                                              algorithm="direct"), x, w, b)
    else:
        mg.gradcheck(lambda x, w: F.conv2d(x, w, stride=S, padding=padding, algorithm="direct"),
                     x, w)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", [
    ((8, 1, 28, 28), (32, 1, 3, 3), 1, 1),      # the discriminator's first layer
    ((8, 2, 28, 28), (32, 2, 3, 3), 1, 1),      # two images packed as channels
    ((8, 1, 28, 28), (64, 1, 4, 4), 2, 1),      # the DCGAN discriminator's first layer
])
def test_parity_with_pytorch_in_float32(x_shape, w_shape, stride, padding):
    """Against PyTorch's own float32 convolution: within float32 rounding of sums of up to
    C*KH*KW (y, dx) or N*OH*OW (dW, db) products."""
    torch = pytest.importorskip("torch")
    x, w = normal_array(x_shape, 4), normal_array(w_shape, 5)
    b = normal_array(w_shape[:1], 6)
    _, _, OH, OW = conv_geometry(*x_shape[2:], *w_shape[2:], stride, padding)
    gy = normal_array((x_shape[0], w_shape[0], OH, OW), 7)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch.nn.functional.conv2d(xt, wt, bt, stride=stride, padding=padding)
    yt.backward(torch.tensor(gy))
    ours = both_algorithms(x, w, b, gy, stride, padding, dtype="float32")["direct"]
    theirs = [yt.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()]
    for name, got, want in zip(("y", "dx", "dW", "db"), ours, theirs):
        assert got.dtype == np.float32, name
        assert relative_error(got, want) <= 1e-5, name


def seed_discriminator_gradients(x, weights, conv, dtype):
    """The seed discriminator's layers with tanh for LeakyReLU (smooth: no slope flips between
    float32 and float64) and no dropout, BCE against label 1: (dx, dW1, dW2, dWd) of the loss.
    conv(x, W, b, layer) runs a convolution."""
    W1, b1, W2, b2, Wd, bd = weights
    h = conv(x, W1, b1, 0).tanh()
    h = conv(h, W2, b2, 1).tanh()
    p = (h.reshape(x.shape[0], -1) @ Wd.T + bd).sigmoid()
    F.binary_cross_entropy(p, mg.tensor(np.ones(p.shape), dtype=dtype)).backward()
    return [t.grad.numpy() for t in (x, W1, W2, Wd)]


def test_a_real_networks_gradients_are_as_accurate_as_pytorchs():
    """The seed discriminator (1 -> 32 -> 64 channels, 3x3, tanh in place of LeakyReLU) on 16
    images in [-1, 1]: its input and weight gradients in float32, with the first layer run by the
    direct kernels (the second by im2col, so that Winograd's larger rounding does not decide it),
    against float64; the error must be within 3x PyTorch float32's own on the same network."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (16, 1, 28, 28))
    weights = [rng.uniform(-a, a, shape) for a, shape in [
        (0.45, (32, 1, 3, 3)), (0.05, (32,)), (0.1, (64, 32, 3, 3)), (0.05, (64,)),
        (0.01, (1, 64 * 28 * 28)), (0.05, (1,))]]

    def ours(dtype, first):
        def conv(h, W, b, layer):
            return F.conv2d(h, W, b, padding="same", algorithm=first if layer == 0 else "im2col")
        tensors = [mg.tensor(a, requires_grad=True, dtype=dtype) for a in [x, *weights]]
        return seed_discriminator_gradients(tensors[0], tensors[1:], conv, dtype)

    exact = ours("float64", "im2col")
    xt, *wt = (torch.tensor(a, dtype=torch.float32, requires_grad=True) for a in [x, *weights])
    h = torch.tanh(torch.nn.functional.conv2d(xt, wt[0], wt[1], padding=1))
    h = torch.tanh(torch.nn.functional.conv2d(h, wt[2], wt[3], padding=1))
    p = torch.sigmoid(h.reshape(16, -1) @ wt[4].T + wt[5])
    torch.nn.functional.binary_cross_entropy(p, torch.ones_like(p)).backward()
    theirs = [t.grad.numpy() for t in (xt, wt[0], wt[2], wt[4])]
    direct = ours("float32", "direct")
    for name, d, t, e in zip(("dx", "dW1", "dW2", "dWd"), direct, theirs, exact):
        assert d.dtype == np.float32, name
        bound = 3 * relative_error(t, e)   # measured: direct 0.1-1.0x PyTorch's, as im2col
        assert relative_error(d, e) <= bound, (name, relative_error(d, e), bound)


@pytest.mark.parametrize("x_shape, w_shape, stride, expected", [
    ((2, 1, 28, 28), (32, 1, 3, 3), 1, "direct"),       # the discriminator's first layer
    ((2, 2, 28, 28), (32, 2, 3, 3), 1, "direct"),       # packed pairs: depth 18
    ((2, 1, 28, 28), (64, 1, 4, 4), 2, "per_image"),    # stride 2: im2col's products faster
    ((2, 4, 28, 28), (32, 4, 3, 3), 1, "per_image"),    # depth 36
    ((2, 32, 28, 28), (64, 32, 3, 3), 1, "winograd"),
])
def test_auto_picks_direct_for_thin_stride_one_inputs(x_shape, w_shape, stride, expected):
    assert choose_algorithm("auto", np.zeros(x_shape, np.float32), w_shape, stride) == expected


def test_conv2d_runs_the_direct_kernels_when_chosen():
    x = mg.tensor(normal_array((2, 1, 6, 6)), requires_grad=True)
    w = mg.tensor(normal_array((4, 1, 3, 3), 1), requires_grad=True)
    assert type(F.conv2d(x, w)._ctx).__name__ == "Conv2dDirect"
    assert type(F.conv2d(x, w, algorithm="im2col")._ctx).__name__ == "Conv2d"
    layer = mg.nn.Conv2D(1, 4, 3, algorithm="direct")
    assert "algorithm='direct'" in repr(layer)
    y = layer(x)
    y.sum().backward()
    assert x.grad.shape == x.shape and layer.weight.grad.shape == layer.weight.shape
