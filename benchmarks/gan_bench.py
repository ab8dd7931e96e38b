"""The MNIST GAN, layer by layer and whole, timed in minigan and in PyTorch side by side.

One process, both engines on the same device and the same number of threads, one report:

  layers   every layer of the seed GAN at its own shapes (batch 64 by default), forward alone and
           forward + backward (a fixed random output gradient): the generator's Dense 100->128,
           128->256, 256->512, 512->1024, 1024->784, the discriminator's Dense 50176->1, Conv2D
           1->32 and 32->64 (28x28, 3x3, padding "same" = PyTorch's padding=1), LeakyReLU(0.01)
           and Dropout(0.3, train mode) on (N, 64, 28, 28), BCE on (N, 1) probabilities, and one
           Adam(lr=1e-4) step over the discriminator's parameters (gradients pre-filled with the
           same random values on both sides). Inputs need a gradient where they do in the GAN
           (not the noise into Dense 100->128, not the image into Conv2D 1->32); weights always.
  model    minigan.gan's seed generator and discriminator against the same layers in PyTorch,
           with minigan's initial weights copied through state_dict, both in train mode, seed
           recipe (Adam lr 1e-4, beta1 0.9), random "real" images uniform in [-1, 1]:
             D step      the seed schedule's discriminator update: a step on N real images, then
                         a step on N fresh fakes (G under no_grad), each forward + BCE +
                         backward + Adam (minigan: gan.discriminator_step with parts=("real",),
                         then parts=("fake",));
             G step      one generator step through the frozen discriminator (D's parameters
                         need no gradient; BCE against label 1; Adam on G only; minigan:
                         gan.generator_step);
             seed epoch  one epoch of the seed schedule: 64 D steps, then one G step (the same
                         real batch every iteration: drawing from MNIST is not measured).
           Each at batch 16, 64 and 256 (--batches). Besides each time: the model's FLOPs (2*M*N*K
           per GEMM: a layer's forward GEMM, plus in backward its input-gradient GEMM when its
           input needs one and its weight-gradient GEMM when its weights do; elementwise work is
           not counted), each engine's achieved GFLOP/s, and the machine's own float32 GEMM rate
           at the same threads (NumPy and torch.matmul on the GAN's big GEMM shapes and a 1024^3
           square), so a reader sees how far both engines are from the hardware.
  memory   peak resident memory (VmHWM) of a D step + G step loop at batch 64, each engine in
           its own child process (this script, with a hidden flag): the minigan child never
           imports torch and the PyTorch child never imports minigan or Numba. Reported: RSS once
           the engine is imported, the peak, and their difference (the training loop's own).

Method (as benchmarks/conv_kernels.py): --threads (default 2) threads for torch, Numba and NumPy's
OpenBLAS. Before timing, both engines' results are compared (outputs and gradients within 1e-4 of
the largest value; Adam updates within 1e-2 lr; dropout: both keep about 70%; models: G's and
eval-mode D's outputs); the script exits with status 1 when a check fails. A minigan op whose
GPU kernel is not written yet (NotImplementedError) shows "n/a" and PyTorch is timed alone.
After warm-up rounds the engines alternate (the one that goes first rotating), each call timed
alone with time.perf_counter; on the GPU each engine's queue is synchronised before the clock is
read. The report (stdout, and --output, default runs/bench/gan_bench.md) has the machine,
versions, threads and load average, Markdown tables of medians with their p25-p75 spread and the
ratio of medians minigan / PyTorch (above 1: minigan is slower), and a bar chart of the ratios
beside it (.png). Progress goes to stderr.

    python benchmarks/gan_bench.py                           # everything, under 10 min on 2 cores
    python benchmarks/gan_bench.py --quick                   # batch 64, 1 round, 2-iteration epoch
    python benchmarks/gan_bench.py --cases "conv,D step" --batches 64 --repeats 20
    python benchmarks/gan_bench.py --list-cases
    python benchmarks/gan_bench.py --device gpu              # CuPy vs PyTorch CUDA, batches 64-1024

Needs torch (the "bench" extra: pip install -e ".[bench]"); --device gpu needs CuPy and a CUDA GPU.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import cell, cpu_model, pinned_threads, threads_from_argv  # noqa: E402

DEFAULT_THREADS = 2
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                   "NUMBA_NUM_THREADS")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMORY_CHILD_FLAG = "--memory-child"


def _flag_value(argv, flag):
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
    return None


CHILD_ENGINE = None
if __name__ == "__main__":  # run as a script: fix thread pools before NumPy and Numba start them
    for _var in THREAD_ENV_VARS:
        os.environ[_var] = threads_from_argv(sys.argv[1:], DEFAULT_THREADS)
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # what `import minigan` sets, which
    # must happen before NumPy loads OpenBLAS (see minigan/__init__.py); torch does not use it
    sys.path.insert(0, REPO_ROOT)  # import minigan from the checkout
    CHILD_ENGINE = _flag_value(sys.argv[1:], MEMORY_CHILD_FLAG)

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402  (torch imports it too)

if CHILD_ENGINE != "torch":  # the PyTorch memory child must not carry minigan (Numba, LLVM)
    import numba  # noqa: E402
    import minigan as mg  # noqa: E402
    import minigan.functional as F  # noqa: E402
    from minigan import gan  # noqa: E402

SIDE, KERNEL, PAD = 28, 3, 1                  # 28x28 images, 3x3 kernels, "same" = padding 1
NOISE_DIM = 100
GENERATOR_SIZES = (100, 128, 256, 512, 1024, 784)
D_CHANNELS = (1, 32, 64)
ALPHA, DROPOUT = 0.01, 0.3
SEED_LR, SEED_BETA1 = 1e-4, 0.9               # minigan.gan.RECIPES["seed"]: minigan_models checks
SEED_ITERATIONS = 64                          # D steps per seed epoch (then one G step)
TOLERANCE = 1e-4
LAYER_BATCH, MEMORY_BATCH = 64, 64
BATCHES = {"cpu": (16, 64, 256), "gpu": (64, 256, 1024)}
WARMUP = {"layer": 3, "step": 2, "epoch": 1}  # epoch warm-up: one iteration, not a whole epoch
REPEATS = {"layer": 30, "step": 10, "gemm": 10}
MEMORY_STEPS = 3                              # D step + G step pairs after one warm-up pair


def _epoch_repeats(device, batch):
    """Timed seed epochs: one at batch 256 on 2 CPU cores is already ~3 minutes for the pair."""
    if device == "gpu":
        return 5
    return 3 if batch <= 16 else 2 if batch <= 64 else 1


# ----------------------------------------------------------------------------------------------
# The device both engines run on

class Device:
    """minigan's device name, PyTorch's, the array module, and how to wait for each engine."""

    def __init__(self, name, torch):
        self.name = name
        if name == "gpu":
            mg.set_device("gpu")  # raises mg.DeviceError saying what is missing (CuPy, a GPU)
            if not torch.cuda.is_available():
                raise mg.DeviceError(f"torch {torch.__version__} sees no CUDA GPU (a CPU-only "
                                     "build, or no driver); --device gpu needs a CUDA build")
            import cupy
            self.minigan, self.torch, self.xp = "gpu", "cuda", cupy
            # float32 on both sides: PyTorch lets cuDNN convolutions use TF32 tensor cores by
            # default (10-bit mantissas), CuPy's cuBLAS calls do not
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False

            def wait():
                cupy.cuda.get_current_stream().synchronize()
            self.sync = {"minigan": wait, "array": wait, "torch": torch.cuda.synchronize}
            self.description = (f"GPU {torch.cuda.get_device_name()} | cupy {cupy.__version__}"
                                f" | CUDA (torch) {torch.version.cuda} | TF32 off")
        else:
            mg.set_device("cpu")
            self.minigan, self.torch, self.xp = "cpu", "cpu", np
            self.sync = {name: lambda: None for name in ("minigan", "array", "torch")}
            self.description = "CPU"


def _host(x):
    """A NumPy copy of a minigan or torch tensor (torch's .numpy() would share the memory)."""
    return x.numpy() if hasattr(x, "_ctx") else np.array(x.detach().cpu().numpy(), copy=True)


def _rel_diff(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max()) / max(float(np.abs(b).max()), 1e-12)


def _diff_check(pairs):
    worst = max(_rel_diff(a, b) for a, b in pairs)
    return f"max rel. diff {worst:.1e}", worst <= TOLERANCE


# ----------------------------------------------------------------------------------------------
# FLOPs: 2*M*N*K per GEMM; a layer is (kind, inputs, outputs)

GENERATOR_LAYERS = [("dense", a, b) for a, b in zip(GENERATOR_SIZES[:-1], GENERATOR_SIZES[1:])]
DISCRIMINATOR_LAYERS = [("conv", 1, 32), ("conv", 32, 64), ("dense", 64 * SIDE * SIDE, 1)]


def _macs(layer):
    """Multiply-adds per example of the forward GEMM: in*out, or OH*OW*OC*C*KH*KW."""
    kind, c_in, c_out = layer
    return c_in * c_out * (SIDE * SIDE * KERNEL * KERNEL if kind == "conv" else 1)


def _layer_flops(layer, n, backward, x_grad, w_grad=True):
    """Forward GEMM, plus (backward) the input-gradient and weight-gradient GEMMs that are needed;
    each of the three has the forward's M*N*K."""
    gemms = 1 + (int(x_grad) + int(w_grad) if backward else 0)
    return 2 * n * _macs(layer) * gemms


def _net_flops(layers, n, backward, input_grad, weight_grads):
    """A network's GEMMs: every layer but the first gets an input gradient (the first only when
    the network's input needs one); weight gradients only when the weights need them."""
    return sum(_layer_flops(layer, n, backward, x_grad=(i > 0 or input_grad),
                            w_grad=weight_grads) for i, layer in enumerate(layers))


def d_step_flops(n):
    """G forward (no grad), then two D forward + backward passes (images need no gradient)."""
    return (_net_flops(GENERATOR_LAYERS, n, False, False, False)
            + 2 * _net_flops(DISCRIMINATOR_LAYERS, n, True, False, True))


def g_step_flops(n):
    """G forward + backward (noise needs no gradient); D forward + backward to its input, with
    no weight gradients (D is frozen)."""
    return (_net_flops(GENERATOR_LAYERS, n, True, False, True)
            + _net_flops(DISCRIMINATOR_LAYERS, n, True, True, False))


def epoch_flops(n, iterations):
    return iterations * d_step_flops(n) + g_step_flops(n)


# ----------------------------------------------------------------------------------------------
# The models and their training steps, in each engine

def torch_generator(torch):
    """The seed generator: Dense 100 -> 128 -> 256 -> 512 -> 1024 (ReLU) -> 784, tanh."""
    tn, layers = torch.nn, []
    for a, b in zip(GENERATOR_SIZES[:-2], GENERATOR_SIZES[1:-1]):
        layers += [tn.Linear(a, b), tn.ReLU()]
    return tn.Sequential(*layers, tn.Linear(GENERATOR_SIZES[-2], GENERATOR_SIZES[-1]), tn.Tanh())


def torch_discriminator(torch):
    """The seed discriminator, layer for layer as minigan.gan's (Unflatten for its Reshape), so
    the state_dict keys ("1.weight", ...) match."""
    tn = torch.nn
    return tn.Sequential(tn.Unflatten(1, (1, SIDE, SIDE)),
                         tn.Conv2d(1, 32, KERNEL, padding=PAD), tn.LeakyReLU(ALPHA),
                         tn.Dropout(DROPOUT),
                         tn.Conv2d(32, 64, KERNEL, padding=PAD), tn.LeakyReLU(ALPHA),
                         tn.Dropout(DROPOUT),
                         tn.Flatten(), tn.Linear(64 * SIDE * SIDE, 1), tn.Sigmoid())


def torch_adam(torch, module):
    return torch.optim.Adam(module.parameters(), lr=SEED_LR, betas=(SEED_BETA1, 0.999))


def torch_steps(torch, G, D, opt_d, opt_g, real):
    """(D step, G step) in PyTorch, written as minigan.gan's discriminator_step/generator_step."""
    bce = torch.nn.functional.binary_cross_entropy
    n, device = real.shape[0], real.device

    def d_on(x, label):
        loss = bce(D(x), torch.full((n, 1), label, device=device))
        opt_d.zero_grad()
        loss.backward()
        opt_d.step()

    def d_step():
        d_on(real, 1.0)                                         # maximise log D(x) ...
        with torch.no_grad():
            fake = G(torch.randn(n, NOISE_DIM, device=device))  # (N, 784); no graph into G
        d_on(fake, 0.0)                                         # ... + log(1 - D(G(z)))

    def g_step():                                               # maximise log D(G(z))
        z = torch.randn(n, NOISE_DIM, device=device)
        D.requires_grad_(False)                                 # frozen: no weight gradients
        try:
            loss = bce(D(G(z)), torch.full((n, 1), 1.0, device=device))
            opt_g.zero_grad()
            loss.backward()
            opt_g.step()
        finally:
            D.requires_grad_(True)

    return d_step, g_step


def minigan_steps(G, D, opt_d, opt_g, real, recipe):
    """(D step, G step) in minigan: the seed schedule's calls, as minigan.train does them."""
    def d_step():
        gan.discriminator_step(G, D, opt_d, real, recipe, parts=("real",))
        gan.discriminator_step(G, D, opt_d, real, recipe, parts=("fake",))

    def g_step():
        gan.generator_step(G, D, opt_g, real.shape[0])

    return d_step, g_step


def minigan_models(device):
    """The seed G and D in minigan on `device`, and make_optimizers' two Adams."""
    recipe = gan.get_recipe("seed")
    if (recipe.lr_d, recipe.lr_g, recipe.beta1) != (SEED_LR, SEED_LR, SEED_BETA1):
        raise RuntimeError(f"the seed recipe changed ({recipe.describe()}): update SEED_LR and "
                           "SEED_BETA1 in gan_bench.py")
    mg.manual_seed(0)
    G, D = gan.build_generator(recipe).to(device), gan.build_discriminator(recipe).to(device)
    opt_d, opt_g = gan.make_optimizers(G, D, recipe)
    return G, D, opt_d, opt_g, recipe


def _models(torch, dev):
    """minigan_models, and the same weights in PyTorch's layers (with PyTorch's Adams)."""
    G, D, opt_d, opt_g, recipe = minigan_models(dev.minigan)
    tG, tD = torch_generator(torch), torch_discriminator(torch)
    for mine, theirs in ((G, tG), (D, tD)):
        theirs.load_state_dict({k: torch.from_numpy(v) for k, v in mine.state_dict().items()})
        theirs.to(dev.torch)
    return (G, D, opt_d, opt_g, recipe), (tG, tD, torch_adam(torch, tD), torch_adam(torch, tG))


# ----------------------------------------------------------------------------------------------
# Layer cases. A case is a dict: "engines" {"minigan": fn, "torch": fn}, "reset" (untimed, before
# each call), "check" () -> (text, ok), "what", and optionally "flops" and "warmup_engines".

def _op_case(torch, dev, inputs, fm, ft, gy0, backward, what, flops=None, check=None):
    """An op on the same inputs in both engines. inputs: [(array, requires_grad)]; fm/ft map
    the engine's tensors to its output; gy0: the output gradient (None for a scalar output)."""
    tm = [mg.tensor(a, requires_grad=g, device=dev.minigan) for a, g in inputs]
    tt = [torch.tensor(a, requires_grad=g, device=dev.torch) for a, g in inputs]
    gym = None if gy0 is None else mg.tensor(gy0, device=dev.minigan)
    gyt = None if gy0 is None else torch.tensor(gy0, device=dev.torch)

    def reset():
        for t in tm + tt:
            t.grad = None

    def compare():
        reset()
        ym, yt = fm(*tm), ft(*tt)
        pairs = [(_host(ym), _host(yt))]
        if backward:
            ym.backward(gym)
            yt.backward(gyt)
            pairs += [(_host(a.grad), _host(b.grad)) for a, b in zip(tm, tt) if a.requires_grad]
        reset()
        return _diff_check(pairs)

    if backward:
        engines = {"minigan": lambda: fm(*tm).backward(gym), "torch": lambda: ft(*tt).backward(gyt)}
    else:
        engines = {"minigan": lambda: fm(*tm), "torch": lambda: ft(*tt)}
    return {"engines": engines, "reset": reset, "what": what, "flops": flops,
            "check": (lambda: check(fm, ft, tm, tt)) if check else compare}


def _glorot(rng, shape, fan_in, fan_out):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def case_dense(torch, dev, n, n_in, n_out, backward):
    rng = np.random.default_rng(n_in + n_out)
    x_grad = n_in != NOISE_DIM  # the generator's first layer reads noise, which needs no gradient
    inputs = [(rng.standard_normal((n, n_in)).astype(np.float32), x_grad),
              (_glorot(rng, (n_out, n_in), n_in, n_out), True),
              (rng.uniform(-0.1, 0.1, n_out).astype(np.float32), True)]
    gy0 = rng.standard_normal((n, n_out)).astype(np.float32)
    what = f"x ({n}, {n_in}) -> ({n}, {n_out})" + (
        f"; backward: {'dx, ' if x_grad else ''}dW, db" if backward else "")
    return _op_case(torch, dev, inputs, lambda x, w, b: F.dense(x, w, b),
                    lambda x, w, b: torch.nn.functional.linear(x, w, b), gy0, backward, what,
                    flops=_layer_flops(("dense", n_in, n_out), n, backward, x_grad))


def case_conv(torch, dev, n, c, oc, backward):
    rng = np.random.default_rng(c + oc)
    x_grad = c > 1  # the first convolution reads the image, which needs no gradient in a D step
    inputs = [(rng.standard_normal((n, c, SIDE, SIDE)).astype(np.float32), x_grad),
              (_glorot(rng, (oc, c, KERNEL, KERNEL), c * KERNEL * KERNEL, oc * KERNEL * KERNEL),
               True),
              (rng.uniform(-0.1, 0.1, oc).astype(np.float32), True)]
    gy0 = rng.standard_normal((n, oc, SIDE, SIDE)).astype(np.float32)
    what = f"x ({n}, {c}, {SIDE}, {SIDE}), 3x3, pad same/1 -> ({n}, {oc}, {SIDE}, {SIDE})" + (
        f"; backward: {'dx, ' if x_grad else ''}dW, db" if backward else "")
    return _op_case(torch, dev, inputs,
                    lambda x, w, b: F.conv2d(x, w, b, stride=1, padding="same"),
                    lambda x, w, b: torch.nn.functional.conv2d(x, w, b, padding=PAD),
                    gy0, backward, what, flops=_layer_flops(("conv", c, oc), n, backward, x_grad))


def _activation_inputs(n, seed):
    rng = np.random.default_rng(seed)
    shape = (n, 64, SIDE, SIDE)
    return shape, rng.standard_normal(shape).astype(np.float32), \
        rng.standard_normal(shape).astype(np.float32)


def case_leaky_relu(torch, dev, n, backward):
    shape, x0, gy0 = _activation_inputs(n, 5)
    return _op_case(torch, dev, [(x0, True)], lambda x: F.leaky_relu(x, ALPHA),
                    lambda x: torch.nn.functional.leaky_relu(x, ALPHA), gy0, backward,
                    f"LeakyReLU({ALPHA}) on {shape}" + ("; backward: dx" if backward else ""))


def _dropout_check(fm, ft, tm, tt):
    """The masks differ between engines; check that each keeps 1 - rate of the elements."""
    kept = [float((_host(y) != 0).mean()) for y in (fm(*tm), ft(*tt))]
    ok = all(abs(k - (1 - DROPOUT)) < 0.01 for k in kept)
    return f"masks differ; kept {kept[0]:.1%} / {kept[1]:.1%}", ok


def case_dropout(torch, dev, n, backward):
    shape, x0, gy0 = _activation_inputs(n, 6)
    return _op_case(torch, dev, [(x0, True)], lambda x: F.dropout(x, DROPOUT, training=True),
                    lambda x: torch.nn.functional.dropout(x, DROPOUT, training=True), gy0,
                    backward, f"Dropout({DROPOUT}), train mode, on {shape}"
                    + ("; backward: dx" if backward else ""), check=_dropout_check)


def case_bce(torch, dev, n, backward):
    rng = np.random.default_rng(7)
    p0 = rng.uniform(0.01, 0.99, (n, 1)).astype(np.float32)
    t0 = rng.integers(0, 2, (n, 1)).astype(np.float32)
    return _op_case(torch, dev, [(p0, True), (t0, False)],
                    lambda p, t: F.binary_cross_entropy(p, t),
                    lambda p, t: torch.nn.functional.binary_cross_entropy(p, t), None, backward,
                    f"mean BCE of p ({n}, 1) against 0/1 labels" + ("; backward: dp"
                                                                     if backward else ""))


def case_adam(torch, dev):
    (_, D, _, _, _), (_, tD, _, _) = _models(torch, dev)
    om = mg.optim.Adam(D.parameters(), lr=SEED_LR, betas=(SEED_BETA1, 0.999))
    ot = torch_adam(torch, tD)
    tparams = dict(tD.named_parameters())
    rng = np.random.default_rng(8)
    for name, p in D.named_parameters():  # the same gradients, kept for every step
        g0 = rng.standard_normal(p.shape).astype(np.float32)
        p.grad = mg.tensor(g0, device=dev.minigan)
        tparams[name].grad = torch.tensor(g0, device=dev.torch)

    def check():  # one step from the same weights and state: compare the updates, in units of lr
        before_m = {k: p.numpy() for k, p in D.named_parameters()}
        before_t = {k: _host(p) for k, p in tparams.items()}
        om.step()
        ot.step()
        worst = max(float(np.abs((p.numpy() - before_m[k]) - (_host(tparams[k]) - before_t[k]))
                          .max()) / SEED_LR for k, p in D.named_parameters())
        return f"update diff {worst:.1e} lr", worst <= 1e-2

    size = sum(int(np.prod(p.shape)) for p in D.parameters())
    return {"engines": {"minigan": om.step, "torch": ot.step}, "reset": lambda: None,
            "check": check, "what": f"Adam(lr={SEED_LR}) step over D's {len(D.parameters())} "
            f"parameter tensors ({size:,} values)"}


# ----------------------------------------------------------------------------------------------
# Whole-model cases

def _model_case(torch, dev, n, kind, iterations):
    (G, D, opt_d, opt_g, recipe), (tG, tD, topt_d, topt_g) = _models(torch, dev)
    real0 = np.random.default_rng(9).uniform(-1, 1, (n, SIDE * SIDE)).astype(np.float32)
    real_m = mg.tensor(real0, device=dev.minigan)
    real_t = torch.tensor(real0, device=dev.torch)
    d_m, g_m = minigan_steps(G, D, opt_d, opt_g, real_m, recipe)
    d_t, g_t = torch_steps(torch, tG, tD, topt_d, topt_g, real_t)

    def check():  # the same weights and layers: G's output, and D's with dropout off
        z0 = np.random.default_rng(10).standard_normal((n, NOISE_DIM)).astype(np.float32)
        D.eval()
        tD.eval()
        try:
            with mg.no_grad(), torch.no_grad():
                pairs = [(_host(G(mg.tensor(z0, device=dev.minigan))),
                          _host(tG(torch.tensor(z0, device=dev.torch)))),
                         (_host(D(real_m)), _host(tD(real_t)))]
        finally:  # back to train mode even when minigan raises (no GPU twin): dropout is timed
            D.train()
            tD.train()
        text, ok = _diff_check(pairs)
        return "G, eval D outputs: " + text, ok

    def epoch(d_step, g_step, k):
        def run():
            for _ in range(k):
                d_step()
            g_step()
        return run

    if kind == "D step":
        engines, flops = {"minigan": d_m, "torch": d_t}, d_step_flops(n)
        what = (f"D step on {n} real, then on {n} fakes (G under no_grad): forward, BCE, "
                "backward, Adam, twice")
    elif kind == "G step":
        engines, flops = {"minigan": g_m, "torch": g_t}, g_step_flops(n)
        what = "G step through the frozen D: G, D forward, BCE(label 1), backward, Adam on G"
    else:
        engines = {"minigan": epoch(d_m, g_m, iterations), "torch": epoch(d_t, g_t, iterations)}
        flops = epoch_flops(n, iterations)
        what = f"{iterations} D steps (real, then fake), then one G step"
    case = {"engines": engines, "reset": lambda: None, "check": check, "flops": flops,
            "what": f"batch {n}: {what}"}
    if kind == "seed epoch":  # warm up with one iteration, not a whole epoch
        case["warmup_engines"] = {"minigan": epoch(d_m, g_m, 1), "torch": epoch(d_t, g_t, 1)}
    return case


# ----------------------------------------------------------------------------------------------
# The list of cases: (name, kind, build(torch, dev)); --cases selects by name

def case_list(args):
    n = args.layer_batch
    cases = []

    def both(label, build):
        for backward in (False, True):
            cases.append((f"{label} {'fwd+bwd' if backward else 'fwd'}", "layer",
                          lambda t, d, b=backward: build(t, d, b)))

    for a, b in zip(GENERATOR_SIZES[:-1], GENERATOR_SIZES[1:]):
        both(f"dense {a}->{b}", lambda t, d, bw, a=a, b=b: case_dense(t, d, n, a, b, bw))
    both(f"dense {64 * SIDE * SIDE}->1",
         lambda t, d, bw: case_dense(t, d, n, 64 * SIDE * SIDE, 1, bw))
    for c, oc in zip(D_CHANNELS[:-1], D_CHANNELS[1:]):
        both(f"conv {c}->{oc}", lambda t, d, bw, c=c, oc=oc: case_conv(t, d, n, c, oc, bw))
    both("leaky_relu", lambda t, d, bw: case_leaky_relu(t, d, n, bw))
    both("dropout", lambda t, d, bw: case_dropout(t, d, n, bw))
    both("bce", lambda t, d, bw: case_bce(t, d, n, bw))
    cases.append(("adam step", "layer", case_adam))
    for kind in ("D step", "G step"):
        for batch in args.batches:
            cases.append((f"{kind} b{batch}", "step", lambda t, d, k=kind, b=batch:
                          _model_case(t, d, b, k, args.epoch_iterations)))
    cases.append((f"memory b{MEMORY_BATCH}", "memory", None))
    for batch in args.batches:
        cases.append((f"seed epoch b{batch}", "epoch", lambda t, d, b=batch:
                      _model_case(t, d, b, "seed epoch", args.epoch_iterations)))
    return cases


def select(cases, patterns):
    """The cases whose name contains one of the comma-separated patterns (case-insensitive)."""
    if not patterns:
        return cases
    wanted = [p.strip().lower() for p in patterns.split(",") if p.strip()]
    chosen = [c for c in cases if any(p in c[0].lower() for p in wanted)]
    if not chosen:
        raise SystemExit(f"error: --cases {patterns!r} matches no case; the cases are: "
                         + ", ".join(c[0] for c in cases))
    return chosen


# ----------------------------------------------------------------------------------------------
# Timing

def measure(case, dev, warmup, repeats):
    """Interleaved timings in seconds, {engine: [...]}; the engine that goes first rotates."""
    engines = list(case["engines"])
    warm = case.get("warmup_engines", case["engines"])
    for _ in range(warmup):
        for name in engines:
            case["reset"]()
            warm[name]()
            dev.sync[name]()
    times = {name: [] for name in engines}
    gc.collect()
    for i in range(repeats):
        k = i % len(engines)
        for name in engines[k:] + engines[:k]:
            case["reset"]()
            dev.sync[name]()
            t0 = time.perf_counter()
            case["engines"][name]()
            dev.sync[name]()  # the GPU queues work: wait for it before reading the clock
            times[name].append(time.perf_counter() - t0)
    case["reset"]()
    return times


def gemm_rates(torch, dev, n, warmup, repeats):
    """The machine's float32 GEMM rate at the benchmark's threads: NumPy (CuPy on the GPU) and
    torch.matmul on the GAN's big GEMM shapes and a square one. Rows: (what, {engine: GFLOP/s
    samples})."""
    cols = n * SIDE * SIDE
    shapes = [(f"conv 32->64 forward: (64x288) @ (288x{cols})", 64, 288, cols),
              (f"conv 32->64 input grad: (288x64) @ (64x{cols})", 288, 64, cols),
              (f"conv 32->64 weight grad: (64x{cols}) @ ({cols}x288)", 64, cols, 288),
              (f"dense 1024->784 forward: ({n}x1024) @ (1024x784)", n, 1024, 784),
              ("square: (1024x1024) @ (1024x1024)", 1024, 1024, 1024)]
    rng = np.random.default_rng(11)
    rows = []
    for what, m, k, p in shapes:  # (m x k) @ (k x p)
        a0 = rng.standard_normal((m, k)).astype(np.float32)
        b0 = rng.standard_normal((k, p)).astype(np.float32)
        am, bm = dev.xp.asarray(a0), dev.xp.asarray(b0)
        at, bt = torch.tensor(a0, device=dev.torch), torch.tensor(b0, device=dev.torch)
        case = {"engines": {"array": lambda a=am, b=bm: a @ b,
                            "torch": lambda a=at, b=bt: torch.matmul(a, b)},
                "reset": lambda: None}
        times = measure(case, dev, warmup, repeats)
        rows.append((what, {e: [2 * m * k * p / t / 1e9 for t in ts] for e, ts in times.items()}))
    return rows


# ----------------------------------------------------------------------------------------------
# Peak memory, each engine in a child process of this script

def _peak_rss_mib():
    """This process's peak resident set size so far, in MiB. On Linux, VmHWM from
    /proc/self/status: getrusage's ru_maxrss would report the parent's peak instead when that is
    larger (subprocess starts the child with vfork + exec, and the kernel carries the parent's
    high-water mark over the exec). Elsewhere ru_maxrss (KiB; bytes on macOS)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def memory_child(engine, device, threads, n, steps):
    """Import one engine, build the seed G and D, run 1 + `steps` (D step, G step) pairs at batch
    n; print the peak RSS after the import and at the end (and the GPU allocator's held bytes)."""
    real0 = np.random.default_rng(9).uniform(-1, 1, (n, SIDE * SIDE)).astype(np.float32)
    if engine == "torch":
        import torch
        torch.set_num_threads(threads)
        rss_import = _peak_rss_mib()
        tdevice = "cuda" if device == "gpu" else "cpu"
        torch.manual_seed(0)  # PyTorch's own initialisation: the weights' values do not matter
        G, D = torch_generator(torch).to(tdevice), torch_discriminator(torch).to(tdevice)
        d_step, g_step = torch_steps(torch, G, D, torch_adam(torch, D), torch_adam(torch, G),
                                     torch.tensor(real0, device=tdevice))
        sync = torch.cuda.synchronize if device == "gpu" else (lambda: None)
    else:
        numba.set_num_threads(threads)
        mg.set_device(device)
        rss_import = _peak_rss_mib()
        G, D, opt_d, opt_g, recipe = minigan_models(device)
        d_step, g_step = minigan_steps(G, D, opt_d, opt_g, mg.tensor(real0, device=device), recipe)
        sync = (lambda: None) if device == "cpu" else _cupy_sync
    for _ in range(1 + steps):
        d_step()
        g_step()
    sync()
    other = [m for m in (("torch",) if engine == "minigan" else ("minigan", "numba"))
             if m in sys.modules]
    if other:  # its memory would be counted against this engine
        raise RuntimeError(f"the {engine} memory child imported {other}")
    result = {"engine": engine, "rss_import_mib": rss_import, "rss_peak_mib": _peak_rss_mib()}
    if device == "gpu":
        if engine == "torch":
            result["gpu_mib"] = torch.cuda.max_memory_reserved() / 2**20
        else:
            import cupy
            result["gpu_mib"] = cupy.get_default_memory_pool().total_bytes() / 2**20
    print("MEMORY-RESULT " + json.dumps(result), flush=True)
    return 0


def _cupy_sync():
    import cupy
    cupy.cuda.get_current_stream().synchronize()


def memory_report(args):
    """Run both memory children: {engine: result dict}, or {"error": text} when one fails."""
    results = {}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [REPO_ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    for var in THREAD_ENV_VARS:
        env[var] = str(args.threads)
    steps = 0 if args.quick else MEMORY_STEPS
    for engine in ("minigan", "torch"):
        command = [sys.executable, os.path.abspath(__file__), MEMORY_CHILD_FLAG, engine,
                   "--device", args.device, "--threads", str(args.threads),
                   "--memory-steps", str(steps)]
        proc = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=600)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("MEMORY-RESULT ")]
        if proc.returncode != 0 or not lines:  # e.g. a minigan kernel without its GPU twin yet
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"\nwarning: the {engine} memory child failed: {last}", file=sys.stderr)
            return {"error": f"the {engine} child failed (status {proc.returncode}): {last}"}
        results[engine] = json.loads(lines[-1][len("MEMORY-RESULT "):])
        results[engine]["steps"] = steps
    return results


