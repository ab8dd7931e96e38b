"""The GPU path on a real GPU (skipped without one): every CUDA kernel against its NumPy reference,
every layer's gradient by finite differences on CuPy, the seed's D and G against the CPU with the
same weights (and, since the dropout mask is a function of (seed, index), the same masks), a
training step, the trainer, and checkpoints moving between the devices."""
import numpy as np
import pytest

import minigan as mg
import minigan.functional as F
from conftest import away_from_zero, normal_array, positive, randn, tiny_images
from minigan import backend, build, gan, kernels, recipes, train
from minigan.functional.conv import conv_geometry

pytestmark = pytest.mark.gpu


def cp():
    return backend.xp("gpu")


def on_gpu(a):
    return cp().asarray(a)


def rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geometry", [((2, 3, 7, 6), 3, 1, "same"), ((3, 2, 9, 8), 3, 2, "valid"),
                                      ((2, 4, 28, 28), 3, 1, "same"), ((1, 2, 6, 6), 2, 2, 1)])
def test_im2col_and_col2im_match_the_reference(geometry, dtype):
    shape, K, S, padding = geometry
    PT, PL, OH, OW = conv_geometry(shape[2], shape[3], K, K, S, padding)
    x = normal_array(shape, dtype=dtype)
    cols = kernels.im2col.im2col(on_gpu(x), K, K, S, PT, PL, OH, OW)
    np.testing.assert_array_equal(cols.get(), kernels.im2col.im2col_reference(x, K, K, S, PT, PL,
                                                                               OH, OW))
    g = normal_array(cols.shape, 1, dtype)
    got = kernels.im2col.col2im(on_gpu(g), shape[2], shape[3], K, K, S, PT, PL, OH, OW).get()
    want = kernels.im2col.col2im_cpu(g, shape[2], shape[3], K, K, S, PT, PL, OH, OW)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_layout_kernels_match_the_reference():
    y = normal_array((5, 3 * 7))
    b = normal_array(5, 1)
    got = kernels.layout.to_nchw(on_gpu(y), on_gpu(b), 3).get()
    np.testing.assert_array_equal(got, kernels.layout.to_nchw_reference(y, b, 3))
    g = normal_array((3, 5, 7), 2)
    np.testing.assert_array_equal(kernels.layout.from_nchw(on_gpu(g)).get(),
                                  kernels.layout.from_nchw_reference(g))


@pytest.mark.parametrize("alpha", [1.0, 0.01])
def test_dropout_draws_the_cpu_mask_for_the_same_seed(alpha):
    x = normal_array((4, 8, 28, 28))
    # s0 = 2**32 - 1000: the counter i + s0 wraps around 2**32 inside the array
    seed, threshold, scale = 2**40 + 2**32 - 1000, kernels.dropout.keep_threshold(0.3), 1 / 0.7
    y_cpu, keep_cpu = kernels.dropout.forward(x, seed, threshold, scale, alpha)
    y_gpu, keep_gpu = kernels.dropout.forward(on_gpu(x), seed, threshold, scale, alpha)
    np.testing.assert_array_equal(keep_gpu.get(), keep_cpu)
    np.testing.assert_array_equal(y_gpu.get(), y_cpu)
    gy = normal_array(x.shape, 1)
    got = kernels.dropout.apply(on_gpu(gy), keep_gpu, scale, on_gpu(x), alpha).get()
    np.testing.assert_array_equal(got, kernels.dropout.apply(gy, keep_cpu, scale, x, alpha))


