"""Winograd F(4x4, 3x3) convolution: its kernels against their NumPy references, the
convolution against im2col in float64 and by finite differences, PyTorch parity in float32, the
float32 error bound, and the dispatcher's choice.

The float32 bound: the transforms' coefficients (up to 25 in B^T d B, 8 in A^T M A) amplify
rounding. Measured on the discriminator's layer (64, 32, 28, 28) -> 64 channels with N(0, 1)
inputs and weights, the largest error against float64 is 6.5e-6 (forward), 6.8e-6 (dx) and
1.0e-5 (dW) of the largest value; im2col's is about 3e-7. The tests hold it to WINOGRAD_RTOL.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import minigan as mg
import minigan.functional as F
from conftest import normal_array, randn, relative_error
from minigan import kernels
from minigan.functional import conv_winograd
from minigan.functional.conv import WINOGRAD_MIN_CHANNELS, choose_algorithm, conv_geometry

WINOGRAD_RTOL = 5e-5   # float32 error / largest value (see the module docstring)
seeds = st.integers(0, 2**16)


@st.composite
def tiling(draw):
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    H, W = draw(st.integers(1, 13)), draw(st.integers(1, 13))
    PT, PL = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    OH, OW = H + 2 * PT - 2, W + 2 * PL - 2
    assume(OH >= 1 and OW >= 1)
    return N, C, H, W, PT, PL, OH, OW


@pytest.mark.gpu
@settings(max_examples=40, deadline=None)
@given(case=tiling(), seed=seeds, dtype=st.sampled_from([np.float32, np.float64]))
def test_the_gpu_transforms_equal_their_kronecker_references(case, seed, dtype):
    """The whole-batch steps on the GPU (the CPU runs the references themselves)."""
    import cupy
    batch = kernels.winograd_batch
    N, C, H, W, PT, PL, OH, OW = case
    TH, TW = -(-OH // 4), -(-OW // 4)
    x = normal_array((N, C, H, W), seed, dtype)
    M = normal_array((36, C, N * TH * TW), seed + 1, dtype)
    bias = normal_array((C,), seed + 2, dtype)
    gy = normal_array((N, C, OH, OW), seed + 3, dtype)
    dV = normal_array((36, C, N * TH * TW), seed + 4, dtype)
    x_, M_, bias_, gy_, dV_ = (cupy.asarray(a) for a in (x, M, bias, gy, dV))
    tol = 1e-6 if dtype == np.float32 else 1e-14
    pairs = [(batch.input_grad(dV_, N, H, W, PT, PL, TH, TW),
              batch.input_grad_reference(dV, N, H, W, PT, PL, TH, TW)),
             (batch.input_transform(x_, PT, PL, TH, TW),
              batch.input_transform_reference(x, PT, PL, TH, TW)),
             (batch.output_transform(M_, bias_, N, OH, OW, TH, TW),
              batch.output_transform_reference(M, bias, N, OH, OW, TH, TW)),
             *zip(batch.output_grad(gy_, TH, TW),       # dM and db
                  batch.output_grad_reference(gy, TH, TW))]
    for got, want in pairs:
        got = cupy.asnumpy(got)
        assert got.dtype == dtype and got.shape == want.shape
        assert relative_error(got, want) <= tol


@settings(max_examples=30, deadline=None)
@given(case=tiling(), OC=st.integers(1, 4), seed=seeds,
       dtype=st.sampled_from([np.float32, np.float64]), pieces=st.integers(1, 4))
def test_the_image_by_image_kernels_equal_their_references(case, OC, seed, dtype, pieces):
    """convolve_cpu and convolve_grads_cpu, on 1 to 4 threads' runs of images (more runs than
    images leaves some empty), against the transforms and GEMMs of the references."""
    N, C, H, W, PT, PL, OH, OW = case
    TH, TW = -(-OH // 4), -(-OW // 4)
    x, gy = normal_array((N, C, H, W), seed, dtype), normal_array((N, OC, OH, OW), seed + 1, dtype)
    U, bias = normal_array((36, OC, C), seed + 2, dtype), normal_array((OC,), seed + 3, dtype)
    fn = kernels.winograd.fused_gemm(x)
    assert fn, "no BLAS GEMM found for the image-by-image kernels"
    y = kernels.gemm.on_one_blas_thread(kernels.winograd.convolve_cpu, fn, x,
                                        np.ascontiguousarray(U.transpose(0, 2, 1)), bias, PT, PL,
                                        OH, OW, TH, TW, pieces)
    dx, dU, db = kernels.gemm.on_one_blas_thread(kernels.winograd.convolve_grads_cpu, fn, x, gy,
                                                 U, PT, PL, TH, TW, pieces, True, True)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    pairs = [(y, kernels.winograd.convolve_reference(x, U, bias, PT, PL, OH, OW)),
             *zip((dx, dU, db), kernels.winograd.convolve_grads_reference(x, gy, U, PT, PL))]
    for got, want in pairs:
        assert got.shape == want.shape
        assert relative_error(got, want) <= tol


@pytest.mark.parametrize("need_dx, need_dU", [(True, False), (False, True), (False, False)])
def test_the_gradients_not_needed_are_not_computed(need_dx, need_dU):
    x, gy = normal_array((3, 4, 7, 7)), normal_array((3, 5, 7, 7), 1)
    U = normal_array((36, 5, 4), 2)
    dx, dU, db = kernels.winograd.convolve_grads(x, gy, U, 1, 1, need_dx, need_dU)
    want = kernels.winograd.convolve_grads(x, gy, U, 1, 1)
    for got, expected, needed in ((dx, want[0], need_dx), (dU, want[1], need_dU)):
        assert (got is None) != needed
        if needed:
            np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(db, want[2])


def test_without_the_blas_the_steps_run_over_the_whole_batch(monkeypatch):
    """Where the image-by-image kernels have no BLAS to call (and on the GPU), convolve and
    convolve_grads run the transforms and the 36 GEMMs one after the other: the same numbers."""
    x, w = normal_array((3, 8, 9, 9), 0, np.float64), normal_array((6, 8, 3, 3), 1, np.float64)
    b, gy = normal_array((6,), 2, np.float64), normal_array((3, 6, 9, 9), 3, np.float64)
    fused = both_algorithms(x, w, b, gy)["winograd"]
    monkeypatch.setattr(kernels.winograd, "fused_gemm", lambda x: 0)
    calls = []
    by_steps = kernels.winograd.convolve_gpu
    monkeypatch.setattr(kernels.winograd, "convolve_gpu",
                        lambda *a: calls.append(1) or by_steps(*a))
    for got, want in zip(both_algorithms(x, w, b, gy)["winograd"], fused):
        assert relative_error(got, want) <= 1e-13
    assert calls


@st.composite
def winograd_conv(draw):
    N, C, OC = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    padding = draw(st.sampled_from(["same", "valid", 0, 1, 2, 3]))
    try:
        conv_geometry(H, W, 3, 3, 1, padding)
    except ValueError:
        assume(False)
    return (N, C, H, W), (OC, C, 3, 3), padding


@settings(deadline=None)
@given(case=winograd_conv(), seed=seeds, bias=st.booleans())
def test_winograd_conv2d_gradcheck(case, seed, bias):
    x_shape, w_shape, padding = case
    x, w = randn(x_shape, seed=seed), randn(w_shape, seed=seed + 1)
    b = randn(w_shape[:1], seed=seed + 2)
    if bias:
        mg.gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=padding, algorithm="winograd"),
                     x, w, b)
    else:
        mg.gradcheck(lambda x, w: F.conv2d(x, w, padding=padding, algorithm="winograd"), x, w)


def both_algorithms(x, w, b, gy, padding="same", dtype="float64"):
    """{algorithm: [y, dx, dW, db]} of conv2d with the upstream gradient gy."""
    out = {}
    for algorithm in ("im2col", "winograd"):
        xt, wt, bt = (mg.tensor(a, requires_grad=True, dtype=dtype) for a in (x, w, b))
        y = F.conv2d(xt, wt, bt, padding=padding, algorithm=algorithm)
        y.backward(gy)
        out[algorithm] = [y.numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()]
    return out


@settings(max_examples=30, deadline=None)
@given(case=winograd_conv(), seed=seeds)
def test_winograd_equals_im2col_in_float64(case, seed):
    """Forward and every gradient, also with padding 3 (rows of zeros only)."""
    x_shape, w_shape, padding = case
    x, w = normal_array(x_shape, seed, np.float64), normal_array(w_shape, seed + 1, np.float64)
    b = normal_array(w_shape[:1], seed + 2, np.float64)
    N, _, H, W = x_shape
    _, _, OH, OW = conv_geometry(H, W, 3, 3, 1, padding)
    gy = normal_array((N, w_shape[0], OH, OW), seed + 3, np.float64)
    out = both_algorithms(x, w, b, gy, padding)
    for got, want in zip(out["winograd"], out["im2col"]):
        assert got.dtype == np.float64
        assert relative_error(got, want) <= 1e-12


def test_the_float32_error_on_the_discriminators_layer_is_within_the_bound():
    """The bound stated in the module docstring, against float64, for y, dx, dW and db; float32
    in, float32 out (no silent upcast)."""
    x, w = normal_array((64, 32, 28, 28), 0), normal_array((64, 32, 3, 3), 1)
    b, gy = normal_array((64,), 2), normal_array((64, 64, 28, 28), 3)
    exact = both_algorithms(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                            gy.astype(np.float64))["im2col"]
    single = both_algorithms(x, w, b, gy, dtype="float32")["winograd"]
    for name, got, want in zip(("y", "dx", "dW", "db"), single, exact):
        assert got.dtype == np.float32, name
        assert relative_error(got, want) <= WINOGRAD_RTOL, name


def test_parity_with_pytorch_in_float32():
    torch = pytest.importorskip("torch")
    x, w = normal_array((8, 32, 28, 28), 4), normal_array((64, 32, 3, 3), 5) * 0.1
    b, gy = normal_array((64,), 6), normal_array((8, 64, 28, 28), 7)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    torch.nn.functional.conv2d(xt, wt, bt, padding=1).backward(torch.tensor(gy))
    yt = torch.nn.functional.conv2d(xt, wt, bt, padding=1)
    ours = both_algorithms(x, w, b, gy, dtype="float32")["winograd"]
    theirs = [yt.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()]
    for name, got, want in zip(("y", "dx", "dW", "db"), ours, theirs):
        assert relative_error(got, want) <= WINOGRAD_RTOL, name


@pytest.mark.parametrize("x_shape, w_shape, stride, expected", [
    ((2, 32, 28, 28), (64, 32, 3, 3), 1, "winograd"),   # the discriminator's 32 -> 64
    ((2, 1, 28, 28), (32, 1, 3, 3), 1, "direct"),       # 1 channel: too thin for Winograd
    ((2, 4, 28, 28), (32, 4, 3, 3), 1, "per_image"),    # 4 x 3 x 3 = 36: deep enough for GEMM
    ((2, 32, 28, 28), (64, 32, 3, 3), 2, "per_image"),  # stride 2
    ((2, 32, 28, 28), (64, 32, 5, 5), 1, "per_image"),  # 5x5
])
def test_auto_picks_winograd_where_it_fits_and_pays(x_shape, w_shape, stride, expected):
    x = np.zeros(x_shape, np.float32)
    assert choose_algorithm("auto", x, w_shape, stride) == expected
    assert min(w_shape[:2]) >= WINOGRAD_MIN_CHANNELS or expected != "winograd"


def test_conv2d_runs_the_algorithm_it_chose():
    x = mg.tensor(normal_array((2, 8, 6, 6)), requires_grad=True)
    w = mg.tensor(normal_array((8, 8, 3, 3), 1), requires_grad=True)
    assert type(F.conv2d(x, w)._ctx).__name__ == "Conv2dWinograd"
    assert type(F.conv2d(x, w, algorithm="im2col")._ctx).__name__ == "Conv2d"


def test_bad_algorithms_are_one_clear_line():
    x, w = mg.tensor(normal_array((1, 2, 6, 6))), mg.tensor(normal_array((2, 2, 5, 5)))
    with pytest.raises(ValueError, match="algorithm must be one of"):
        F.conv2d(x, w, algorithm="fft")
    with pytest.raises(ValueError, match="needs a 3x3 kernel at stride 1, got kernel .5, 5., "
                                         "stride 1; use algorithm='auto'"):
        F.conv2d(x, w, algorithm="winograd")
    with pytest.raises(ValueError, match="Conv2D: algorithm must be one of"):
        mg.nn.Conv2D(2, 2, 3, algorithm="fft")
    with pytest.raises(ValueError, match="Conv2D: algorithm='winograd' needs a 3x3 kernel at "
                                         "stride 1, got kernel .3, 3., stride 2"):
        mg.nn.Conv2D(2, 2, 3, stride=2, algorithm="winograd")


def test_the_exact_kernel_transform_round_trips():
    """G is Lavin & Gray's: (G g G^T) multiplied by (B^T d B) and brought back by A^T . A gives
    the 4x4 correlation of a 6x6 tile with the 3x3 kernel, exactly in float64."""
    rng = np.random.default_rng(0)
    d, g = rng.standard_normal((6, 6)), rng.standard_normal((3, 3))
    G, BT, AT = conv_winograd.G, kernels.winograd_tiles.B_T, kernels.winograd_tiles.A_T
    y = AT @ ((G @ g @ G.T) * (BT @ d @ BT.T)) @ AT.T
    direct = np.array([[(d[i:i + 3, j:j + 3] * g).sum() for j in range(4)] for i in range(4)])
    np.testing.assert_allclose(y, direct, rtol=0, atol=1e-12)


@pytest.mark.gpu
def test_winograd_on_the_gpu_equals_im2col():
    cupy = pytest.importorskip("cupy")
    if not cupy.is_available():
        pytest.skip("needs a CUDA GPU")
    x, w = normal_array((4, 16, 12, 12)), normal_array((8, 16, 3, 3), 1)
    got, want = (F.conv2d(mg.tensor(x, device="gpu"), mg.tensor(w, device="gpu"),
                          algorithm=a).numpy() for a in ("winograd", "im2col"))
    assert relative_error(got, want) <= WINOGRAD_RTOL