# ----------------------------------------------------------------------------------------------
# Running the cases

def run_case(name, kind, build, args, torch, dev):
    """Build, check, warm up and time one case; a result dict for the report."""
    case = build(torch, dev)
    batch = int(name.rsplit("b", 1)[1]) if kind in ("step", "epoch") else None
    warmup, repeats = _rounds(args, kind, batch)
    try:
        check, ok = case["check"]()
    except NotImplementedError as exc:  # a minigan kernel without its GPU twin yet: PyTorch only
        check, ok = "minigan: " + str(exc).split(";")[0], True
        del case["engines"]["minigan"]
    if not ok:
        print(f"\nerror: {name}: results differ ({check}); the timings would compare different "
              "work", file=sys.stderr)
    times = measure(case, dev, warmup, repeats)
    return {"name": name, "kind": kind, "what": case["what"], "flops": case.get("flops"),
            "check": check, "ok": ok, "warmup": warmup, "repeats": repeats, "times": times}


def run_all(cases, args, torch, dev):
    """(results, GEMM rates or None, memory or None), printing progress to stderr."""
    gemm = memory = None
    if any(kind in ("step", "epoch") for _, kind, _ in cases):
        started = time.perf_counter()
        print("[gemm] the machine's GEMM rate ...", end="", file=sys.stderr, flush=True)
        warmup, repeats = (1, 1) if args.quick else (2, REPEATS["gemm"])
        gemm = gemm_rates(torch, dev, MEMORY_BATCH, warmup, repeats)
        print(f" {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    results = []
    for index, (name, kind, build) in enumerate(cases, 1):
        started = time.perf_counter()
        print(f"[{index}/{len(cases)}] {name} ...", end="", file=sys.stderr, flush=True)
        if kind == "memory":
            memory = memory_report(args)
            note = ""
        else:
            results.append(run_case(name, kind, build, args, torch, dev))
            note = f" (warm-up {results[-1]['warmup']}, {results[-1]['repeats']} rounds)"
            gc.collect()
        print(f" {time.perf_counter() - started:.1f} s{note}", file=sys.stderr, flush=True)
    return results, gemm, memory


# ----------------------------------------------------------------------------------------------
# Report

def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows]