def test_leaky_relu_bce_and_adam_kernels_match_the_cpu():
    x = normal_array(1000)
    gy = normal_array(1000, 1)
    np.testing.assert_array_equal(kernels.leaky_relu.forward(on_gpu(x), 0.2).get(),
                                  kernels.leaky_relu.forward(x, 0.2))
    np.testing.assert_array_equal(kernels.leaky_relu.backward(on_gpu(x), on_gpu(gy), 0.2).get(),
                                  kernels.leaky_relu.backward(x, gy, 0.2))
    p = rng(2).uniform(0, 1, 1000).astype(np.float32)
    p[:2] = 0.0, 1.0
    t = rng(3).integers(0, 2, 1000).astype(np.float32)
    np.testing.assert_allclose(kernels.bce.forward(on_gpu(p), on_gpu(t)).get(),
                               kernels.bce.forward(p, t), rtol=1e-6)
    np.testing.assert_allclose(kernels.bce.backward(on_gpu(p), on_gpu(t), on_gpu(gy)).get(),
                               kernels.bce.backward(p, t, gy), rtol=1e-6)
    state = [normal_array(1000, i) for i in range(3)]
    state.append(rng(4).uniform(0, 1, 1000).astype(np.float32))
    gpu_state = [on_gpu(a) for a in state]
    kernels.adam.step(*state, 1e-3, 0.5, 0.999, 1e-8, 3)
    kernels.adam.step(*gpu_state, 1e-3, 0.5, 0.999, 1e-8, 3)
    for a, b in zip(gpu_state, state):
        np.testing.assert_allclose(a.get(), b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_sigmoid_and_tanh_kernels_match_the_numpy_expressions(dtype):
    st = kernels.sigmoid_tanh
    x = np.concatenate([rng().standard_normal(997) * 8, [-200, -20, 0, 20, 200]]).astype(dtype)
    gy = normal_array(x.shape, 1, dtype)
    y = st.sigmoid_reference(x)
    np.testing.assert_allclose(st.sigmoid_gpu(on_gpu(x)).get(), y, rtol=1e-6, atol=0)
    np.testing.assert_allclose(st.sigmoid_backward_gpu(on_gpu(y), on_gpu(gy)).get(),
                               st.sigmoid_backward_reference(y, gy), rtol=1e-6, atol=1e-30)
    t = np.tanh(x)
    np.testing.assert_allclose(st.tanh_backward_gpu(on_gpu(t), on_gpu(gy)).get(),
                               st.tanh_backward_reference(t, gy), rtol=1e-6, atol=1e-30)


def test_adam_over_many_parameters_is_one_launch_that_matches_the_cpu():
    sizes = [(32, 1, 3, 3), (0,), (1,), (50176, 1), (7, 5)]
    state = [[normal_array(s, 10 * k + i) for i, s in enumerate(sizes)] for k in range(4)]
    state[3] = [np.abs(a) for a in state[3]]   # v >= 0
    gpu_state = [[on_gpu(a) for a in arrays] for arrays in state]
    gpu_state[1][4] = cp().asfortranarray(gpu_state[1][4])  # a gradient in another layout
    launches = []
    function = kernels.cuda.function
    kernels.cuda.function = lambda *key: launches.append(key[1]) or function(*key)
    try:
        kernels.adam.step_many(*gpu_state, 1e-3, 0.5, 0.999, 1e-8, 3)
    finally:
        kernels.cuda.function = function
    assert launches == ["minigan_adam_many_SUFFIX"]
    kernels.adam.step_many(*state, 1e-3, 0.5, 0.999, 1e-8, 3)
    for gpu_arrays, arrays in zip(gpu_state, state):
        for a, b in zip(gpu_arrays, arrays):
            np.testing.assert_allclose(a.get(), b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("check", ["conv_same", "conv_stride2", "dense", "leaky_relu_dropout",
                                   "bce", "sigmoid_tanh", "batch_norm", "minibatch_std",
                                   "minibatch_discrimination"])
def test_gradients_on_the_gpu_match_finite_differences(check):
    d = "gpu"
    if check == "conv_same":
        mg.gradcheck(lambda x, w, b: F.conv2d(x, w, b), randn((2, 2, 5, 4), d),
                     randn((3, 2, 3, 3), d, seed=1), randn((3,), d, seed=2))
    elif check == "conv_stride2":
        mg.gradcheck(lambda x, w: F.conv2d(x, w, stride=2, padding="valid"),
                     randn((1, 2, 7, 6), d), randn((2, 2, 3, 3), d, seed=1))
    elif check == "dense":
        mg.gradcheck(F.dense, randn((4, 5), d), randn((3, 5), d, seed=1), randn((3,), d, seed=2))
        mg.gradcheck(F.dense, randn((4, 5), d), randn((1, 5), d, seed=1))  # the outer product
    elif check == "leaky_relu_dropout":
        keep = rng().random((3, 6)) >= 0.3
        mg.gradcheck(lambda x: F.leaky_relu_dropout(x, 0.01, 0.3, mask=keep),
                     away_from_zero((3, 6), d))
        mg.gradcheck(lambda x: F.leaky_relu(x, 0.2), away_from_zero((3, 6), d))
    elif check == "bce":
        target = mg.tensor(rng().integers(0, 2, (5, 1)), dtype="float64", device=d)
        mg.gradcheck(lambda p: F.binary_cross_entropy(p, target),
                     mg.tensor(rng().uniform(0.1, 0.9, (5, 1)), dtype="float64", device=d,
                               requires_grad=True))
        mg.gradcheck(lambda z: F.binary_cross_entropy_with_logits(z, target), randn((5, 1), d))
    elif check == "sigmoid_tanh":
        mg.gradcheck(lambda x: F.sigmoid(x) * F.tanh(x), randn((3, 4), d))
    elif check == "batch_norm":
        mg.gradcheck(lambda x, w, b: F.batch_norm(x, w, b), randn((6, 4), d),
                     positive((4,), d, seed=1), randn((4,), d, seed=2))
    elif check == "minibatch_std":
        mg.gradcheck(lambda x: gan.MinibatchStd()(x), positive((3, 2, 2, 2), d))
    elif check == "minibatch_discrimination":
        layer = gan.MinibatchDiscrimination(6, kernels=3, kernel_dim=2).to(d)
        mg.gradcheck(lambda x, w: layer(x), randn((5, 6), d), layer.weight)


def twins(recipe):
    """G and D on the CPU and copies on the GPU with the same weights."""
    mg.manual_seed(0)
    G, D = build.build_generator(recipe), build.build_discriminator(recipe)
    Gg, Dg = build.build_generator(recipe).to("gpu"), build.build_discriminator(recipe).to("gpu")
    Gg.load_state_dict(G.state_dict())
    Dg.load_state_dict(D.state_dict())
    return G, D, Gg, Dg


def to_float64(*models):
    for model in models:
        for _, t in model.named_tensors():
            if t.data.dtype == np.float32:
                t.data = t.data.astype(np.float64)


def model_grads(G, D, z, device):
    mg.manual_seed(5)  # the same dropout seeds, hence (counter-based) the same masks
    p = D(G(mg.tensor(z, device=device, dtype="float64")))
    target = mg.tensor(np.ones(p.shape), device=device, dtype="float64")  # one per pack
    F.binary_cross_entropy(p, target).backward()
    grads = {k: v.grad.numpy() for k, v in list(G.named_parameters()) + list(D.named_parameters())}
    G.zero_grad()
    D.zero_grad()
    return p.numpy(), grads


@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("recipe", ["original", "stable"])
def test_seed_and_stable_models_match_the_cpu_forward_and_backward(recipe, mode):
    """In float64: in float32 a pre-activation within rounding of a LeakyReLU kink (|x| ~ 1e-8)
    can take the other slope on one device and move a whole sample's gradient by ~1%, with both
    devices right to float32 precision, so float32 cannot be compared this tightly."""
    G, D, Gg, Dg = twins(recipe)
    to_float64(G, D, Gg, Dg)
    z = rng().standard_normal((16, 100))
    for model in (G, D, Gg, Dg):
        model.train(mode == "train")
    p_cpu, grads_cpu = model_grads(G, D, z, "cpu")
    p_gpu, grads_gpu = model_grads(Gg, Dg, z, "gpu")
    np.testing.assert_allclose(p_gpu, p_cpu, rtol=1e-10, atol=1e-12)
    # sums in another order: compared against the largest gradient of the whole model (a bias
    # whose true gradient is 0, e.g. before a BatchNorm, holds only rounding noise)
    scale = max(np.abs(g).max() for g in grads_cpu.values())
    for k in grads_cpu:
        np.testing.assert_allclose(grads_gpu[k], grads_cpu[k], rtol=1e-8, atol=1e-10 * scale,
                                   err_msg=f"{mode} {k}")


def test_training_steps_on_the_gpu_match_the_cpu():
    """One D step and one G step from the same weights and seeds: every weight moves alike. Adam's
    first move is lr * g / (|g| + eps): where |g| is within a few hundred eps of 0, float32
    rounding decides it, so those few weights may move differently, by at most 2 lr."""
    recipe = recipes.get_recipe("original")
    lr = recipe.lr_d
    G, D, Gg, Dg = twins(recipe)
    before = {**{"G." + k: v for k, v in G.state_dict().items()},
              **{"D." + k: v for k, v in D.state_dict().items()}}
    real = tiny_images(8)
    results = []
    for g, d, device in ((G, D, "cpu"), (Gg, Dg, "gpu")):
        opt_d, opt_g = gan.make_optimizers(g, d, recipe)
        mg.manual_seed(7)
        gan.discriminator_step(g, d, opt_d, backend.to_device(real, device), build.rules(recipe))
        gan.generator_step(g, d, opt_g, backend.to_device(real, device), build.rules(recipe))
        results.append({**{"G." + k: v for k, v in g.state_dict().items()},
                        **{"D." + k: v for k, v in d.state_dict().items()}})
    for k in results[0]:
        move_cpu, move_gpu = results[0][k] - before[k], results[1][k] - before[k]
        assert np.abs(move_cpu).max() > 0.5 * lr, k  # the step did move every tensor
        off = np.abs(move_gpu - move_cpu) > 1e-3 * lr
        assert off.mean() < 0.01, f"{k}: {off.sum()} of {off.size} weights moved differently"
        assert np.abs(move_gpu - move_cpu).max() <= 2 * lr + 1e-7, k


def test_trainer_runs_on_the_gpu_and_its_checkpoint_loads_on_the_cpu(tmp_path):
    images = tiny_images(48)
    config = train.TrainConfig(epochs=1, batch_size=16, out=str(tmp_path / "run"), device="gpu",
                               log_every=1)
    trainer = train.Trainer(config, images, log=lambda line: None)
    trainer.train()
    assert backend.on_gpu(next(iter(trainer.G.parameters())).data)
    resumed = train.resume(tmp_path / "run" / "checkpoint.npz", images, epochs=2, device="cpu",
                           log=lambda line: None)
    for (k, a), (_, b) in zip(sorted(trainer.G.state_dict().items()),
                              sorted(resumed.G.state_dict().items())):
        np.testing.assert_array_equal(a, b, err_msg=k)
    resumed.train()  # and it goes on training on the CPU
    assert resumed.epoch == 2


def test_gradients_flow_back_across_devices():
    x = mg.tensor(rng().standard_normal((3, 4)), requires_grad=True)          # CPU leaf
    w = mg.tensor(rng(1).standard_normal((4, 2)), requires_grad=True, device="gpu")
    loss = (x.to("gpu") @ w).sum()                                           # GPU root
    loss.backward()
    assert not backend.on_gpu(x.grad.data) and backend.on_gpu(w.grad.data)
    np.testing.assert_allclose(x.grad.numpy(), np.tile(w.numpy().sum(axis=1), (3, 1)), rtol=1e-5)
