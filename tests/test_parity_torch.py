"""Parity with PyTorch (float32 on both sides): forward values and gradients of every op, a
two-layer Dense network, and ten steps of SGD (momentum) and Adam.

Each op case is a function `fn(ops, *xs)` run twice, once with minigan tensors and `ops = MG`,
once with torch tensors and `ops = TORCH`; `ops` supplies what differs between the libraries
(function names, constants: minigan gets the NumPy array itself, torch a tensor of it).
"""
import numpy as np
import pytest

import minigan as mg
import minigan.functional as F
from conftest import away_from_zero_array as away_from_zero
from conftest import normal_array as normal
from conftest import positive_array as positive

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RTOL, ATOL = 1e-5, 1e-6            # elementwise ops: float32 rounding only
RED_RTOL, RED_ATOL = 1e-4, 1e-5    # matmul and reductions: the summation order differs


def _seed(name):
    return sum(map(ord, name))  # a stable per-case seed (hash() of a str is salted per run)


def no_ties(shape, seed=0):
    """Distinct values at least 1 apart (plus noise < 0.5): max has a unique argmax anywhere."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    return (rng.permutation(n) + rng.uniform(-0.25, 0.25, n)).reshape(shape).astype(np.float32)


class MG:
    """The minigan side of an op case."""

    c = staticmethod(lambda a: a)  # constants stay NumPy arrays: tests the ndarray interop
    exp, log = staticmethod(F.exp), staticmethod(F.log)
    tanh, sigmoid, relu = staticmethod(F.tanh), staticmethod(F.sigmoid), staticmethod(F.relu)
    leaky_relu = staticmethod(lambda x, alpha: F.leaky_relu(x, alpha))
    dense = staticmethod(lambda x, w, b=None: F.dense(x, w, b))
    concat = staticmethod(lambda xs, axis: mg.concatenate(xs, axis=axis))
    sum = staticmethod(lambda x, axis, keepdims: x.sum(axis=axis, keepdims=keepdims))
    mean = staticmethod(lambda x, axis, keepdims: x.mean(axis=axis, keepdims=keepdims))
    max = staticmethod(lambda x, axis, keepdims: x.max(axis=axis, keepdims=keepdims))
    transpose = staticmethod(lambda x, *axes: x.transpose(*axes))
    T = staticmethod(lambda x: x.T)
    broadcast_to = staticmethod(lambda x, shape: x.broadcast_to(shape))
    getitem = staticmethod(lambda x, index, flip=(): x[index])


def _torch_reduce(fn, x, axis, keepdims):
    if axis is None:
        y = fn(x)  # over everything
        return y.reshape((1,) * x.ndim) if keepdims else y
    return fn(x, dim=axis, keepdim=keepdims)


def _torch_index(index):
    if not isinstance(index, tuple):
        index = (index,)
    return tuple(torch.from_numpy(i) if isinstance(i, np.ndarray) else i for i in index)


def _torch_getitem(x, index, flip=()):
    """x[index]; torch has no negative slice steps, so those cases flip the axes `flip` first
    and index with the equivalent positive-step slices."""
    if flip:
        x = torch.flip(x, dims=flip)
    return x[_torch_index(index)]


class TORCH:
    """The torch side of an op case."""

    c = staticmethod(torch.from_numpy)
    exp, log = staticmethod(torch.exp), staticmethod(torch.log)
    tanh, sigmoid, relu = staticmethod(torch.tanh), staticmethod(torch.sigmoid), \
        staticmethod(torch.relu)
    leaky_relu = staticmethod(lambda x, alpha: TF.leaky_relu(x, alpha))
    dense = staticmethod(lambda x, w, b=None: TF.linear(x, w, b))
    concat = staticmethod(lambda xs, axis: torch.cat(xs, dim=axis))
    sum = staticmethod(lambda x, axis, keepdims: _torch_reduce(torch.sum, x, axis, keepdims))
    mean = staticmethod(lambda x, axis, keepdims: _torch_reduce(torch.mean, x, axis, keepdims))
    max = staticmethod(lambda x, axis, keepdims: _torch_reduce(torch.amax, x, axis, keepdims))
    transpose = staticmethod(lambda x, *axes: x.permute(*(axes or reversed(range(x.ndim)))))
    T = staticmethod(lambda x: x.permute(*reversed(range(x.ndim))))  # torch's .T: 2-D only
    broadcast_to = staticmethod(lambda x, shape: x.broadcast_to(shape))
    getitem = staticmethod(_torch_getitem)


def check_parity(fn, arrays, rtol=RTOL, atol=ATOL, seed=0):
    """fn on minigan and on torch twins of `arrays`: same forward, same input gradients for the
    same random upstream gradient."""
    xs = [mg.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, yt = fn(MG, *xs), fn(TORCH, *ts)
    assert y.dtype == np.float32 and yt.dtype == torch.float32
    assert y.shape == tuple(yt.shape)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=rtol, atol=atol)

    gy = normal(y.shape, seed=seed + 1000)
    y.backward(gy)
    yt.backward(torch.from_numpy(gy))
    for i, (x, t) in enumerate(zip(xs, ts)):
        assert x.grad is not None, f"input {i} got no gradient"
        assert x.grad.shape == x.shape and x.grad.dtype == np.float32
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i}")


def cases(*items):
    """pytest params from (id, fn, arrays) or (id, fn, arrays, rtol, atol) items."""
    return [pytest.param(*item, id=item[0]) for item in items]


def run_case(name, fn, arrays, rtol=RTOL, atol=ATOL):
    check_parity(fn, arrays, rtol=rtol, atol=atol, seed=_seed(name))


# ---------------------------------------------------------------------------------------------
# Arithmetic: tensor-tensor with broadcasting, Python scalars and NumPy arrays on either side

A34, B4, A214, B31 = normal((3, 4), 1), normal((4,), 2), normal((2, 1, 4), 3), normal((3, 1), 4)
C4, C34, P4, P34 = normal((4,), 5), normal((3, 4), 6), positive((4,), 7), positive((3, 4), 8)

ARITH = cases(
    ("add_same", lambda o, a, b: a + b, [A34, C34]),
    ("add_(3,4)+(4,)", lambda o, a, b: a + b, [A34, B4]),
    ("add_(4,)+(3,4)", lambda o, a, b: a + b, [B4, A34]),
    ("add_(2,1,4)+(3,1)", lambda o, a, b: a + b, [A214, B31]),
    ("sub_(3,4)-(4,)", lambda o, a, b: a - b, [A34, B4]),
    ("sub_(3,1)-(2,1,4)", lambda o, a, b: a - b, [B31, A214]),
    ("mul_(3,4)*(4,)", lambda o, a, b: a * b, [A34, B4]),
    ("mul_(2,1,4)*(3,1)", lambda o, a, b: a * b, [A214, B31]),
    ("div_(3,4)/(4,)", lambda o, a, b: a / b, [A34, P4]),
    ("div_(4,)/(3,4)", lambda o, a, b: a / b, [B4, P34]),
    ("div_(2,1,4)/(3,1)", lambda o, a, b: a / b, [A214, positive((3, 1), 9)]),
    ("x+x", lambda o, x: x + x, [A34]),
    ("x*x", lambda o, x: x * x, [A34]),
    ("x/x", lambda o, x: x / x, [P34]),
    ("x+2", lambda o, x: x + 2.0, [A34]),
    ("2+x", lambda o, x: 2.0 + x, [A34]),
    ("x-2", lambda o, x: x - 2.0, [A34]),
    ("2-x", lambda o, x: 2.0 - x, [A34]),
    ("x*3", lambda o, x: x * 3.0, [A34]),
    ("3*x", lambda o, x: 3.0 * x, [A34]),
    ("x*int", lambda o, x: x * 3, [A34]),
    ("x/2", lambda o, x: x / 2.0, [A34]),
    ("2/x", lambda o, x: 2.0 / x, [P34]),
    ("x+arr", lambda o, x: x + o.c(C4), [A34]),
    ("arr+x", lambda o, x: o.c(C4) + x, [A34]),
    ("x-arr", lambda o, x: x - o.c(C34), [B4]),
    ("arr-x", lambda o, x: o.c(C34) - x, [B4]),
    ("x*arr", lambda o, x: x * o.c(C34), [A34]),
    ("arr*x", lambda o, x: o.c(C4) * x, [A34]),
    ("x/arr", lambda o, x: x / o.c(P4), [A34]),
    ("arr/x", lambda o, x: o.c(C34) / x, [P34]),
    ("arr/x_broadcast", lambda o, x: o.c(C34) / x, [P4]),
    ("neg", lambda o, x: -x, [A34]),
    ("neg_expr", lambda o, x: -(x * 2.0) - x, [A34]),
    ("pow3", lambda o, x: x ** 3, [A34]),
    ("pow2", lambda o, x: x ** 2, [A34]),
    ("pow0.5", lambda o, x: x ** 0.5, [P34]),
    ("pow-1", lambda o, x: x ** -1.0, [P34]),
    ("pow1.5", lambda o, x: x ** 1.5, [P34]),
    ("expr", lambda o, x, w: (2.0 - x * w) / (w * w + 1.0) - o.c(C4) * x + x ** 2, [A34, B4]),
)


@pytest.mark.parametrize("name, fn, arrays", ARITH)
def test_arithmetic(name, fn, arrays):
    run_case(name, fn, arrays)


# ---------------------------------------------------------------------------------------------
# Matrix product

def _mm(*shapes):
    name = "@".join(str(s).replace(" ", "") for s in shapes)
    arrays = [normal(s, seed=_seed(name) + i) for i, s in enumerate(shapes)]
    return (name, lambda o, a, b: a @ b, arrays, RED_RTOL, RED_ATOL)


MATMUL = cases(
    _mm((3, 4), (4, 5)),
    _mm((2, 3, 4), (2, 4, 5)),
    _mm((2, 3, 4), (4, 5)),
    _mm((3, 4), (2, 4, 5)),
    _mm((1, 3, 4), (2, 4, 5)),
    _mm((2, 1, 3, 4), (3, 4, 2)),
    _mm((4,), (4, 5)),
    _mm((3, 4), (4,)),
    _mm((4,), (4,)),
    _mm((4,), (2, 4, 5)),
    _mm((2, 3, 4), (4,)),
    ("arr@x", lambda o, x: o.c(C34) @ x, [normal((4, 5), 11)], RED_RTOL, RED_ATOL),
    ("x@arr", lambda o, x: x @ o.c(normal((4, 2), 12)), [A34], RED_RTOL, RED_ATOL),
    ("x@x.T", lambda o, x: x @ x.T, [A34], RED_RTOL, RED_ATOL),
)


@pytest.mark.parametrize("name, fn, arrays, rtol, atol", MATMUL)
def test_matmul(name, fn, arrays, rtol, atol):
    run_case(name, fn, arrays, rtol, atol)


# ---------------------------------------------------------------------------------------------
# Reductions

AXES = [None, 0, 1, 2, -1, -2, (0, 2), (2, 0), (-1, 0), (0, 1, 2)]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("op", ["sum", "mean", "max"])
def test_reductions(op, axis, keepdims):
    name = f"{op}{axis}{keepdims}"
    x = no_ties((2, 3, 4), _seed(name)) if op == "max" else normal((2, 3, 4), _seed(name))
    run_case(name, lambda o, x: getattr(o, op)(x, axis, keepdims), [x], RED_RTOL, RED_ATOL)


@pytest.mark.parametrize("op", ["sum", "mean", "max"])
def test_reduction_of_1d(op):
    run_case(op, lambda o, x: getattr(o, op)(x, 0, False), [no_ties((5,), 3)], RED_RTOL, RED_ATOL)


# ---------------------------------------------------------------------------------------------
# Shape ops, indexing, concatenation

X234 = normal((2, 3, 4), 21)

SHAPE = cases(
    ("reshape_(6,4)", lambda o, x: x.reshape(6, 4), [X234]),
    ("reshape_tuple", lambda o, x: x.reshape((4, 6)), [X234]),
    ("reshape_-1", lambda o, x: x.reshape(-1), [X234]),
    ("reshape_(4,-1)", lambda o, x: x.reshape(4, -1), [X234]),
    ("reshape_(-1,2,3)", lambda o, x: x.reshape((-1, 2, 3)), [X234]),
    ("reshape_add_axes", lambda o, x: x.reshape(1, 3, 1, 4), [normal((3, 4), 22)]),
    ("transpose_none", lambda o, x: o.transpose(x), [X234]),
    ("transpose_2d", lambda o, x: o.transpose(x), [A34]),
    ("transpose_(1,0,2)", lambda o, x: o.transpose(x, 1, 0, 2), [X234]),
    ("transpose_(2,0,1)", lambda o, x: o.transpose(x, 2, 0, 1), [X234]),
    ("transpose_(1,2,0)_tuple", lambda o, x: o.transpose(x, (1, 2, 0)), [X234]),
    ("transpose_negative", lambda o, x: o.transpose(x, -1, 0, -2), [X234]),
    ("T_2d", lambda o, x: x.T, [A34]),
    ("T_3d", lambda o, x: o.T(x), [X234]),
    ("broadcast_(4,)->(3,4)", lambda o, x: o.broadcast_to(x, (3, 4)), [B4]),
    ("broadcast_(3,1)->(2,3,5)", lambda o, x: o.broadcast_to(x, (2, 3, 5)), [B31]),
    ("broadcast_(1,4)->(3,4)", lambda o, x: o.broadcast_to(x, (3, 4)), [normal((1, 4), 23)]),
    ("broadcast_same", lambda o, x: o.broadcast_to(x, (3, 4)), [A34]),
    ("concat_axis0", lambda o, a, b: o.concat([a, b], 0), [A34, normal((2, 4), 24)]),
    ("concat_axis1", lambda o, a, b: o.concat([a, b], 1), [A34, normal((3, 2), 25)]),
    ("concat_axis-1_three", lambda o, a, b, c: o.concat([a, b, c], -1),
     [normal((2, 3, 1), 26), X234, normal((2, 3, 2), 27)]),
    ("concat_same_twice", lambda o, a: o.concat([a, a * 2.0], 0), [A34]),
    ("concat_with_constant", lambda o, a: o.concat([o.c(C34), a], 1), [A34]),
)


@pytest.mark.parametrize("name, fn, arrays", SHAPE)
def test_shape_ops(name, fn, arrays):
    run_case(name, fn, arrays)


# (id, minigan index, torch index after flipping `flip`, flip); torch has no negative steps
GETITEM = [
    ("int", 1, 1, ()),
    ("negative_int", -1, -1, ()),
    ("slice", slice(1, 3), slice(1, 3), ()),
    ("int_slice", (0, slice(None, 2)), (0, slice(None, 2)), ()),
    ("step", (slice(None), slice(None), slice(None, None, 2)),
     (slice(None), slice(None), slice(None, None, 2)), ()),
    ("negative_step", slice(None, None, -1), slice(None), (0,)),
    ("negative_step_axis2", (Ellipsis, slice(None, None, -2)), (Ellipsis, slice(None, None, 2)),
     (2,)),
    ("negative_step_slice", (slice(None), slice(2, 0, -1)), (slice(None), slice(0, 2)), (1,)),
    ("none_ellipsis", (None, Ellipsis, 1), (None, Ellipsis, 1), ()),
    ("ellipsis_none", (Ellipsis, None), (Ellipsis, None), ()),
    ("int_none_slice", (1, None, slice(1, None)), (1, None, slice(1, None)), ()),
    ("int_array_repeats", np.array([0, 1, 0, 0]), np.array([0, 1, 0, 0]), ()),
    ("int_array_axis1", (slice(None), np.array([2, 2, 0, -1])),
     (slice(None), np.array([2, 2, 0, -1])), ()),
    ("two_int_arrays", (np.array([0, 1, 1]), np.array([2, 2, 2])),
     (np.array([0, 1, 1]), np.array([2, 2, 2])), ()),
    ("int_array_2d", (slice(None), np.array([[0, 1], [1, 1]])),
     (slice(None), np.array([[0, 1], [1, 1]])), ()),
]


@pytest.mark.parametrize("name, index, torch_index, flip", GETITEM, ids=[g[0] for g in GETITEM])
def test_getitem(name, index, torch_index, flip):
    def fn(o, x):
        return x[index] if o is MG else _torch_getitem(x, torch_index, flip)
    run_case(name, fn, [X234])


def test_getitem_list_index_with_repeats():
    # a Python list is an integer-array index in both libraries
    run_case("list", lambda o, x: x[[2, 0, 2, 2]], [A34])


# ---------------------------------------------------------------------------------------------
# Elementwise functions and dense

BIG = np.array([-50.0, -20.0, -10.0, -3.0, -0.5, 0.0, 0.5, 3.0, 10.0, 20.0, 50.0], np.float32)

ELEMENTWISE = cases(
    ("exp", lambda o, x: o.exp(x), [normal((3, 4), 31)]),
    ("exp_method", lambda o, x: x.exp(), [normal((3, 4), 32)]),
    ("log", lambda o, x: o.log(x), [positive((3, 4), 33)]),
    ("log_method", lambda o, x: x.log(), [positive((3, 4), 34) * 10]),
    ("tanh", lambda o, x: o.tanh(x), [normal((3, 4), 35) * 2]),
    ("tanh_large", lambda o, x: o.tanh(x), [BIG]),
    ("tanh_method", lambda o, x: x.tanh(), [normal((3, 4), 36)]),
    ("sigmoid", lambda o, x: o.sigmoid(x), [normal((3, 4), 37) * 2]),
    ("sigmoid_large", lambda o, x: o.sigmoid(x), [BIG]),
    ("sigmoid_method", lambda o, x: x.sigmoid(), [normal((3, 4), 38)]),
    ("relu", lambda o, x: o.relu(x), [away_from_zero((3, 4), 39)]),
    ("relu_method", lambda o, x: x.relu(), [away_from_zero((3, 4), 40)]),
    ("leaky_relu_0.2", lambda o, x: o.leaky_relu(x, 0.2), [away_from_zero((3, 4), 41)]),
    ("leaky_relu_0.01", lambda o, x: o.leaky_relu(x, 0.01), [away_from_zero((3, 4), 42)]),
    ("log_sigmoid_chain", lambda o, x: o.log(o.sigmoid(x)) + o.tanh(x).exp(),
     [normal((3, 4), 43)]),
)


@pytest.mark.parametrize("name, fn, arrays", ELEMENTWISE)
def test_elementwise(name, fn, arrays):
    run_case(name, fn, arrays)


def test_sigmoid_negative_tail_relative_precision():
    x = np.array([-30.0, -20.0, -15.0, -10.0, -5.0], np.float32)
    y = F.sigmoid(mg.tensor(x)).numpy()
    yt = torch.sigmoid(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(y, yt, rtol=RTOL, atol=0)


def test_relu_at_zero_has_zero_gradient():
    run_case("relu0", lambda o, x: o.relu(x), [np.array([-1.0, 0.0, 1.0], np.float32)])


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_dense(bias):
    x, w, b = normal((6, 5), 51), normal((3, 5), 52), normal((3,), 53)
    if bias:
        run_case("dense_b", lambda o, x, w, b: o.dense(x, w, b), [x, w, b], RED_RTOL, RED_ATOL)
    else:
        run_case("dense", lambda o, x, w: o.dense(x, w), [x, w], RED_RTOL, RED_ATOL)


def test_dense_with_constant_input():
    # x a plain array (no gradient wanted): only the weight and bias gradients
    x = normal((6, 5), 54)
    run_case("dense_const", lambda o, w, b: o.dense(o.c(x), w, b),
             [normal((3, 5), 55), normal((3,), 56)], RED_RTOL, RED_ATOL)


def test_gradients_accumulate_over_two_backward_calls():
    a, b = normal((3, 4), 57), normal((4,), 58)
    x, w = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    xt, wt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    y, yt = (F.tanh(x * w) + x).sum(), (torch.tanh(xt * wt) + xt).sum()
    y.backward(retain_graph=True)
    yt.backward(retain_graph=True)
    (x * 2.0).sum().backward()  # a second graph adds into the same leaf .grad
    (xt * 2.0).sum().backward()
    y.backward()
    yt.backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy(), rtol=RED_RTOL, atol=RED_ATOL)


# ---------------------------------------------------------------------------------------------
# A two-layer network, and optimizers

class Activation(mg.nn.Module):
    """A parameter-free module around a functional activation."""

    def __init__(self, fn):
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


ACTIVATIONS = {
    "tanh": (F.tanh, torch.nn.Tanh),
    "sigmoid": (F.sigmoid, torch.nn.Sigmoid),
    "relu": (F.relu, torch.nn.ReLU),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda: torch.nn.LeakyReLU(0.2)),
}


def twin_networks(activation="tanh"):
    """The same Dense(5, 7) -> activation -> Dense(7, 3) in minigan and torch, equal weights
    (biases made nonzero, so they matter)."""
    mg_act, torch_act = ACTIVATIONS[activation]
    net = mg.nn.Sequential(mg.nn.Dense(5, 7), Activation(mg_act), mg.nn.Dense(7, 3))
    state = net.state_dict()
    assert sorted(state) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    state["0.bias"], state["2.bias"] = normal((7,), 61) * 0.5, normal((3,), 62) * 0.5
    net.load_state_dict(state)

    tnet = torch.nn.Sequential(torch.nn.Linear(5, 7), torch_act(), torch.nn.Linear(7, 3))
    tnet.load_state_dict({k: torch.from_numpy(v) for k, v in net.state_dict().items()})
    return net, tnet


def batch():
    return normal((8, 5), 63), normal((8, 3), 64)


def mse(y, target):
    return ((y - target) ** 2).mean()


def assert_same_params(net, tnet, rtol=RTOL, atol=ATOL, msg=""):
    tparams = dict(tnet.named_parameters())
    names = [n for n, _ in net.named_parameters()]
    assert names == list(tparams)
    for name, p in net.named_parameters():
        np.testing.assert_allclose(p.numpy(), tparams[name].detach().numpy(), rtol=rtol,
                                   atol=atol, err_msg=f"{msg} parameter {name}")


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_two_layer_network_loss_and_gradients(activation):
    net, tnet = twin_networks(activation)
    assert_same_params(net, tnet, rtol=0, atol=0)
    x, target = batch()
    xm, xt = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)

    loss = mse(net(xm), target)  # target a NumPy array on the minigan side
    tloss = mse(tnet(xt), torch.from_numpy(target))
    assert loss.shape == () and loss.dtype == np.float32
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=RED_RTOL, atol=RED_ATOL)

    loss.backward()
    tloss.backward()
    tparams = dict(tnet.named_parameters())
    for name, p in net.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tparams[name].grad.numpy(), rtol=RED_RTOL,
                                   atol=RED_ATOL, err_msg=f"gradient of {name}")
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=RED_RTOL, atol=RED_ATOL)


OPTIMIZERS = {
    "adam": (lambda ps: mg.optim.Adam(ps, lr=1e-2, betas=(0.9, 0.999), eps=1e-8),
             lambda ps: torch.optim.Adam(ps, lr=1e-2, betas=(0.9, 0.999), eps=1e-8)),
    "sgd_momentum": (lambda ps: mg.optim.SGD(ps, lr=0.1, momentum=0.9),
                     lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)),
    "sgd": (lambda ps: mg.optim.SGD(ps, lr=0.1), lambda ps: torch.optim.SGD(ps, lr=0.1)),
}

NO_GRAD_STEPS = {2, 3, 6}  # steps in which "2.bias" (and, for "layer", all of layer 0) get none


@pytest.mark.parametrize("skip", [None, "2.bias", "layer0"])
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_optimizer_steps(optimizer, skip):
    make_mg, make_torch = OPTIMIZERS[optimizer]
    net, tnet = twin_networks("tanh")
    opt, topt = make_mg(net.parameters()), make_torch(tnet.parameters())
    x, target = batch()
    xm, xt, tt = mg.tensor(x), torch.from_numpy(x), torch.from_numpy(target)
    skipped = {"2.bias": ["2.bias"], "layer0": ["0.weight", "0.bias"], None: []}[skip]
    mparams, tparams = dict(net.named_parameters()), dict(tnet.named_parameters())

    for step in range(10):
        opt.zero_grad()
        topt.zero_grad()
        loss, tloss = mse(net(xm), target), mse(tnet(xt), tt)
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=RED_RTOL, atol=RED_ATOL,
                                   err_msg=f"loss before step {step}")
        loss.backward()
        tloss.backward()
        if step in NO_GRAD_STEPS:
            for name in skipped:
                mparams[name].grad = None
                tparams[name].grad = None
        before = {name: p.numpy().copy() for name, p in mparams.items()}
        opt.step()
        topt.step()
        assert_same_params(net, tnet, msg=f"{optimizer} after step {step}:")
        for name, p in mparams.items():  # the skipped ones really did not move
            moved = not np.array_equal(before[name], p.numpy())
            assert moved == (not (step in NO_GRAD_STEPS and name in skipped)), (step, name)
