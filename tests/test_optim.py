import math

import numpy as np
import pytest

import minigan as mg
from minigan import nn, optim


def quadratic_problem():
    """One parameter p, loss = sum((p - 3)^2): both optimizers must find p = 3."""
    p = nn.Parameter(np.zeros(4, dtype=np.float32))
    return p, lambda: ((p - 3.0) ** 2).sum()


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.5),
                                  lambda ps: optim.Adam(ps, lr=0.1)])
def test_optimizers_converge(make):
    p, loss = quadratic_problem()
    opt = make([p])
    for _ in range(300):
        opt.zero_grad()
        loss().backward()
        opt.step()
    np.testing.assert_allclose(p.numpy(), 3.0, atol=1e-2)
    assert p.dtype == np.float32


def test_adam_first_step_follows_the_formula():
    p = nn.Parameter(np.array([1.0, -2.0], dtype=np.float32))
    g = np.array([0.5, -4.0], dtype=np.float32)
    opt = optim.Adam([p], lr=0.01, betas=(0.8, 0.9), eps=1e-3)
    p.grad = mg.tensor(g)
    opt.step()
    m, v = 0.2 * g, 0.1 * g * g
    expected = np.array([1.0, -2.0]) - 0.01 / 0.2 * m / (np.sqrt(v) / math.sqrt(0.1) + 1e-3)
    np.testing.assert_allclose(p.numpy(), expected, rtol=1e-6)


def test_sgd_momentum_follows_the_formula():
    p = nn.Parameter(np.array([1.0], dtype=np.float32))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    for g, expected in [(1.0, 1.0 - 0.1), (2.0, 0.9 - 0.1 * (0.9 * 1 + 2))]:
        p.grad = mg.tensor([g])
        opt.step()
        np.testing.assert_allclose(p.numpy(), [expected], rtol=1e-6)


def test_parameters_without_grad_are_skipped():
    a, b = nn.Parameter(np.ones(2, dtype=np.float32)), nn.Parameter(np.ones(2, dtype=np.float32))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = mg.tensor([1.0, 1.0])
    opt.step()
    np.testing.assert_array_equal(b.numpy(), 1.0)
    assert not np.allclose(a.numpy(), 1.0)


def test_state_dict_round_trip_resumes_identically():
    def run(steps, opt_state=None, p_start=None):
        p = nn.Parameter(np.array([0.0, 1.0], dtype=np.float32) if p_start is None else p_start)
        opt = optim.Adam([p], lr=0.05)
        if opt_state is not None:
            opt.load_state_dict(opt_state)
        for _ in range(steps):
            opt.zero_grad()
            ((p - 2.0) ** 2).sum().backward()
            opt.step()
        return p, opt

    p_full, _ = run(6)
    p_half, opt_half = run(3)
    p_resumed, _ = run(3, opt_half.state_dict(), p_half.numpy())
    np.testing.assert_array_equal(p_full.numpy(), p_resumed.numpy())


def test_bad_hyperparameters_and_state_are_clear_errors():
    p = nn.Parameter(np.zeros(2, dtype=np.float32))
    with pytest.raises(ValueError, match="lr > 0"):
        optim.Adam([p], lr=-1)
    with pytest.raises(ValueError, match="momentum"):
        optim.SGD([p], lr=0.1, momentum=1.5)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    opt = optim.Adam([p])
    with pytest.raises(ValueError, match="state for 2 parameters"):
        opt.load_state_dict({"hyper": {}, "state": [{}, {}]})
