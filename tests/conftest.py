"""Shared fixtures: the `xp` fixture (numpy always, cupy when a GPU exists) and input helpers."""
import numpy as np
import pytest
from hypothesis import settings

import minigan as mg
from minigan import backend

settings.register_profile("minigan", deadline=None, max_examples=15, derandomize=True)
settings.load_profile("minigan")


def gpu_available():
    try:
        backend.check_device("gpu")
    except mg.DeviceError:
        return False
    return True


def pytest_collection_modifyitems(config, items):
    if gpu_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU with CuPy (cupy.is_available() is false)")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


@pytest.fixture(params=["cpu", pytest.param("gpu", marks=pytest.mark.gpu)])
def device(request):
    return request.param


@pytest.fixture
def xp(device):
    return backend.xp(device)


@pytest.fixture(autouse=True)
def _reset_state():
    """Each test starts on the CPU with a fixed seed and gradients enabled."""
    mg.set_device("cpu")
    mg.manual_seed(0)
    yield
    mg.set_device("cpu")


@pytest.fixture
def no_shipped_mnist(monkeypatch, tmp_path):
    """Hide the MNIST copy shipped in data/mnist: only the folders a test names hold files."""
    from minigan import data
    monkeypatch.setattr(data, "SHIPPED_DIR", tmp_path / "no-shipped-mnist")


# Inputs: NumPy arrays (float32 unless asked), and float64 tensors that require grad for
# gradient checks (gradcheck promotes anyway; float64 keeps parity exact). The same seed gives the
# same values in either form.
def normal_array(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def positive_array(shape, seed=0, dtype=np.float32):
    """Uniform in [0.5, 2): safe for log, division and powers."""
    return np.random.default_rng(seed).uniform(0.5, 2.0, shape).astype(dtype)


def away_from_zero_array(shape, seed=0, margin=0.1, dtype=np.float32):
    """Normal draws pushed out to |x| >= margin: finite differences must not cross a kink at 0."""
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.where(x >= 0, x + margin, x - margin).astype(dtype)


def tiny_images(n=48, seed=0):
    """n flattened 28x28 "images", uniform in [-1, 1] like MNIST after data.load."""
    return np.random.default_rng(seed).uniform(-1, 1, (n, 784)).astype(np.float32)


def quiet(line):
    """A log that drops every line: trainers in tests run silently."""


def randomized_batch_norm(bn, seed, training):
    """bn (BatchNorm1d or 2d) with random weight, bias and running statistics, in train or eval
    mode: the defaults (1, 0, 0, 1) would hide a swapped operand."""
    rng, n = np.random.default_rng(seed), bn.num_features
    bn.weight.data[:] = rng.uniform(0.5, 1.5, n)
    bn.bias.data[:] = rng.standard_normal(n)
    bn.running_mean.data[:] = rng.standard_normal(n)
    bn.running_var.data[:] = rng.uniform(0.5, 2, n)
    return bn.train(training)


def _float64_tensor(data, device, requires_grad):
    return mg.tensor(data, requires_grad=requires_grad, dtype="float64", device=device)


def randn(shape, device="cpu", seed=0, requires_grad=True):
    return _float64_tensor(normal_array(shape, seed, np.float64), device, requires_grad)


def away_from_zero(shape, device="cpu", seed=0, requires_grad=True, margin=0.1):
    return _float64_tensor(away_from_zero_array(shape, seed, margin, np.float64), device,
                           requires_grad)


def positive(shape, device="cpu", seed=0, requires_grad=True):
    return _float64_tensor(positive_array(shape, seed, np.float64), device, requires_grad)


def relative_error(actual, expected):
    """The largest error relative to the largest value expected."""
    return float(np.abs(actual - expected).max() / max(np.abs(expected).max(), 1e-30))


def conv_case(max_channels, max_out):
    """A hypothesis strategy: (x shape, weight shape, stride, padding) of a convolution that fits
    its input: 1-3 images, 1..max_channels channels in, 1..max_out out, sides 1-10, kernel sides
    1-5, stride 1-3, padding "same", "valid", 0, 1 or 2."""
    from hypothesis import assume
    from hypothesis import strategies as st

    from minigan.functional.conv import conv_geometry

    @st.composite
    def case(draw):
        N, C = draw(st.integers(1, 3)), draw(st.integers(1, max_channels))
        OC = draw(st.integers(1, max_out))
        H, W = draw(st.integers(1, 10)), draw(st.integers(1, 10))
        KH, KW, S = draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(1, 3))
        padding = draw(st.sampled_from(["same", "valid", 0, 1, 2]))
        try:
            conv_geometry(H, W, KH, KW, S, padding)
        except ValueError:
            assume(False)
        return (N, C, H, W), (OC, C, KH, KW), S, padding
    return case()
