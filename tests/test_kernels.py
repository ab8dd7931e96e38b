"""Every Numba kernel against a plain-NumPy oracle written here, independently of the kernels'
own *_reference functions (which are checked too)."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from minigan import kernels
from minigan.functional.conv import conv_geometry

seeds = st.integers(0, 2**16)


@st.composite
def conv_cases(draw):
    """(x shape, KH, KW, S, padding) as the issue asks: batch 1..8, channels 1..5, sizes 1..12,
    kernel 1/3/5, stride 1/2, padding same/valid/int."""
    N, C = draw(st.integers(1, 8)), draw(st.integers(1, 5))
    H, W = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    K = draw(st.sampled_from([1, 3, 5]))
    S = draw(st.sampled_from([1, 2]))
    padding = draw(st.sampled_from(["same", "valid", 0, 1, 2]))
    try:
        conv_geometry(H, W, K, K, S, padding)
    except ValueError:
        assume(False)  # the kernel does not fit this image
    return (N, C, H, W), K, K, S, padding


def oracle_im2col(x, KH, KW, S, PT, PL, OH, OW):
    """Pad, take every KHxKW window (sliding_window_view), keep every S-th -> (C*KH*KW, N*OH*OW)."""
    N, C, H, W = x.shape
    PB = max((OH - 1) * S + KH - H - PT, 0)
    PR = max((OW - 1) * S + KW - W - PL, 0)
    padded = np.pad(x, ((0, 0), (0, 0), (PT, PB), (PL, PR)))
    windows = sliding_window_view(padded, (KH, KW), axis=(2, 3))[:, :, ::S, ::S][:, :, :OH, :OW]
    # windows: (N, C, OH, OW, KH, KW) -> (C, KH, KW, N, OH, OW)
    return windows.transpose(1, 4, 5, 0, 2, 3).reshape(C * KH * KW, N * OH * OW)


def oracle_col2im(cols, shape, KH, KW, S, PT, PL, OH, OW):
    """The adjoint, one window at a time: add each column back where it came from."""
    N, C, H, W = shape
    cols = cols.reshape(C, KH, KW, N, OH, OW)
    x = np.zeros((N, C, H + KH + S * OH, W + KW + S * OW), dtype=cols.dtype)
    for oh in range(OH):
        for ow in range(OW):
            x[:, :, oh * S:oh * S + KH, ow * S:ow * S + KW] += \
                cols[:, :, :, :, oh, ow].transpose(3, 0, 1, 2)
    return x[:, :, PT:PT + H, PL:PL + W]


@given(case=conv_cases(), seed=seeds)
def test_im2col_kernel_equals_oracle(case, seed):
    shape, KH, KW, S, padding = case
    PT, PL, OH, OW = conv_geometry(shape[2], shape[3], KH, KW, S, padding)
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    expected = oracle_im2col(x, KH, KW, S, PT, PL, OH, OW)
    np.testing.assert_array_equal(kernels.im2col.im2col(x, KH, KW, S, PT, PL, OH, OW), expected)
    np.testing.assert_array_equal(kernels.im2col.im2col_reference(x, KH, KW, S, PT, PL, OH, OW),
                                  expected)


@given(case=conv_cases(), seed=seeds)
def test_col2im_kernel_equals_oracle_and_is_the_adjoint(case, seed):
    shape, KH, KW, S, padding = case
    PT, PL, OH, OW = conv_geometry(shape[2], shape[3], KH, KW, S, padding)
    rng = np.random.default_rng(seed)
    cols = rng.standard_normal((shape[1] * KH * KW, shape[0] * OH * OW)).astype(np.float32)
    got = kernels.im2col.col2im(cols, shape[2], shape[3], KH, KW, S, PT, PL, OH, OW)
    expected = oracle_col2im(cols, shape, KH, KW, S, PT, PL, OH, OW)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        kernels.im2col.col2im_reference(cols, shape[2], shape[3], KH, KW, S, PT, PL, OH, OW),
        expected, rtol=1e-5, atol=1e-5)
    # <im2col(x), cols> == <x, col2im(cols)>: col2im is exactly the transpose of im2col
    x = rng.standard_normal(shape).astype(np.float32)
    lhs = np.vdot(kernels.im2col.im2col(x, KH, KW, S, PT, PL, OH, OW).astype(np.float64), cols)
    assert lhs == pytest.approx(np.vdot(x.astype(np.float64), got), rel=1e-4, abs=1e-3)


def test_im2col_accepts_non_contiguous_input():
    x = np.random.default_rng(0).standard_normal((3, 2, 6, 5)).astype(np.float32)[:, :, ::-1]
    got = kernels.im2col.im2col(x, 3, 3, 1, 1, 1, 6, 5)
    np.testing.assert_array_equal(got, oracle_im2col(np.ascontiguousarray(x), 3, 3, 1, 1, 1, 6, 5))


shapes = st.tuples(st.integers(1, 4), st.integers(1, 40))


@given(shape=shapes, seed=seeds, alpha=st.sampled_from([0.01, 0.2]))
def test_leaky_relu_kernels(shape, seed, alpha):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    x[0, 0] = 0.0  # the kink itself: slope alpha, as PyTorch
    gy = rng.standard_normal(shape).astype(np.float32)
    expected_y = np.where(x > 0, x, np.float32(alpha) * x)
    expected_gx = np.where(x > 0, gy, np.float32(alpha) * gy)
    np.testing.assert_array_equal(kernels.leaky_relu.forward(x, alpha), expected_y)
    np.testing.assert_array_equal(kernels.leaky_relu.backward(x, gy, alpha), expected_gx)
    np.testing.assert_array_equal(kernels.leaky_relu.forward_reference(x, alpha), expected_y)
    assert kernels.leaky_relu.forward(x, alpha).dtype == np.float32


def splitmix64_oracle(seed, i):
    """splitmix64 of counter i + 1, in Python integers (no NumPy wrapping involved)."""
    mask = (1 << 64) - 1
    z = (seed + (i + 1) * 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


@given(shape=shapes, seed=st.integers(0, 2**63 - 1), rate=st.sampled_from([0.0, 0.3, 0.5, 0.9]))
def test_dropout_kernels(shape, seed, rate):
    x = np.random.default_rng(seed % 2**32).standard_normal(shape).astype(np.float32)
    threshold = kernels.dropout.keep_threshold(rate)
    scale = 1 / (1 - rate)
    keep_expected = np.array([splitmix64_oracle(seed, i) >> 40 >= threshold
                              for i in range(x.size)]).reshape(shape)
    y, keep = kernels.dropout.forward(x, seed, threshold, scale)
    np.testing.assert_array_equal(keep, keep_expected)
    np.testing.assert_allclose(y, np.where(keep_expected, x * np.float32(scale), 0), rtol=1e-6)
    np.testing.assert_array_equal(kernels.dropout.apply(x, keep, scale), y)
    ref_y, ref_keep = kernels.dropout.forward_reference(x, seed, threshold, scale)
    np.testing.assert_array_equal(ref_keep, keep_expected)
    np.testing.assert_allclose(ref_y, y, rtol=1e-6)


def test_dropout_mask_statistics():
    x = np.ones(200_000, dtype=np.float32)
    _, keep = kernels.dropout.forward(x, 7, kernels.dropout.keep_threshold(0.3), 1 / 0.7)
    assert abs(keep.mean() - 0.7) < 0.005
    assert abs(keep[:-1].astype(float) @ keep[1:] / (x.size - 1) - 0.49) < 0.005  # neighbours
    # independent


@given(shape=shapes, seed=seeds)
def test_bce_kernels(shape, seed):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 1, shape).astype(np.float32)
    p.flat[0], p.flat[-1] = 0.0, 1.0  # the clamped ends
    t = rng.choice(np.array([0.0, 1.0, 0.3], dtype=np.float32), shape)
    gy = rng.standard_normal(shape).astype(np.float32)
    p64, t64 = p.astype(np.float64), t.astype(np.float64)
    with np.errstate(divide="ignore"):
        expected = -(t64 * np.maximum(np.log(p64), -100) + (1 - t64) * np.maximum(np.log1p(-p64),
                                                                                   -100))
    expected_grad = gy * (p64 - t64) / np.maximum(p64 * (1 - p64), 1e-12)
    np.testing.assert_allclose(kernels.bce.forward(p, t), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(kernels.bce.backward(p, t, gy), expected_grad, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(kernels.bce.forward_reference(p, t), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(kernels.bce.backward_reference(p, t, gy), expected_grad, rtol=1e-5,
                               atol=1e-6)
    assert np.isfinite(kernels.bce.forward(p, t)).all()