def _load():
    try:
        return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "load average unknown"


def _ratio(result):
    times = result["times"]
    if "minigan" not in times:
        return None
    return float(np.median(times["minigan"]) / np.median(times["torch"]))


def _rate(result, engine, peak=None):
    """Achieved GFLOP/s of an engine (at its median), with its share of `peak` when given."""
    if not result["flops"]:
        return "–"
    if engine not in result["times"]:
        return "n/a"
    rate = result["flops"] / float(np.median(result["times"][engine])) / 1e9
    return f"{rate:.1f}" + (f" ({rate / peak:.0%})" if peak else "")


def _timing_cells(result):
    times, ratio = result["times"], _ratio(result)
    return (cell(times["minigan"]) if ratio is not None else "n/a", cell(times["torch"]),
            f"{ratio:.2f}x" if ratio is not None else "–")


def _rate_cell(samples):
    p25, p50, p75 = np.percentile(samples, [25, 50, 75])
    return f"{p50:.1f} ({p25:.1f}–{p75:.1f})"


def _mib(value):
    return f"{value:.0f} MiB"


def report_tables(results, gemm, memory, args, dev):
    lines = ["", "warm-up rounds first, then timed rounds interleaved (order rotating); median "
             "(p25–p75); ratio = median(minigan) / median(PyTorch): above 1, minigan is slower"]
    layers = [r for r in results if r["kind"] == "layer"]
    if layers:
        lines += ["", f"## Layers (batch {args.layer_batch})", ""]
        lines += _table(("case", "what", "rounds", "minigan", "PyTorch", "minigan / PyTorch",
                         "minigan GFLOP/s", "PyTorch GFLOP/s", "check"),
                        [(r["name"], r["what"], r["repeats"], *_timing_cells(r),
                          _rate(r, "minigan"), _rate(r, "torch"), r["check"]) for r in layers])
    models = [r for r in results if r["kind"] != "layer"]
    if models:
        peak = max(float(np.median(r)) for _, s in gemm for r in s.values())
        lines += ["", "## Whole model (seed recipe, train mode)", "",
                  "GFLOP: the step's GEMMs (2·M·N·K each; see the script's docstring). In "
                  "parentheses: the share of the best GEMM rate measured below (either "
                  f"library), {peak:.1f} GFLOP/s.", ""]
        lines += _table(("case", "what", "rounds", "minigan", "PyTorch", "minigan / PyTorch",
                         "GFLOP", "minigan GFLOP/s", "PyTorch GFLOP/s", "check"),
                        [(r["name"], r["what"], r["repeats"], *_timing_cells(r),
                          f"{r['flops'] / 1e9:.2f}", _rate(r, "minigan", peak),
                          _rate(r, "torch", peak), r["check"]) for r in models])
        lines += ["", f"The machine's float32 GEMM rate at {args.threads} threads, GFLOP/s, "
                  "median (p25–p75):", ""]
        lines += _table(("GEMM", f"{dev.xp.__name__} @", "torch.matmul"),
                        [(what, _rate_cell(s["array"]), _rate_cell(s["torch"]))
                         for what, s in gemm])
    if memory and "error" in memory:
        lines += ["", f"## Peak memory (batch {MEMORY_BATCH})", "",
                  f"Not measured: {memory['error']}"]
    elif memory:
        m, t = memory["minigan"], memory["torch"]
        gpu = "gpu_mib" in m
        lines += ["", f"## Peak memory (batch {MEMORY_BATCH})", "",
                  f"Each engine alone in a child process: 1 + {m['steps']} (D step, G step) "
                  "pairs; peak RSS (VmHWM) once the engine is imported and at the end. The PyTorch "
                  "child's models keep PyTorch's initialisation (values do not change memory)."
                  + (" GPU: CuPy's memory pool total, torch.cuda.max_memory_reserved()."
                     if gpu else ""), ""]
        rows = []
        for engine, r in (("minigan", m), ("PyTorch", t)):
            rows.append((engine, _mib(r["rss_import_mib"]), _mib(r["rss_peak_mib"]),
                         _mib(r["rss_peak_mib"] - r["rss_import_mib"]))
                        + ((_mib(r["gpu_mib"]),) if gpu else ()))
        loop_m, loop_t = (r["rss_peak_mib"] - r["rss_import_mib"] for r in (m, t))
        rows.append(("minigan / PyTorch", f"{m['rss_import_mib'] / t['rss_import_mib']:.2f}x",
                     f"{m['rss_peak_mib'] / t['rss_peak_mib']:.2f}x",
                     f"{loop_m / max(loop_t, 1e-9):.2f}x")
                    + ((f"{m['gpu_mib'] / max(t['gpu_mib'], 1e-9):.2f}x",) if gpu else ()))
        lines += _table(("engine", "RSS after import", "peak RSS", "peak − import")
                        + (("GPU memory held",) if gpu else ()), rows)
    return lines


