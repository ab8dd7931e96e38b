"""im2col's products image by image (Conv2D and ConvTranspose2D on the CPU): the kernels against
their NumPy references, both layers against the whole-batch im2col in float64 and by finite
differences, PyTorch parity in float32 on the DCGAN's layers, the float32 accuracy of a real
network's gradients, and the dispatchers' choice.

Float32 accuracy: each output is the same sum of products as the whole-batch path's GEMM (y, dx)
or, for dW, the same products summed image by image over fixed runs of images; so its error
against float64 is of the same size as im2col's and PyTorch's."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import minigan as mg
import minigan.functional as F
from conftest import (DCGAN_NETWORK_GRADIENTS, conv_case, dcgan_network_gradients, normal_array,
                      randn, relative_error)
from minigan.functional import conv_transpose
from minigan.functional.conv import conv_geometry
from minigan.kernels import conv_per_image as per_image

seeds = st.integers(0, 2**16)


ANY_CONV = conv_case(4, 4)   # 1-4 channels in and out, any kernel, stride and padding


@settings(max_examples=40, deadline=None)
@given(case=ANY_CONV, seed=seeds, dtype=st.sampled_from([np.float32, np.float64]))
def test_the_kernels_equal_their_references(case, seed, dtype):
    """Each op, image by image (the BLAS path) and over the whole batch (the GPU's composition,
    run here on NumPy arrays), against the NumPy reference."""
    (N, C, H, W), (OC, _, KH, KW), S, padding = case
    PT, PL, OH, OW = conv_geometry(H, W, KH, KW, S, padding)
    x = normal_array((N, C, H, W), seed, dtype)
    w2 = normal_array((OC, C * KH * KW), seed + 1, dtype)
    b, gy = normal_array((OC,), seed + 2, dtype), normal_array((N, OC, OH, OW), seed + 3, dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    geometry = (KH, KW, S, PT, PL)
    for op, args in [("forward", (x, w2, b, *geometry, OH, OW)),
                     ("input_grad", (gy, w2, H, W, *geometry)),
                     ("weight_grad", (x, gy, *geometry))]:
        want = getattr(per_image, op + "_reference")(*args)
        for got in (getattr(per_image, op)(*args), getattr(per_image, op + "_gpu")(*args)):
            assert got.dtype == dtype and got.shape == want.shape, op
            assert relative_error(got, want) <= rtol, op


def conv_results(x, w, b, gy, algorithm, stride, padding, dtype="float64", transpose=False,
                 output_padding=0):
    """[y, dx, dW, db] of conv2d (or conv_transpose2d) with the upstream gradient gy."""
    xt, wt, bt = (mg.tensor(a, requires_grad=True, dtype=dtype) for a in (x, w, b))
    if transpose:
        y = F.conv_transpose2d(xt, wt, bt, stride=stride, padding=padding,
                               output_padding=output_padding, algorithm=algorithm)
    else:
        y = F.conv2d(xt, wt, bt, stride=stride, padding=padding, algorithm=algorithm)
    y.backward(gy)
    return [y.numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()]


@settings(max_examples=30, deadline=None)
@given(case=ANY_CONV, seed=seeds)
def test_conv2d_per_image_equals_im2col_in_float64(case, seed):
    x_shape, w_shape, S, padding = case
    x, w = normal_array(x_shape, seed, np.float64), normal_array(w_shape, seed + 1, np.float64)
    b = normal_array(w_shape[:1], seed + 2, np.float64)
    _, _, OH, OW = conv_geometry(*x_shape[2:], *w_shape[2:], S, padding)
    gy = normal_array((x_shape[0], w_shape[0], OH, OW), seed + 3, np.float64)
    for got, want in zip(conv_results(x, w, b, gy, "per_image", S, padding),
                         conv_results(x, w, b, gy, "im2col", S, padding)):
        assert got.dtype == np.float64 and relative_error(got, want) <= 1e-12


@st.composite
def any_conv_transpose(draw):
    N, C, OC = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    H, W = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    K, S = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    P, output_padding = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    assume(output_padding < S)
    try:
        OH, OW = conv_transpose.conv_transpose_geometry(H, W, K, K, S, P, output_padding)
    except ValueError:
        assume(False)
    return (N, C, H, W), (C, OC, K, K), S, P, output_padding, (OH, OW)


@settings(max_examples=30, deadline=None)
@given(case=any_conv_transpose(), seed=seeds)
def test_conv_transpose2d_per_image_equals_im2col_in_float64(case, seed):
    x_shape, w_shape, S, P, output_padding, (OH, OW) = case
    x, w = normal_array(x_shape, seed, np.float64), normal_array(w_shape, seed + 1, np.float64)
    b = normal_array(w_shape[1:2], seed + 2, np.float64)
    gy = normal_array((x_shape[0], w_shape[1], OH, OW), seed + 3, np.float64)
    both = [conv_results(x, w, b, gy, algorithm, S, P, transpose=True,
                         output_padding=output_padding) for algorithm in ("per_image", "im2col")]
    for got, want in zip(*both):
        assert got.dtype == np.float64 and relative_error(got, want) <= 1e-12


@settings(max_examples=15, deadline=None)
@given(case=ANY_CONV, seed=seeds)
def test_conv2d_per_image_gradcheck(case, seed):
    x_shape, w_shape, S, padding = case
    x, w, b = randn(x_shape, seed=seed), randn(w_shape, seed=seed + 1), randn(w_shape[:1],
                                                                           seed=seed + 2)
    mg.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=S, padding=padding,
                                          algorithm="per_image"), x, w, b)


@settings(max_examples=15, deadline=None)
@given(case=any_conv_transpose(), seed=seeds)
def test_conv_transpose2d_per_image_gradcheck(case, seed):
    x_shape, w_shape, S, P, output_padding, _ = case
    x, w, b = randn(x_shape, seed=seed), randn(w_shape, seed=seed + 1), randn(w_shape[1:2],
                                                                           seed=seed + 2)
    mg.gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=S, padding=P,
                                                    output_padding=output_padding,
                                                    algorithm="per_image"), x, w, b)


DCGAN_LAYERS = [  # (transpose, x shape, weight shape): the DCGAN's strided layers, batch 8
    (False, (8, 1, 28, 28), (64, 1, 4, 4)), (False, (8, 64, 14, 14), (128, 64, 4, 4)),
    (True, (8, 128, 7, 7), (128, 64, 4, 4)), (True, (8, 64, 14, 14), (64, 1, 4, 4))]


@pytest.mark.parametrize("transpose, x_shape, w_shape", DCGAN_LAYERS)
def test_parity_with_pytorch_in_float32(transpose, x_shape, w_shape):
    """4x4 kernels, stride 2, padding 1, against PyTorch's float32 layers: within float32
    rounding of sums of up to 1,024 (y, dx) or 12,544 (dW, db) products."""
    torch = pytest.importorskip("torch")
    x, w = normal_array(x_shape, 4), normal_array(w_shape, 5) * 0.1
    b = normal_array((w_shape[1] if transpose else w_shape[0],), 6)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    layer = torch.nn.functional.conv_transpose2d if transpose else torch.nn.functional.conv2d
    yt = layer(xt, wt, bt, stride=2, padding=1)
    gy = normal_array(tuple(yt.shape), 7)
    yt.backward(torch.tensor(gy))
    ours = conv_results(x, w, b, gy, "per_image", 2, 1, dtype="float32", transpose=transpose)
    theirs = [yt.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()]
    for name, got, want in zip(("y", "dx", "dW", "db"), ours, theirs):
        assert got.dtype == np.float32, name
        assert relative_error(got, want) <= 1e-5, name


def test_a_real_networks_gradients_are_as_accurate_as_pytorchs():
    """conftest.dcgan_network_gradients with every layer image by image: every weight's gradient
    and the input's, in float32, against float64; the error must be within 3x PyTorch
    float32's own on the same network."""
    exact, single, theirs = dcgan_network_gradients("per_image")
    for name, got, t, e in zip(DCGAN_NETWORK_GRADIENTS, single, theirs, exact):
        assert got.dtype == np.float32, name
        assert relative_error(got, e) <= 3 * relative_error(t, e), name  # measured 0.4-1.2x


