"""Bad tensors are refused with one clear line: losses outside their domain, gradients that do not
fit their parameters, dtypes that would be cast silently, impossible layer sizes, and state dicts
that do not fit."""
import json
import math

import numpy as np
import pytest

import minigan as mg
import minigan.functional as F
from conftest import normal_array
from minigan import backend, kernels, nn, optim

NAN = float("nan")


# binary_cross_entropy: input and target in [0, 1], as PyTorch
@pytest.mark.parametrize("p", [NAN, 1.5, -0.25])
def test_bce_refuses_input_outside_0_1(p):
    x = mg.tensor([[0.5], [p]], requires_grad=True)
    with pytest.raises(F.DomainError, match=r"binary_cross_entropy: all elements of input should "
                       r"be between 0 and 1, got .* at index \(1, 0\); input must hold "
                       "probabilities"):
        F.binary_cross_entropy(x, mg.tensor([[1.0], [1.0]]))
    with pytest.raises(ValueError, match="all elements of input should be between 0 and 1"):
        nn.BCELoss()(x, mg.tensor([[1.0], [1.0]]))


@pytest.mark.parametrize("t", [NAN, 1.5, -1.0, math.inf])
def test_bce_and_bce_with_logits_refuse_targets_outside_0_1(t):
    target = mg.tensor([[0.0], [t]])
    with pytest.raises(F.DomainError, match=r"binary_cross_entropy: all elements of target "
                       r"should be between 0 and 1, got .* at index \(1, 0\)"):
        F.binary_cross_entropy(mg.tensor([[0.5], [0.5]]), target)
    with pytest.raises(F.DomainError, match="binary_cross_entropy_with_logits: all elements of "
                       "target should be between 0 and 1"):
        nn.BCEWithLogitsLoss()(mg.tensor([[0.3], [-2.0]]), target)


@pytest.mark.parametrize("z", [NAN, math.inf])
def test_bce_with_logits_refuses_non_finite_logits(z):
    with pytest.raises(F.DomainError, match="binary_cross_entropy_with_logits: all elements of "
                       "input should be finite"):
        F.binary_cross_entropy_with_logits(mg.tensor([[z]]), mg.tensor([[1.0]]))


def test_bce_messages_are_pytorchs():
    torch = pytest.importorskip("torch")
    for p, t in [(1.5, 1.0), (0.5, 1.5)]:
        with pytest.raises(RuntimeError) as theirs:
            torch.nn.functional.binary_cross_entropy(torch.tensor([p]), torch.tensor([t]))
        with pytest.raises(ValueError) as ours:
            F.binary_cross_entropy(mg.tensor([p]), mg.tensor([t]))
        assert str(theirs.value) in str(ours.value)


def test_bce_kernels_give_nan_outside_the_domain():
    """The kernels' own rule (the GPU's only check): NaN loss and gradient, never a finite one."""
    p = np.array([0.5, NAN, 1.5, -0.5, 0.5, 0.5], np.float32)
    t = np.array([1.0, 1.0, 1.0, 0.0, 1.5, NAN], np.float32)
    gy = np.ones(6, np.float32)
    for loss in (kernels.bce.forward(p, t), kernels.bce.forward_reference(p, t)):
        assert np.isfinite(loss[0]) and np.isnan(loss[1:]).all()
    for grad in (kernels.bce.backward(p, t, gy), kernels.bce.backward_reference(p, t, gy)):
        assert np.isfinite(grad[0]) and np.isnan(grad[1:]).all()


@pytest.mark.gpu
def test_bce_outside_the_domain_on_the_gpu_is_a_nan_loss():
    p = mg.tensor([[0.5], [1.5]], device="gpu", requires_grad=True)
    loss = F.binary_cross_entropy(p, mg.tensor([[1.0], [1.0]], device="gpu"))
    assert math.isnan(loss.item())
    loss.backward()
    assert np.isnan(p.grad.numpy()[1, 0])
    loss = F.binary_cross_entropy_with_logits(mg.tensor([[0.5]], device="gpu"),
                                              mg.tensor([[2.0]], device="gpu"))
    assert math.isnan(loss.item())


# Optimizers: every gradient fits its parameter before anything changes
def two_parameters():
    a = nn.Parameter(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3))
    b = nn.Parameter(np.linspace(0, 1, 1000, dtype=np.float32))
    return a, b