def write_chart(path, results, memory, title):
    """Horizontal bars of minigan / PyTorch, log scale, a line at 1 (equal)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"layer": "tab:blue", "step": "tab:orange", "epoch": "tab:red",
              "memory": "tab:green"}
    bars = [(r["name"], _ratio(r), r["kind"]) for r in results if _ratio(r) is not None]
    if memory and "error" not in memory:
        bars.append((f"memory b{MEMORY_BATCH} (peak RSS)", memory["minigan"]["rss_peak_mib"]
                     / memory["torch"]["rss_peak_mib"], "memory"))
    if not bars:
        return False
    bars = bars[::-1]  # barh draws bottom-up: keep the table's order top-down
    fig, ax = plt.subplots(figsize=(8, 0.26 * len(bars) + 1.6))
    ax.barh([b[0] for b in bars], [b[1] - 1 for b in bars], left=1,  # from 1: equal time
            color=[colors[b[2]] for b in bars])
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=1)
    ratios = [b[1] for b in bars]
    ax.set_xlim(min(ratios + [1]) / 1.6, max(ratios + [1]) * 1.6)  # room for the labels
    for y, ratio in enumerate(ratios):
        ax.text(ratio, y, f" {ratio:.2f} ", va="center", ha="left" if ratio >= 1 else "right",
                fontsize=7)
    ax.set_xlabel("minigan / PyTorch: time (peak RSS for memory); above 1, minigan needs more")
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help=f"threads for torch, Numba and NumPy's BLAS (default {DEFAULT_THREADS})")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                   help="cpu: NumPy/Numba vs torch CPU; gpu: CuPy vs torch CUDA (default cpu)")
    p.add_argument("--batches", default=None,
                   help="comma-separated batch sizes of the whole-model cases (default 16,64,256 "
                        "on the CPU, 64,256,1024 on the GPU; --quick: 64)")
    p.add_argument("--layer-batch", type=int, default=LAYER_BATCH,
                   help=f"batch of the layer cases (default {LAYER_BATCH})")
    p.add_argument("--cases", default=None,
                   help="comma-separated parts of case names to run, e.g. 'conv,D step b64' "
                        "(default: all; --list-cases shows them)")
    p.add_argument("--list-cases", action="store_true", help="print the case names and exit")
    p.add_argument("--repeats", type=int, default=None,
                   help=f"timed rounds of every case (default: layers {REPEATS['layer']}, "
                        f"D/G steps {REPEATS['step']}, seed epochs 3/2/1 at batch <=16/<=64/"
                        "larger on the CPU, 5 on the GPU; --quick: 1)")
    p.add_argument("--warmup", type=int, default=None,
                   help=f"untimed rounds first (default: layers {WARMUP['layer']}, D/G steps "
                        f"{WARMUP['step']}, seed epochs 1 iteration; --quick: 1)")
    p.add_argument("--epoch-iterations", type=int, default=None,
                   help=f"D steps per seed epoch (default {SEED_ITERATIONS}, as the seed "
                        "schedule; --quick: 2)")
    p.add_argument("--quick", action="store_true",
                   help="batch 64 only, 1 warm-up and 1 timed round, 2-iteration epochs: a smoke "
                        "test")
    p.add_argument("--output", default=os.path.join("runs", "bench", "gan_bench.md"),
                   help="the report's Markdown file; the chart goes beside it as .png "
                        "(default runs/bench/gan_bench.md)")
    p.add_argument(MEMORY_CHILD_FLAG, choices=("minigan", "torch"), default=None,
                   help=argparse.SUPPRESS)
    p.add_argument("--memory-steps", type=int, default=MEMORY_STEPS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.threads < 1 or (args.repeats is not None and args.repeats < 1):
        p.error("--threads and --repeats must be at least 1")
    if args.batches is None:
        args.batches = (64,) if args.quick else BATCHES[args.device]
    else:
        try:
            args.batches = tuple(int(b) for b in args.batches.split(",") if b.strip())
        except ValueError:
            p.error(f"--batches: expected comma-separated integers, got {args.batches!r}")
    if args.epoch_iterations is None:
        args.epoch_iterations = 2 if args.quick else SEED_ITERATIONS
    return args


def _rounds(args, kind, batch):
    """(warm-up, timed rounds) of a case."""
    warmup = args.warmup if args.warmup is not None else 1 if args.quick else WARMUP[kind]
    if args.repeats is not None:
        return warmup, args.repeats
    if args.quick:
        return warmup, 1
    if kind == "epoch":
        return warmup, _epoch_repeats(args.device, batch)
    return warmup, REPEATS[kind]


def main(argv=None):
    """Run the selected cases and write the report. Returns 0, or 1 when a check fails; exits
    with status 2 when torch or the requested device is missing."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.memory_child:
        return memory_child(args.memory_child, args.device, args.threads, MEMORY_BATCH,
                            args.memory_steps)
    cases = select(case_list(args), args.cases)
    if args.list_cases:
        print("\n".join(name for name, _, _ in cases))
        return 0
    try:
        import torch
    except ImportError:
        print("gan_bench needs torch: pip install -e \".[bench]\"", file=sys.stderr)
        sys.exit(2)

    started = time.perf_counter()
    previous_device = mg.get_device()
    try:
        try:
            dev = Device(args.device, torch)
        except mg.DeviceError as exc:
            print(f"error: --device {args.device}: {exc}", file=sys.stderr)
            sys.exit(2)
        with pinned_threads(torch, numba, args.threads) as blas_note:
            torch.manual_seed(0)

            threads = (f"torch {torch.get_num_threads()}, Numba {numba.get_num_threads()}, "
                       f"{blas_note}")
            report = [f"# minigan vs PyTorch: the MNIST GAN ({args.device})", "",
                      f"threads: {threads} | python {platform.python_version()} | "
                      f"numpy {np.__version__} | numba {numba.__version__} | "
                      f"torch {torch.__version__} | minigan {mg.__version__}", "",
                      f"machine: {cpu_model()} ({os.cpu_count()} logical cores), "
                      f"{platform.system()} {platform.release()} | device: {dev.description} | "
                      f"{_load()} at start"]
            print("\n".join(report), flush=True)
            results, gemm, memory = run_all(cases, args, torch, dev)
            lines = report_tables(results, gemm, memory, args, dev)
            lines += ["", f"run time {time.perf_counter() - started:.0f} s | {_load()} at the end"]
            print("\n".join(lines), flush=True)
            report += lines

            os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
            chart = os.path.splitext(args.output)[0] + ".png"
            if write_chart(chart, results, memory,
                           f"minigan vs PyTorch, {dev.description}, {args.threads} threads"):
                report += ["", f"![minigan / PyTorch]({os.path.basename(chart)})"]
            with open(args.output, "w", encoding="utf-8") as f:
                f.write("\n".join(report) + "\n")
            print(f"wrote {args.output} and {chart}", file=sys.stderr)
            return 0 if all(r["ok"] for r in results) else 1
    finally:
        mg.set_device(previous_device)


if __name__ == "__main__":
    sys.exit(main())
