"""Every Numba kernel against a plain-NumPy oracle written here, independently of the kernels'
own *_reference functions (which are checked too)."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from conftest import normal_array
from minigan import kernels
from minigan.functional.conv import conv_geometry

seeds = st.integers(0, 2**16)


@st.composite
def conv_cases(draw):
    """(x shape, KH, KW, S, padding) over batch 1..8, channels 1..5, sizes 1..12, kernel 1/3/5,
    stride 1/2 and padding same/valid/int, each kernel fitting its image."""
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
    x = normal_array(shape, seed)
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
    x = normal_array((3, 2, 6, 5))[:, :, ::-1]
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


def mix32_oracle(z):
    """lowbias32 in Python integers (no NumPy wrapping involved)."""
    mask = (1 << 32) - 1
    z ^= z >> 16
    z = (z * 0x7FEB352D) & mask
    z ^= z >> 15
    z = (z * 0x846CA68B) & mask
    return z ^ (z >> 16)


def keep_oracle(seed, i, threshold):
    s0, s1 = seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF
    h = mix32_oracle(mix32_oracle((i + s0) & 0xFFFFFFFF) ^ s1)
    return (h >> 8) >= threshold


@given(shape=shapes, seed=st.integers(0, 2**63 - 1), rate=st.sampled_from([0.0, 0.3, 0.5, 0.9]),
       alpha=st.sampled_from([1.0, 0.01, 0.2]))
def test_dropout_kernels(shape, seed, rate, alpha):
    rng = np.random.default_rng(seed % 2**32)
    x = rng.standard_normal(shape).astype(np.float32)
    gy = rng.standard_normal(shape).astype(np.float32)
    threshold = kernels.dropout.keep_threshold(rate)
    scale = 1 / (1 - rate)
    keep_expected = np.array([keep_oracle(seed, i, threshold)
                              for i in range(x.size)]).reshape(shape)
    act = np.where(x > 0, x, np.float32(alpha) * x)
    y, keep = kernels.dropout.forward(x, seed, threshold, scale, alpha)
    np.testing.assert_array_equal(keep, keep_expected)
    np.testing.assert_allclose(y, np.where(keep_expected, act * np.float32(scale), 0), rtol=1e-6)
    np.testing.assert_array_equal(kernels.dropout.apply(act, keep, scale), y)
    ref_y, ref_keep = kernels.dropout.forward_reference(x, seed, threshold, scale, alpha)
    np.testing.assert_array_equal(ref_keep, keep_expected)
    np.testing.assert_allclose(ref_y, y, rtol=1e-6)
    slope = np.where(x > 0, np.float32(1), np.float32(alpha))
    gx = kernels.dropout.apply(gy, keep, scale, x, alpha)
    np.testing.assert_allclose(gx, np.where(keep, gy * slope * np.float32(scale), 0), rtol=1e-6)
    assert gx.dtype == np.float32 and y.dtype == np.float32
    np.testing.assert_array_equal(kernels.dropout.apply_reference(gy, x, keep, scale, alpha), gx)


def test_dropout_mask_statistics():
    x = np.ones(200_000, dtype=np.float32)
    for seed in (7, 2**40 + 3):
        _, keep = kernels.dropout.forward(x, seed, kernels.dropout.keep_threshold(0.3), 1 / 0.7)
        assert abs(keep.mean() - 0.7) < 0.005
        for lag in (1, 2, 784):  # neighbours, and one image row of 28 x 28 apart: independent
            assert abs(keep[:-lag].astype(float) @ keep[lag:] / (x.size - lag) - 0.49) < 0.005
    # two seeds that differ only in the high half draw unrelated masks
    _, a = kernels.dropout.forward(x, 5, kernels.dropout.keep_threshold(0.5), 2.0)
    _, b = kernels.dropout.forward(x, 5 + 2**32, kernels.dropout.keep_threshold(0.5), 2.0)
    assert abs((a == b).mean() - 0.5) < 0.01


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


@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 30), st.integers(1, 9)), seed=seeds,
       bias=st.booleans())
def test_layout_kernels_equal_their_references(shape, seed, bias):
    N, OC, P = shape
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((OC, N * P)).astype(np.float32)
    b = rng.standard_normal(OC).astype(np.float32) if bias else None
    expected = kernels.layout.to_nchw_reference(y, b if bias else np.zeros(OC, np.float32), N)
    got = kernels.layout.to_nchw(y, b, N)
    np.testing.assert_array_equal(got, expected)
    assert got.shape == (N, OC, P) and got.dtype == np.float32
    g = rng.standard_normal((N, OC, P)).astype(np.float32)
    expected = kernels.layout.from_nchw_reference(g)
    np.testing.assert_array_equal(kernels.layout.from_nchw(g), expected)
    np.testing.assert_array_equal(kernels.layout.from_nchw(kernels.layout.to_nchw(y, None, N)), y)


@given(size=st.integers(1, 300), seed=seeds, t=st.integers(1, 50),
       betas=st.sampled_from([(0.9, 0.999), (0.5, 0.999), (0.0, 0.9)]))
def test_adam_kernel_equals_the_numpy_update(size, seed, t, betas):
    rng = np.random.default_rng(seed)
    p, g, m = (rng.standard_normal(size).astype(np.float32) for _ in range(3))
    v = rng.uniform(0, 2, size).astype(np.float32)
    ref = [a.copy() for a in (p, g, m, v)]
    kernels.adam.step(p, g, m, v, 1e-3, *betas, 1e-8, t)
    kernels.adam.step_reference(*ref, 1e-3, *betas, 1e-8, t)
    for got, want in zip((p, m, v), (ref[0], ref[2], ref[3])):
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)
        assert got.dtype == np.float32
    q = np.zeros((3, 4), np.float32)
    kernels.adam.step(q, np.ones((3, 4), np.float32), np.zeros_like(q), np.zeros_like(q),
                      0.1, 0.9, 0.999, 1e-8, 1)
    np.testing.assert_allclose(q, -0.1, rtol=1e-5)  # first step moves by lr * sign(g)


@pytest.mark.parametrize("R, index, width", [(10, np.arange(64) % 10, 50), (4, [3, 0, 3, -1], 7),
                                             (3, [2], 1), (5, [0, 0, 0], 4097)])
def test_add_rows_equals_numpys_add_at(R, index, width):
    """Rows picked twice get both gradients, -1 is the last row, and the block edge (4096
    columns) is crossed; every row's sum runs over k in order, as np.add.at's does."""
    index = np.asarray(index)
    gy = normal_array((index.size, width), 3)
    got = kernels.rows.add_rows(R, index, gy)
    np.testing.assert_array_equal(got, kernels.rows.add_rows_reference(R, index, gy))
    assert got.dtype == np.float32
    g3 = normal_array((index.size, 2, 3), 4)      # rows of any shape: the trailing axes flatten
    np.testing.assert_array_equal(kernels.rows.add_rows(R, index, g3),
                                  kernels.rows.add_rows_reference(
                                      R, index, g3.reshape(index.size, 6)).reshape(R, 2, 3))


@pytest.mark.parametrize("n, F, G", [(64, 50176, 50960), (3, 5, 5), (1, 4097, 4100)])
def test_the_minibatch_std_kernels_equal_their_references(n, F, G):
    """Each feature's squared deviations summed over the rows in order (as NumPy's sum over
    axis 0), and the input gradient from the first F of G columns of gy."""
    x2, mu = normal_array((n, F), 1), normal_array((F,), 2)
    gy2, scale = normal_array((n, G), 3), normal_array((F,), 4)
    ms = kernels.minibatch_std
    np.testing.assert_array_equal(ms.squared_deviations(x2, mu),
                                  ms.squared_deviations_reference(x2, mu))
    np.testing.assert_array_equal(ms.input_grad(gy2, x2, mu, scale),
                                  ms.input_grad_reference(gy2, x2, mu, scale))


# The layout of a kernel file (kernels/__init__.py states the rule and its exceptions)
ONE_DEVICE = {("adam", "step_many"): "gpu", ("bce", "first_outside_domain"): "cpu",
              **{("batch_norm", op): "cpu" for op in ("stats", "normalize", "grad")},
              **{("conv_phases", op): "cpu" for op in ("forward", "grads")}}
NUMPY_IS_THE_CPU_PATH = {"sigmoid_tanh", "winograd_batch"}


def _defined_lines(module):
    """{name: first line} of the functions a kernel file defines (Numba's included)."""
    import inspect
    lines = {}
    for name, obj in vars(module).items():
        fn = getattr(obj, "py_func", obj)
        if inspect.isfunction(fn) and fn.__module__ == module.__name__:
            lines[name] = fn.__code__.co_firstlineno
    return lines


@pytest.mark.parametrize("name", kernels.__all__)
def test_each_kernel_has_reference_cpu_gpu_and_dispatcher_in_order(name):
    module = getattr(kernels, name)
    lines = _defined_lines(module)
    ops = {f[:-4] for f in lines if f.endswith(("_cpu", "_gpu"))}
    assert ops, f"{name} defines no kernel"
    for op in ops:
        device = ONE_DEVICE.get((name, op))
        suffixes = ["_reference", "_cpu", "_gpu", ""]
        if device is not None:
            suffixes = [f"_{device}", ""]
        elif name in NUMPY_IS_THE_CPU_PATH:
            suffixes.remove("_cpu")
        order = [lines.get(op + s) for s in suffixes]
        assert None not in order, f"{name}.{op}: needs {[op + s for s in suffixes]}"
        assert order == sorted(order), f"{name}.{op}: not in the order {suffixes}"


def test_cpu_dispatchers_take_any_layout_and_keep_the_shape():
    """run_flat: a strided or 0-d input gives the result of its contiguous copy, in its shape."""
    x = normal_array((4, 6))[:, ::2].T                            # (3, 4), not contiguous
    gy = normal_array((3, 4), seed=1)
    p, t = np.abs(np.tanh(x)), (gy > 0).astype(np.float32)
    xc = np.ascontiguousarray(x)
    for got, want in [(kernels.leaky_relu.forward(x, 0.2), kernels.leaky_relu.forward(xc, 0.2)),
                      (kernels.leaky_relu.backward(x, gy, 0.2),
                       kernels.leaky_relu.backward_reference(xc, gy, 0.2)),
                      (kernels.bce.backward(p, t, gy.T.copy().T),
                       kernels.bce.backward_reference(p, t, gy)),
                      (kernels.dropout.apply(x, gy > 0, 2.0), np.where(gy > 0, 2 * xc, 0))]:
        assert got.shape == (3, 4) and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)
    y, keep = kernels.dropout.forward(x, 3, kernels.dropout.keep_threshold(0.5), 2.0)
    assert y.shape == keep.shape == (3, 4)
    np.testing.assert_array_equal(y, kernels.dropout.forward(xc, 3, 2 ** 23, 2.0)[0])
    scalar = np.float32(-2.0).reshape(())
    assert kernels.leaky_relu.forward(scalar, 0.5).shape == ()
    assert kernels.bce.forward(np.float32(0.5).reshape(()), np.float32(1).reshape(())).shape == ()