@pytest.mark.parametrize("make", [lambda ps: optim.Adam(ps, lr=0.1),
                                  lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9)],
                         ids=["Adam", "SGD"])
@pytest.mark.parametrize("bad_grad, error, message", [
    (np.ones(10, np.float32), ValueError, r"parameter 1 \(shape \(1000,\), float32\) has a "
     r"gradient of shape \(10,\)"),
    (np.ones(1000, np.float64), TypeError, r"parameter 1 \(shape \(1000,\), float32\) has a "
     "float64 gradient"),
    (np.ones((1000, 1), np.float32), ValueError, r"parameter 1 .* has a gradient of shape "
     r"\(1000, 1\)")],
    ids=["short", "float64", "2-d"])
def test_optimizer_step_checks_every_gradient_first(make, bad_grad, error, message):
    a, b = two_parameters()
    opt = make([a, b])
    a.grad = mg.tensor(np.ones((2, 3), np.float32))
    b.grad = mg.Tensor(bad_grad)
    before = [a.numpy(), b.numpy()]
    with pytest.raises(error, match=f"{type(opt).__name__}.step: {message}"):
        opt.step()
    np.testing.assert_array_equal(a.numpy(), before[0])  # the good parameter did not move either
    np.testing.assert_array_equal(b.numpy(), before[1])
    assert opt.state == [{}, {}]


def test_optimizer_step_refuses_a_grad_that_is_not_a_tensor():
    a, b = two_parameters()
    opt = optim.Adam([a, b])
    b.grad = np.ones(1000, np.float32)
    with pytest.raises(TypeError, match=r"parameter 1 .* has a \.grad of type ndarray"):
        opt.step()


@pytest.mark.parametrize("make, message", [
    (lambda ps: optim.Adam(ps, lr=NAN), "Adam: need a finite lr > 0, got lr=nan"),
    (lambda ps: optim.Adam(ps, lr=math.inf), "Adam: need a finite lr > 0, got lr=inf"),
    (lambda ps: optim.Adam(ps, eps=NAN), "Adam: need a finite eps >= 0, got eps=nan"),
    (lambda ps: optim.Adam(ps, eps=math.inf), "Adam: need a finite eps >= 0"),
    (lambda ps: optim.Adam(ps, betas=(0.9, 0.999, 0.5)), "Adam: betas must be a pair"),
    (lambda ps: optim.Adam(ps, lr="0.1"), "Adam: lr must be a number, got '0.1'"),
    (lambda ps: optim.SGD(ps, lr=NAN), "SGD: need a finite lr > 0, got lr=nan"),
    (lambda ps: optim.SGD(ps, lr=math.inf, momentum=0.5), "SGD: need a finite lr > 0")])
