"""Winograd's F(4x4, 2x2) on the phases of a 4x4 stride-2 kernel (Conv2D and ConvTranspose2D on
the CPU): both layers against im2col in float64 and by finite differences, for any geometry; the
float32 error bound on the DCGAN's layers; PyTorch parity; the float32 accuracy of a real
network's gradients; the dispatchers' choice.

The float32 bound: the transforms' coefficients (up to 3 in B^T d B, 4/3 in G) amplify
rounding, as F(4x4, 3x3)'s do (test_conv_winograd.py). Measured on the DCGAN discriminator's
layer (16, 64, 14, 14) -> 128 channels and the generator's transposed layer (16, 128, 7, 7) -> 64,
N(0, 1) inputs and weights, the largest error against float64, of the largest value: y 6.4e-6,
dx 4.1e-6, dW 1.1e-6 (the convolution), y 4.0e-6, dx 6.0e-6, dW 1.3e-6 (the transposed one);
im2col's 3.5e-7 to 6.0e-7. The tests hold it to PHASES_RTOL, about 5x the largest."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import minigan as mg
import minigan.functional as F
from conftest import (DCGAN_NETWORK_GRADIENTS, dcgan_network_gradients, normal_array, randn,
                      relative_error)
from minigan.functional import conv_transpose
from minigan.functional.conv import choose_algorithm, conv_geometry

PHASES_RTOL = 3e-5   # float32 error / largest value (see the module docstring)
seeds = st.integers(0, 2**16)


@st.composite
def any_conv(draw):
    """A 4x4 stride-2 convolution that fits its input: 1-3 images, 1-4 channels in and out,
    sides 1-12, padding "same", "valid" or 0-3."""
    N, C, OC = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    H, W = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    padding = draw(st.sampled_from(["same", "valid", 0, 1, 2, 3]))
    try:
        conv_geometry(H, W, 4, 4, 2, padding)
    except ValueError:
        assume(False)
    return (N, C, H, W), (OC, C, 4, 4), padding


@st.composite
def any_conv_transpose(draw):
    N, C, OC = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    H, W = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    P, output_padding = draw(st.integers(0, 3)), draw(st.integers(0, 1))
    try:
        OH, OW = conv_transpose.conv_transpose_geometry(H, W, 4, 4, 2, P, output_padding)
    except ValueError:
        assume(False)
    return (N, C, H, W), (C, OC, 4, 4), P, output_padding, (OH, OW)


def results(x, w, b, gy, algorithm, padding, dtype="float64", transpose=False,
            output_padding=0):
    """[y, dx, dW, db] of conv2d (or conv_transpose2d) at stride 2 for the upstream gradient."""
    xt, wt, bt = (mg.tensor(a, requires_grad=True, dtype=dtype) for a in (x, w, b))
    if transpose:
        y = F.conv_transpose2d(xt, wt, bt, stride=2, padding=padding,
                               output_padding=output_padding, algorithm=algorithm)
    else:
        y = F.conv2d(xt, wt, bt, stride=2, padding=padding, algorithm=algorithm)
    assert type(y._ctx).__name__.endswith("Phases") == (algorithm == "phases")
    y.backward(gy)
    return [y.numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()]


@settings(max_examples=40, deadline=None)
@given(case=any_conv(), seed=seeds)
def test_conv2d_on_the_phases_equals_im2col_in_float64(case, seed):
    x_shape, w_shape, padding = case
    x, w = normal_array(x_shape, seed, np.float64), normal_array(w_shape, seed + 1, np.float64)
    b = normal_array(w_shape[:1], seed + 2, np.float64)
    _, _, OH, OW = conv_geometry(*x_shape[2:], 4, 4, 2, padding)
    gy = normal_array((x_shape[0], w_shape[0], OH, OW), seed + 3, np.float64)
    for got, want in zip(results(x, w, b, gy, "phases", padding),
                         results(x, w, b, gy, "im2col", padding)):
        assert got.dtype == np.float64 and relative_error(got, want) <= 1e-12


@settings(max_examples=30, deadline=None)
@given(case=any_conv_transpose(), seed=seeds)
def test_conv_transpose2d_on_the_phases_equals_im2col_in_float64(case, seed):
    x_shape, w_shape, P, output_padding, (OH, OW) = case
    x, w = normal_array(x_shape, seed, np.float64), normal_array(w_shape, seed + 1, np.float64)
    b = normal_array(w_shape[1:2], seed + 2, np.float64)
    gy = normal_array((x_shape[0], w_shape[1], OH, OW), seed + 3, np.float64)
    both = [results(x, w, b, gy, algorithm, P, transpose=True, output_padding=output_padding)
            for algorithm in ("phases", "im2col")]
    for got, want in zip(*both):
        assert got.dtype == np.float64 and relative_error(got, want) <= 1e-12


@settings(max_examples=10, deadline=None)
@given(case=any_conv(), seed=seeds)
def test_conv2d_on_the_phases_gradcheck(case, seed):
    x_shape, w_shape, padding = case
    x, w, b = (randn(s, seed=seed + i) for i, s in enumerate((x_shape, w_shape, w_shape[:1])))
    mg.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=padding,
                                          algorithm="phases"), x, w, b)


@settings(max_examples=10, deadline=None)
@given(case=any_conv_transpose(), seed=seeds)
def test_conv_transpose2d_on_the_phases_gradcheck(case, seed):
    x_shape, w_shape, P, output_padding, _ = case
    x, w, b = (randn(s, seed=seed + i) for i, s in enumerate((x_shape, w_shape, w_shape[1:2])))
    mg.gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=P,
                                                    output_padding=output_padding,
                                                    algorithm="phases"), x, w, b)


def test_the_gradients_not_needed_are_not_computed():
    """A frozen layer's weight gradient and a first layer's input gradient are skipped, and the
    others are those of a full backward."""
    x, w = normal_array((2, 8, 14, 14), 0), normal_array((16, 8, 4, 4), 1)
    gy = normal_array((2, 16, 7, 7), 2)
    full = results(x, w, np.zeros(16, np.float32), gy, "phases", 1, dtype="float32")
    for x_grad, w_grad in ((True, False), (False, True)):
        xt = mg.tensor(x, requires_grad=x_grad)
        wt = mg.tensor(w, requires_grad=w_grad)
        F.conv2d(xt, wt, stride=2, padding=1, algorithm="phases").backward(gy)
        assert (xt.grad is None) != x_grad and (wt.grad is None) != w_grad
        if x_grad:
            np.testing.assert_array_equal(xt.grad.numpy(), full[1])
        else:
            np.testing.assert_array_equal(wt.grad.numpy(), full[2])


@pytest.mark.parametrize("transpose, x_shape, w_shape", [
    (False, (16, 64, 14, 14), (128, 64, 4, 4)), (True, (16, 128, 7, 7), (128, 64, 4, 4))])
def test_the_float32_error_on_the_dcgan_layers_is_within_the_bound(transpose, x_shape, w_shape):
    """The bound of the module docstring, against float64, for y, dx, dW and db; float32 in,
    float32 out (no silent upcast)."""
    x, w = normal_array(x_shape, 0), normal_array(w_shape, 1)
    out_channels = w_shape[1] if transpose else w_shape[0]
    b = normal_array((out_channels,), 2)
    side = x_shape[2] * 2 if transpose else x_shape[2] // 2
    gy = normal_array((x_shape[0], out_channels, side, side), 3)
    exact = results(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                    gy.astype(np.float64), "im2col", 1, transpose=transpose)
    single = results(x, w, b, gy, "phases", 1, dtype="float32", transpose=transpose)
    for name, got, want in zip(("y", "dx", "dW", "db"), single, exact):
        assert got.dtype == np.float32, name
        assert relative_error(got, want) <= PHASES_RTOL, name


DCGAN_LAYERS = [  # (transpose, x shape, weight shape): the layers auto runs on the phases
    (False, (8, 64, 14, 14), (128, 64, 4, 4)), (True, (8, 128, 7, 7), (128, 64, 4, 4))]


@pytest.mark.parametrize("transpose, x_shape, w_shape", DCGAN_LAYERS)
def test_parity_with_pytorch_in_float32(transpose, x_shape, w_shape):
    torch = pytest.importorskip("torch")
    x, w = normal_array(x_shape, 4), normal_array(w_shape, 5) * 0.1
    b = normal_array((w_shape[1] if transpose else w_shape[0],), 6)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    layer = torch.nn.functional.conv_transpose2d if transpose else torch.nn.functional.conv2d
    yt = layer(xt, wt, bt, stride=2, padding=1)
    gy = normal_array(tuple(yt.shape), 7)
    yt.backward(torch.tensor(gy))
    ours = results(x, w, b, gy, "phases", 1, dtype="float32", transpose=transpose)
    theirs = [yt.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()]
    for name, got, want in zip(("y", "dx", "dW", "db"), ours, theirs):
        assert got.dtype == np.float32, name
        assert relative_error(got, want) <= PHASES_RTOL, name


def test_a_real_networks_gradients_are_within_winograds_factor_of_pytorchs_error():
    """conftest.dcgan_network_gradients with the convolutions as "auto" runs them (the 128 -> 64
    and 64 -> 128 layers on the phases): every weight's gradient and the input's, in float32,
    against float64; the error must be within 25x PyTorch float32's own on the same network.
    Measured: 2.1-3.1x on the four convolutions' weights, 10.4x on the input's gradient and
    12.7x on the Dense weight's, which both reach through two layers on the phases, each of
    whose float32 error is 8-12x PyTorch's (the module docstring): F(4x4, 3x3)'s class, 15x on
    its layer."""
    exact, single, theirs = dcgan_network_gradients("auto")
    for name, got, t, e in zip(DCGAN_NETWORK_GRADIENTS, single, theirs, exact):
        assert got.dtype == np.float32, name
        assert relative_error(got, e) <= 25 * relative_error(t, e), name


@pytest.mark.parametrize("x_shape, w_shape, expected", [
    ((2, 64, 14, 14), (128, 64, 4, 4), "phases"),      # the DCGAN discriminator's 64 -> 128
    ((2, 1, 28, 28), (64, 1, 4, 4), "per_image"),      # 1 channel in: the GEMMs too thin
    ((2, 4, 14, 14), (128, 4, 4, 4), "per_image"),     # 4 channels in
])
def test_auto_picks_the_phases_where_they_fit_and_pay(x_shape, w_shape, expected):
    x = np.zeros(x_shape, np.float32)
    assert choose_algorithm("auto", x, w_shape, 2) == expected
    assert choose_algorithm("auto", x, w_shape, 1) != "phases"        # stride 1
    transposed = (w_shape[0], w_shape[1], 4, 4)                        # (C_in, C_out, 4, 4)
    assert conv_transpose.choose_algorithm("auto", x, transposed, 2) == expected
    assert conv_transpose.choose_algorithm("auto", x, transposed, 1) == "per_image"


def test_the_phases_asked_of_another_kernel_is_one_clear_line():
    x = mg.tensor(normal_array((2, 8, 8, 8)))
    for op in (lambda: F.conv2d(x, mg.tensor(normal_array((8, 8, 3, 3))), stride=2,
                                algorithm="phases"),
               lambda: F.conv_transpose2d(x, mg.tensor(normal_array((8, 8, 4, 4))), stride=1,
                                          algorithm="phases")):
        with pytest.raises(ValueError, match="algorithm='phases' needs a 4x4 kernel at stride "
                                             "2, got kernel"):
            op()