def test_the_dispatchers_pick_per_image_on_the_cpu():
    """Where no faster algorithm fits (a 3x3 kernel at stride 2; a 4x4 stride-2 kernel with too
    few channels for the phases, test_conv_phases.py)."""
    from minigan.functional.conv import choose_algorithm
    x = np.zeros((2, 64, 14, 14), np.float32)
    assert choose_algorithm("auto", x, (128, 64, 3, 3), 2) == "per_image"
    assert choose_algorithm("auto", x, (128, 4, 4, 4), 2) == "per_image"
    assert choose_algorithm("im2col", x, (128, 64, 4, 4), 2) == "im2col"
    assert conv_transpose.choose_algorithm("auto", x, (64, 1, 4, 4), 2) == "per_image"
    assert conv_transpose.choose_algorithm("auto", x, (64, 32, 3, 3), 2) == "per_image"
    assert conv_transpose.choose_algorithm("im2col", x, (64, 32, 4, 4), 2) == "im2col"
    xt = mg.tensor(normal_array((2, 4, 5, 5)), requires_grad=True)
    w = mg.tensor(normal_array((4, 3, 4, 4), 1), requires_grad=True)
    assert type(F.conv_transpose2d(xt, w, stride=2)._ctx).__name__ == "ConvTranspose2dPerImage"
    assert type(F.conv_transpose2d(xt, w, stride=2, algorithm="im2col")._ctx).__name__ \
        == "ConvTranspose2d"
    assert type(F.conv2d(xt, w.transpose(1, 0, 2, 3), stride=2)._ctx).__name__ \
        == "Conv2dPerImage"
    with pytest.raises(ValueError, match="conv_transpose2d: algorithm must be one of"):
        F.conv_transpose2d(xt, w, algorithm="winograd")
