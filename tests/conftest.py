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


def randn(shape, device="cpu", seed=0, requires_grad=True):
    """A float64 test input (gradcheck promotes anyway; float64 keeps parity exact)."""
    data = np.random.default_rng(seed).standard_normal(shape)
    return mg.tensor(data, requires_grad=requires_grad, dtype="float64", device=device)


def away_from_zero(shape, device="cpu", seed=0, requires_grad=True, margin=0.1):
    """Like randn but |x| >= margin: finite differences must not cross a kink at 0."""
    data = np.random.default_rng(seed).standard_normal(shape)
    data = np.where(data >= 0, data + margin, data - margin)
    return mg.tensor(data, requires_grad=requires_grad, dtype="float64", device=device)


def positive(shape, device="cpu", seed=0, requires_grad=True):
    data = np.random.default_rng(seed).uniform(0.5, 2.0, shape)
    return mg.tensor(data, requires_grad=requires_grad, dtype="float64", device=device)
