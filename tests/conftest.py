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


def dcgan_network_gradients(algorithm):
    """(exact, single, torch's) gradients of a small DCGAN-shaped network: the generator's two
    transposed convolutions into the discriminator's two strided convolutions (4x4, stride 2,
    tanh between them: smooth, so no slope flips between float32 and float64), a Dense and BCE
    against label 1, on 8 inputs of (128, 7, 7). Each is [dz, dW of the six layers]: minigan in
    float64 with im2col (exact), minigan in float32 running the convolutions by `algorithm`
    (single), and PyTorch in float32 (whose error against exact is the yardstick)."""
    torch = pytest.importorskip("torch")
    import minigan.functional as F
    rng = np.random.default_rng(0)
    z = rng.standard_normal((8, 128, 7, 7))
    shapes = [(128, 64, 4, 4), (64, 1, 4, 4), (64, 1, 4, 4), (128, 64, 4, 4), (1, 128 * 49)]
    weights = [rng.uniform(-a, a, s) for a, s in zip((0.05, 0.1, 0.3, 0.05, 0.02), shapes)]

    def network(conv_t, conv, sigmoid_bce, z, W):
        h = conv_t(conv_t(z, W[0]).tanh(), W[1]).tanh()          # (8, 1, 28, 28)
        h = conv(conv(h, W[2]).tanh(), W[3]).tanh()              # (8, 128, 7, 7)
        return sigmoid_bce(h.reshape(8, -1) @ W[4].T)

    def ours(dtype, algorithm):
        z_, *W = (mg.tensor(a, requires_grad=True, dtype=dtype) for a in [z, *weights])
        network(lambda h, w: F.conv_transpose2d(h, w, stride=2, padding=1, algorithm=algorithm),
                lambda h, w: F.conv2d(h, w, stride=2, padding=1, algorithm=algorithm),
                lambda a: F.binary_cross_entropy(a.sigmoid(), mg.tensor(np.ones((8, 1)),
                                                                        dtype=dtype)),
                z_, W).backward()
        return [t.grad.numpy() for t in [z_, *W]]

    tz, *tW = (torch.tensor(a, dtype=torch.float32, requires_grad=True) for a in [z, *weights])
    network(lambda h, w: torch.nn.functional.conv_transpose2d(h, w, stride=2, padding=1),
            lambda h, w: torch.nn.functional.conv2d(h, w, stride=2, padding=1),
            lambda a: torch.nn.functional.binary_cross_entropy(torch.sigmoid(a),
                                                               torch.ones(8, 1)),
            tz, tW).backward()
    return ours("float64", "im2col"), ours("float32", algorithm), [t.grad.numpy()
                                                                   for t in [tz, *tW]]


DCGAN_NETWORK_GRADIENTS = ("dz", "dW convT1", "dW convT2", "dW conv1", "dW conv2", "dW dense")
