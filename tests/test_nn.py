import numpy as np
import pytest

import minigan as mg
from conftest import normal_array
from minigan import nn
from minigan.init import fans


def mlp():
    return nn.Sequential(nn.Dense(4, 5), nn.Dense(5, 3, bias=False))


def test_parameters_are_found_in_assignment_order():
    model = mlp()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.weight"]
    assert model.parameters()[0] is model[0].weight
    assert model[0].weight.shape == (5, 4) and model[0].bias.shape == (5,)  # PyTorch's layout


def test_glorot_uniform_init_and_zero_bias():
    mg.manual_seed(1)
    layer = nn.Dense(300, 200)
    limit = np.sqrt(6 / (300 + 200))
    w = layer.weight.numpy()
    assert w.dtype == np.float32 and np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.95 * limit  # spread over the whole interval
    assert abs(w.std() - limit / np.sqrt(3)) < 0.01 * limit * 3  # uniform's std
    np.testing.assert_array_equal(layer.bias.numpy(), 0)
    assert fans((32, 16, 3, 3)) == (16 * 9, 32 * 9)  # Keras' fans for a conv kernel


def test_state_dict_round_trip_and_copy_semantics():
    a, b = mlp(), mlp()
    state = a.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    b.load_state_dict(state)
    for (_, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(pa.numpy(), pb.numpy())
    state["0.weight"][:] = 7.0  # neither module sees a change to the dict
    assert not (a[0].weight.numpy() == 7).any() and not (b[0].weight.numpy() == 7).any()


def test_load_state_dict_names_every_problem():
    model = mlp()
    state = model.state_dict()
    del state["0.bias"]
    state["extra"] = np.zeros(1)
    state["1.weight"] = np.zeros((2, 2))
    with pytest.raises(nn.StateDictError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    assert "missing keys ['0.bias']" in message and "unexpected keys ['extra']" in message
    assert "1.weight: expected (3, 5), got (2, 2)" in message


def test_train_eval_propagate():
    model = mlp()
    assert model.training and model[1].training
    model.eval()
    assert not model.training and not model[0].training
    model.train()
    assert model[1].training


def test_module_device_and_to_cpu():
    model = mlp()
    assert model.device == "cpu"
    assert model.to("cpu") is model


def test_requires_grad_false_freezes():
    model = mlp()
    x = mg.tensor(np.ones((2, 4)), requires_grad=True)
    model.requires_grad_(False)
    model(x).sum().backward()
    assert all(p.grad is None for p in model.parameters())
    assert x.grad is not None  # gradients still flow through to the input


def test_dense_checks_shapes_and_dtypes():
    layer = nn.Dense(4, 2)
    with pytest.raises(ValueError, match=r"x must be \(N, in_features\).*got x \(3, 5\)"):
        layer(mg.tensor(np.ones((3, 5))))
    with pytest.raises(TypeError, match="different dtypes"):
        layer(mg.tensor(np.ones((3, 4)), dtype="float64"))
    assert layer(np.ones((3, 4), dtype=np.float32)).shape == (3, 2)  # arrays are accepted


def test_dense_gradcheck_through_the_module():
    layer = nn.Dense(3, 2)
    x = mg.tensor(normal_array((4, 3)), requires_grad=True)
    mg.gradcheck(lambda x, *params: layer(x), x, *layer.parameters())
    assert layer.weight.dtype == np.float32  # gradcheck restores the float32 parameters


def test_sequential_rejects_non_modules():
    with pytest.raises(TypeError, match="item 1 is a function"):
        nn.Sequential(nn.Dense(1, 1), lambda x: x)