def test_optimizers_refuse_non_finite_hyperparameters(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make([nn.Parameter(np.zeros(2, np.float32))])


def stepped_adam():
    a, b = two_parameters()
    opt = optim.Adam([a, b], lr=0.01)
    a.grad, b.grad = mg.tensor(np.ones((2, 3))), mg.tensor(np.ones(1000))
    opt.step()
    return opt


@pytest.mark.parametrize("corrupt, message", [
    (lambda s: s["state"][1].update(m=s["state"][1]["m"].astype(np.float64)),
     r"parameter 1 \(shape \(1000,\), float32\): 'm' is float64 \(1000,\), expected float32 "
     r"\(1000,\) \(nothing is cast\)"),
    (lambda s: s["state"][0].update(v=s["state"][0]["v"].reshape(3, 2)),
     r"parameter 0 .*: 'v' is float32 \(3, 2\), expected float32 \(2, 3\)"),
    (lambda s: s["state"][0]["m"].__setitem__((0, 0), np.nan),
     r"parameter 0 .*: 'm' holds NaN or infinite values"),
    (lambda s: s["state"][0]["v"].__setitem__((0, 0), -1.0),
     r"parameter 0 .*: 'v' holds negative values"),
    (lambda s: s["state"][0].update(m=s["state"][0]["m"].tolist()),
     r"parameter 0 .*: 'm' is a list, expected an array"),
    (lambda s: s["state"][1].update(step=2.5), r"parameter 1 .*: 'step' must be an int >= 1, "
     "got 2.5"),
    (lambda s: s["state"][1].update(step=True), r"'step' must be an int >= 1, got True"),
    (lambda s: s["state"][1].update(step=0), r"'step' must be an int >= 1, got 0"),
    (lambda s: s["state"][0].update(extra=1), r"parameter 0 .*: unknown state keys \['extra'\]"),
    (lambda s: s["state"][0].pop("v"), r"parameter 0 .*: state has \['m', 'step'\], expected all"),
    (lambda s: s["hyper"].update(lr=NAN), "Adam: need a finite lr > 0, got lr=nan"),
    (lambda s: s["hyper"].update(betas=(0.9, 1.0)), r"need a finite betas\[1\] in \[0, 1\)"),
    (lambda s: s["hyper"].update(weight_decay=0.1), r"hyperparameters \['betas', 'eps', 'lr', "
     r"'weight_decay'\], expected \['betas', 'eps', 'lr'\]")])
def test_optimizer_load_state_dict_is_strict(corrupt, message):
    opt = stepped_adam()
    state = opt.state_dict()
    corrupt(state)
    before = opt.state_dict()
    with pytest.raises(ValueError, match=message):
        opt.load_state_dict(state)
    after = opt.state_dict()  # all or nothing: the optimizer is as it was
    assert after["hyper"] == before["hyper"]
    for s_after, s_before in zip(after["state"], before["state"]):
        assert s_after["step"] == s_before["step"]
        np.testing.assert_array_equal(s_after["m"], s_before["m"])


def test_optimizer_state_survives_json_hyperparameters():
    """A checkpoint keeps the hyperparameters as JSON (betas become a list): that must load."""
    opt = stepped_adam()
    state = opt.state_dict()
    state["hyper"] = json.loads(json.dumps(state["hyper"]))
    state["state"][1]["step"] = np.int64(1)  # an int read back from an array is fine too
    state["state"][0]["m"] = state["state"][0]["m"].astype(np.float64)
    with pytest.raises(ValueError, match="'m' is float64"):
        opt.load_state_dict(state)
    state["state"][0]["m"] = state["state"][0]["m"].astype(np.float32)
    opt.load_state_dict(state)
    assert opt.hyper["betas"] == (0.9, 0.999) and opt.state[1]["step"] == 1


# One dtype rule: arrays must match, Python and NumPy scalars are weak, real ops need floats
def test_arrays_of_another_dtype_are_refused_not_cast():
    x = mg.tensor([1.0, 2.0])
    big = np.array([2**40 + 1, 0])  # int64: float32 would lose the last digits
    for combine in (lambda: x + big, lambda: big + x, lambda: x * np.ones(2),
                    lambda: np.ones(2) - x, lambda: x / np.ones(2), lambda: x @ np.ones(2)):
        with pytest.raises(TypeError, match=r"dtype mismatch: float32 tensor and (int64|float64) "
                           r"array; convert the array first with \.astype\('float32'\)"):
            combine()
    # Python and NumPy scalars and lists are weak: they take the tensor's dtype
    assert (x * np.float64(2.0)).dtype == np.float32 and (x + 2**40 + 1).dtype == np.float32
    assert (x + [1, 2]).dtype == np.float32 and (x * np.ones(2, np.float32)).dtype == np.float32


def test_a_float_cannot_join_an_integer_tensor():
    i = mg.tensor([1, 2], dtype="int64")
    assert (i * 3).dtype == np.int64 and (i + np.int64(1)).dtype == np.int64
    for combine in (lambda: i * 2.5, lambda: i + [0.5, 1.0], lambda: i ** 0.5,
                    lambda: i * np.float64(2.0)):
        with pytest.raises(TypeError, match="cannot combine a .* with a int64 tensor without "
                           "losing values"):
            combine()


@pytest.mark.parametrize("op", ["sigmoid", "tanh", "exp", "log", "relu", "leaky_relu"])
def test_real_functions_need_a_floating_point_tensor(op):
    i = mg.tensor([1, 2], dtype="int64")
    with pytest.raises(TypeError, match=f"{op} needs a floating-point tensor, got int64; convert "
                       "it first"):
        getattr(F, op)(i)
    with pytest.raises(TypeError, match=f"{op} needs a floating-point tensor"):
        getattr(i, op)()


def test_division_mean_and_dropout_need_a_floating_point_tensor():
    i = mg.tensor([[1, 2]], dtype="int64")
    for fn, op in [(lambda: i / 2, "/"), (lambda: 1 / i, "/"), (lambda: i.mean(), "mean"),
                   (lambda: F.dropout(i, 0.5), "dropout")]:
        with pytest.raises(TypeError, match=f"{op} needs a floating-point tensor, got int64"):
            fn()


def test_dropout_mask_must_be_bool():
    x = mg.tensor(np.ones((2, 3)))
    with pytest.raises(TypeError, match="dropout: mask must be a bool array .* got float64"):
        F.dropout(x, 0.5, mask=np.full((2, 3), 0.5))
    with pytest.raises(TypeError, match="dropout: mask must be a bool array .* got int64"):
        F.leaky_relu_dropout(x, 0.2, 0.5, mask=[[1, 0, 1], [0, 1, 0]])


def test_layers_losses_and_concatenate_refuse_arrays_of_another_dtype():
    w, b = mg.tensor(np.ones((2, 3))), mg.tensor(np.zeros(2))
    with pytest.raises(TypeError, match="dense: dtype mismatch: float32 tensor and float64 array"):
        F.dense(np.ones((4, 3)), w, b)
    with pytest.raises(TypeError, match=r"dense: inputs have different dtypes \['float32', "
                       r"'float64'\]"):
        F.dense(mg.tensor(np.ones((4, 3))), np.ones((2, 3)))  # a float64 weight stays float64
    with pytest.raises(TypeError, match="conv2d: dtype mismatch: float32 tensor and float64"):
        F.conv2d(np.zeros((1, 1, 5, 5)), mg.tensor(np.ones((1, 1, 3, 3))))
    with pytest.raises(TypeError, match="batch_norm: dtype mismatch: float32 tensor and float64"):
        F.batch_norm(np.ones((4, 2)), mg.tensor([1.0, 1.0]), mg.tensor([0.0, 0.0]))
    with pytest.raises(TypeError, match="binary_cross_entropy: dtype mismatch: float32 tensor "
                       "and float64 array"):
        F.binary_cross_entropy(mg.tensor([[0.5]]), np.ones((1, 1)))
    with pytest.raises(TypeError, match="concatenate: dtype mismatch: float32 tensor and int64"):
        mg.concatenate([mg.tensor([1.0]), np.array([2**40 + 1])])
    with pytest.raises(TypeError, match=r"backward\(grad\): dtype mismatch: float32 tensor and "
                       "float64 array"):
        (mg.tensor([1.0, 2.0], requires_grad=True) * 2).backward(np.ones(2))
    with pytest.raises(TypeError, match="dense needs a floating-point tensor, got int64"):
        F.dense(mg.tensor([[1, 2]], dtype="int64"), mg.tensor([[1, 2]], dtype="int64"))


def test_cross_entropy_needs_integer_labels():
    logits = mg.tensor(np.zeros((2, 3)))
    with pytest.raises(TypeError, match=r"cross_entropy: labels must have an integer dtype \(class "
                       r"indices\), got float64; convert them with \.astype\('int64'\)"):
        F.cross_entropy(logits, np.array([1.7, 0.0]))
    with pytest.raises(TypeError, match="got float32"):
        F.cross_entropy(logits, mg.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\), got values from 0 to 3"):
        F.cross_entropy(logits, np.array([3, 0], np.int32))


# Layer sizes: positive ints, checked when the layer is built
@pytest.mark.parametrize("args, kwargs, message", [
    ((1, 1, 0), {}, "Conv2D: kernel_size must be a positive int, got 0"),
    ((1, 1, (3, -1)), {}, "Conv2D: kernel_size must be a positive int, got -1"),
    ((1, 1, 2.5), {}, "Conv2D: kernel_size must be a positive int, got 2.5"),
    ((1, 1, (3, 3, 3)), {}, "Conv2D: kernel_size must be an int or a pair (KH, KW)"),
    ((0, 1, 3), {}, "Conv2D: in_channels must be a positive int, got 0"),
    ((1, 1.5, 3), {}, "Conv2D: out_channels must be a positive int, got 1.5"),
    ((1, 1, 3), {"stride": 0}, "Conv2D: stride must be a positive int, got 0"),
    ((1, 1, 3), {"stride": True}, "Conv2D: stride must be a positive int, got True"),
    ((1, 1, 3), {"padding": -1}, "Conv2D: padding must be 'same', 'valid' or an int >= 0"),
    ((1, 1, 3), {"padding": "full"}, "Conv2D: padding must be 'same', 'valid' or an int >= 0")])
def test_conv2d_layer_refuses_impossible_sizes(args, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        nn.Conv2D(*args, **kwargs)


@pytest.mark.parametrize("args, message", [
    ((0, 3), "Dense: in_features must be a positive int, got 0"),
    ((2.5, 3), "Dense: in_features must be a positive int, got 2.5"),
    ((3, -1), "Dense: out_features must be a positive int, got -1")])
def test_dense_layer_refuses_impossible_sizes(args, message):
    with pytest.raises(ValueError, match=message):
        nn.Dense(*args)


def test_conv2d_refuses_an_empty_weight():
    x = np.zeros((1, 1, 5, 5), np.float32)
    for shape in [(1, 1, 0, 3), (0, 1, 3, 3)]:
        with pytest.raises(ValueError, match=r"conv2d: weight \(.*\) has an empty axis"):
            F.conv2d(x, np.zeros(shape, np.float32), padding="valid")


# Module.load_state_dict: exact arrays only
def batchnorm_model():
    return nn.Sequential(nn.Dense(3, 2), nn.BatchNorm1d(2))


@pytest.mark.parametrize("key, value, message", [
    ("0.weight", np.ones((2, 3)), r"0\.weight: dtype float64, expected float32 \(nothing is "
     r"cast; convert with \.astype\('float32'\)"),
    ("0.weight", [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], r"0\.weight: got list, expected an array of "
     r"float32 and shape \(2, 3\)"),
    ("0.bias", "ab", r"0\.bias: got str, expected an array"),
    ("0.bias", np.array(["a", "b"]), r"0\.bias: dtype <U1, expected float32"),
    ("0.bias", np.array([1.0, None]), r"0\.bias: dtype object, expected float32"),
    ("0.bias", np.array([1.0, np.nan], np.float32), r"0\.bias: holds NaN or infinite values"),
    ("1.running_var", np.array([1.0, np.inf], np.float32), "1.running_var: holds NaN or inf"),
    ("1.num_batches_tracked", np.array(2.7), r"1\.num_batches_tracked: dtype float64, expected "
     "int64"),
    ("1.num_batches_tracked", 3, r"1\.num_batches_tracked: got int, expected an array of int64 "
     r"and shape \(\)"),
    ("1.num_batches_tracked", np.array(-1), r"1\.num_batches_tracked: holds a negative count"),
    ("1.num_batches_tracked", np.array([3]), r"1\.num_batches_tracked: expected \(\), got \(1,\)")])
def test_module_load_state_dict_is_strict(key, value, message):
    model = batchnorm_model()
    state = model.state_dict()
    state[key] = value
    before = model.state_dict()
    with pytest.raises(nn.StateDictError, match=r"cannot load state dict into Sequential: "
                       + message):
        model.load_state_dict(state)
    for name, array in model.state_dict().items():  # all or nothing
        np.testing.assert_array_equal(array, before[name])


def test_module_load_state_dict_accepts_exact_arrays_from_an_npz(tmp_path):
    source, target = batchnorm_model(), batchnorm_model()
    source(mg.tensor(normal_array((4, 3))))  # counts one batch
    np.savez(tmp_path / "model.npz", **source.state_dict())
    state = dict(np.load(tmp_path / "model.npz"))
    bad = dict(state, **{"1.num_batches_tracked": np.array(2.7)})
    with pytest.raises(nn.StateDictError, match="num_batches_tracked: dtype float64"):
        target.load_state_dict(bad)
    target.load_state_dict(state)
    for name, array in target.state_dict().items():
        np.testing.assert_array_equal(array, state[name])
        assert array.dtype == state[name].dtype
    count = target[1].num_batches_tracked.data
    assert count.shape == () and int(count) == 1
    assert backend.device_of(target[0].weight.data) == "cpu"
