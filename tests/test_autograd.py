"""Gradient checks of every core op over hypothesis-drawn shapes, and the engine's behaviour."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigan as mg
import minigan.functional as F
from conftest import away_from_zero, positive, positive_array, randn

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)
seeds = st.integers(0, 2**16)


def axis_for(shape):
    """None, one axis (maybe negative) or a tuple of distinct axes of `shape`."""
    n = len(shape)
    if n == 0:
        return st.just(None)
    one = st.integers(-n, n - 1)
    many = st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True).map(tuple)
    return st.one_of(st.none(), one, many)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@given(shapes=pairs, seed=seeds)
def test_binary_ops_broadcast(op, shapes, seed):
    a_shape, b_shape = shapes.input_shapes
    a = randn(a_shape, seed=seed)
    b = positive(b_shape, seed=seed + 1) if op == "div" else randn(b_shape, seed=seed + 1)
    fn = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b,
          "mul": lambda a, b: a * b, "div": lambda a, b: a / b}[op]
    mg.gradcheck(fn, a, b)


@given(shape=shapes, seed=seeds)
def test_scalars_and_arrays_mix_on_either_side(shape, seed):
    x = positive(shape, seed=seed)
    c = positive_array(shape, seed, np.float64)  # an array of x's dtype
    mg.gradcheck(lambda x: 2.0 - x * 3 + 1 / x - c * x + x / c + (c - x) + 0.5 * x, x)


@given(shape=shapes, seed=seeds, exponent=st.sampled_from([2, 3, 0.5, -1.0, 1.5]))
def test_pow(shape, seed, exponent):
    mg.gradcheck(lambda x: -(x ** exponent), positive(shape, seed=seed))


matmul_cases = st.sampled_from([
    ((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((2, 2, 3), (2, 3, 4)),
    ((2, 2, 3), (3, 4)), ((3,), (2, 3, 4)), ((1, 2, 3), (4, 3, 2)), ((2, 1, 2, 3), (3, 3, 1))])


@given(case=matmul_cases, seed=seeds)
def test_matmul(case, seed):
    a_shape, b_shape = case
    mg.gradcheck(lambda a, b: a @ b, randn(a_shape, seed=seed), randn(b_shape, seed=seed + 1))


@pytest.mark.parametrize("reduction", ["sum", "mean", "max"])
@given(data=st.data(), shape=shapes, keepdims=st.booleans(), seed=seeds)
def test_reductions(reduction, data, shape, keepdims, seed):
    axis = data.draw(axis_for(shape))
    x = randn(shape, seed=seed)  # continuous draws: max has no ties
    mg.gradcheck(lambda x: getattr(x, reduction)(axis=axis, keepdims=keepdims), x)


def test_max_shares_the_gradient_between_ties():
    x = mg.tensor([1.0, 3.0, 3.0, 0.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.5, 0.5, 0.0])


@given(shape=shapes, seed=seeds, data=st.data())
def test_reshape_transpose_broadcast(shape, seed, data):
    x = randn(shape, seed=seed)
    axes = data.draw(st.permutations(range(len(shape))))
    target = (2,) + shape
    mg.gradcheck(lambda x: x.reshape(-1).reshape(shape).transpose(*axes), x)
    mg.gradcheck(lambda x: x.transpose() * x.T, x)
    mg.gradcheck(lambda x: x.broadcast_to(target), x)


@given(seed=seeds, index=st.sampled_from([
    (slice(None), 1), (slice(1, None, 2),), (Ellipsis, -1), (None, 0, slice(None, None, -1)),
    (1, slice(0, 2), None), (np.array([0, 2, 2]),), (slice(None), np.array([3, 0, 3]))]))
def test_getitem(seed, index):
    mg.gradcheck(lambda x: x[index], randn((3, 4, 2), seed=seed))


@given(seed=seeds, axis=st.sampled_from([0, 1, -1]))
def test_concatenate(seed, axis):
    a, b, c = randn((2, 3), seed=seed), randn((2, 3), seed=seed + 1), randn((2, 3), seed=seed + 2)
    mg.gradcheck(lambda a, b, c: mg.concatenate([a, b, c], axis=axis), a, b, c)


@pytest.mark.parametrize("fn", ["exp", "log", "tanh", "sigmoid", "relu", "leaky_relu"])
@given(shape=shapes, seed=seeds)
def test_elementwise(fn, shape, seed):
    x = positive(shape, seed=seed) if fn == "log" else away_from_zero(shape, seed=seed)
    method = (lambda x: x.leaky_relu(0.2)) if fn == "leaky_relu" else (lambda x: getattr(x, fn)())
    functional = (lambda x: F.leaky_relu(x, 0.2)) if fn == "leaky_relu" else getattr(F, fn)
    mg.gradcheck(method, x)
    mg.gradcheck(functional, x)


@given(seed=seeds, n=st.integers(1, 4), bias=st.booleans())
def test_dense(seed, n, bias):
    x, w, b = randn((n, 3), seed=seed), randn((2, 3), seed=seed + 1), randn((2,), seed=seed + 2)
    if bias:
        mg.gradcheck(lambda x, w, b: F.dense(x, w, b), x, w, b)
    else:
        mg.gradcheck(lambda x, w: F.dense(x, w), x, w)


def test_gradcheck_catches_a_wrong_backward(monkeypatch):
    """The checker itself must fail on a backward that forgets to multiply by gy."""
    from minigan import autograd
    monkeypatch.setattr(autograd.Exp, "backward", lambda self, gy: self.y)
    with pytest.raises(mg.GradcheckError, match=r"input 0 .* index"):
        mg.gradcheck(lambda x: x.exp(), randn((3,)))


# The engine's behaviour
def test_gradients_accumulate_across_backward_calls():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 + 2, 3 + 4])


def test_a_tensor_used_twice_gets_both_gradients():
    x = mg.tensor(2.0, requires_grad=True)
    y = x * x          # diamond: x feeds both operands, and z uses y twice
    z = y * y + y
    z.backward()
    assert x.grad.item() == pytest.approx(4 * 2.0 ** 3 + 2 * 2.0)


def test_non_scalar_backward_needs_a_grad():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="explicit grad"):
        (x * 2).backward()
    (x * 2).backward(np.array([1.0, -1.0], dtype=np.float32))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, -2.0])
    with pytest.raises(ValueError, match="grad has shape"):
        (x * 2).backward(np.ones(3, dtype=np.float32))


def test_graph_is_freed_unless_retained():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])
    with pytest.raises(RuntimeError, match="already freed"):
        y.backward()


def test_no_grad_records_nothing():
    x = mg.tensor([1.0], requires_grad=True)
    with mg.no_grad():
        y = x * 2
    assert not y.requires_grad and y._ctx is None
    assert (x * 2).requires_grad

    @mg.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_detach_cuts_the_graph_and_shares_data():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d._ctx is None
    y = (d * x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])  # d counted as a constant


def test_tensor_wraps_an_array_as_it_is():
    """Tensor(array): the public wrap. Shared memory, dtype and device kept, no history."""
    a = np.arange(3, dtype=np.float64)
    t = mg.Tensor(a)
    assert t.data is a and t.dtype == np.float64 and t.device == "cpu"
    assert not t.requires_grad and t.grad is None and t._ctx is None
    a[0] = 7.0
    assert t.numpy()[0] == 7.0
    assert mg.Tensor([1, 2]).dtype == np.float32  # a list converts, as minigan.tensor does
    assert mg.Tensor(a, requires_grad=True).requires_grad


@pytest.mark.parametrize("bias", [False, True])
def test_layer_functions_return_one_gradient_per_input(bias):
    """Dense and Conv2d say by their `bias=None` whether a bias came, not by counting inputs."""
    from minigan.functional.conv import Conv2d
    from minigan.functional.linear import Dense
    cases = [(Dense(), randn((2, 3)), randn((4, 3), seed=1), randn((4,), seed=2)),
             (Conv2d(1, "same"), randn((1, 2, 4, 4)), randn((3, 2, 3, 3), seed=1),
              randn((3,), seed=2))]
    for fn, x, w, b in cases:
        y = fn(x, w, b) if bias else fn(x, w)
        grads = fn.backward(np.ones(y.shape))
        assert len(grads) == (3 if bias else 2) and all(g is not None for g in grads)
        assert fn.has_bias is bias


def test_float32_by_default_and_no_silent_upcast():
    x = mg.tensor(np.arange(3.0))          # float64 data becomes float32: tensor() converts
    assert x.dtype == np.float32
    assert (x * 2.5).dtype == np.float32 and (x + np.ones(3, np.float32)).dtype == np.float32
    assert (np.ones(3, np.float32) * x).dtype == np.float32  # ndarray on the left defers
    with pytest.raises(TypeError, match="dtype mismatch"):
        x + mg.tensor([1.0, 2.0, 3.0], dtype="float64")


def test_item_numpy_and_properties():
    x = mg.tensor([[1.5]], requires_grad=True)
    assert x.item() == 1.5 and x.shape == (1, 1) and x.ndim == 2 and x.device == "cpu"
    assert x.requires_grad and x.grad is None
    with pytest.raises(ValueError, match="one element"):
        mg.tensor([1.0, 2.0]).item()


def test_deep_graph_does_not_hit_the_recursion_limit():
    x = mg.tensor([0.5], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad.item() == 1.0
