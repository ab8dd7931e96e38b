"""The MNIST GAN, layer by layer and whole, timed in minigan and in PyTorch side by side.

    python benchmarks/gan_bench.py                           # everything, under 10 min on 2 cores
    python benchmarks/gan_bench.py --quick                   # batch 64, 1 round, 2-iteration epoch
    python benchmarks/gan_bench.py --cases "conv,D step" --batches 64 --repeats 20
    python benchmarks/gan_bench.py --list-cases
    python benchmarks/gan_bench.py --device gpu              # CuPy vs PyTorch CUDA, batches 64-1024

The report states what each case runs, how it is checked and timed; the results and what they
mean are in benchmarks/RESULTS.md. Needs torch (pip install -e ".[bench]"); --device gpu needs
CuPy and a CUDA GPU.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import prepare_script  # noqa: E402

DEFAULT_THREADS = 2
if __name__ == "__main__":  # NumPy and torch first, as in a user's script (or --import-order)
    prepare_script(sys.argv[1:])

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import NamedTuple  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402

import gan_memory  # noqa: E402
import gan_report  # noqa: E402
import minigan as mg  # noqa: E402
import minigan.functional as F  # noqa: E402
from bench_common import (  # noqa: E402
    IMPORT_ORDERS, THREAD_ENV_VARS, Case, add_import_order, copy_weights, diff_check, host,
    load_average, machine, measure, missing_torch, on_device, parse_checked, pinned_threads,
    versions)
from bench_common import (  # noqa: E402
    minigan_models, minigan_steps, schedule_steps, without_dropout)
from gan_flops import (  # noqa: E402
    KERNEL, SIDE, count_step_flops, d_step_flops, g_step_flops, gemm_rates, layer_flops)
from minigan import conditional, config, gan, recipes  # noqa: E402

ORIGINAL = recipes.RECIPES["original"]                # the recipe every model case trains
ORIGINAL_ITERATIONS = config.ORIGINAL_SCHEDULE["iterations"]  # D steps per epoch, then one G
PAD = 1                                       # padding "same" for the 3x3 kernels
D_CHANNELS = (1, 32, 64)                      # the seed discriminator's convolutions,
ALPHA, DROPOUT = 0.01, 0.3                    # its LeakyReLU and Dropout
LAYER_BATCH, MEMORY_BATCH = 64, 64
BATCHES = {"cpu": (16, 64, 256), "gpu": (64, 256, 1024)}
WARMUP = {"layer": 3, "step": 2, "epoch": 1}  # epoch warm-up: one iteration, not a whole epoch
REPEATS = {"layer": 30, "step": 10, "gemm": 10}
MEMORY_STEPS = 3                              # D step + G step pairs after one warm-up pair


@dataclasses.dataclass(kw_only=True)
class GanCase(Case):
    flops: float = None   # the GEMMs of one call (None: not counted)


class Planned(NamedTuple):
    """A case in the list --cases selects from; built (models made, weights copied) when run."""
    name: str
    kind: str             # "layer", "step", "epoch" or "memory"
    build: Callable       # (torch, bench_common.Device) -> GanCase


# The models: minigan's, and the PyTorch twin (torch_gan.py) with the same weights

def both_models(torch, dev, recipe=ORIGINAL, compile_with=None, drop_dropout=False):
    """minigan_models for `recipe`, and the twin with the same weights: ((G, D, opt_d, opt_g),
    (tG, tD, topt_d, topt_g)), in train mode. compile_with: a function (module -> module), e.g.
    torch.compile, applied to the twin's G and to D's two parts (the steps call D.features and
    D.head, not only D); its optimizers hold the same parameters. drop_dropout: both Ds without
    their dropout (without_dropout)."""
    import torch_gan
    G, D, opt_d, opt_g = minigan_models(recipe, dev.minigan)
    tG = torch_gan.build_generator(recipe, gan.GENERATOR_SIZES)
    tD = torch_gan.Discriminator(recipe)
    for mine, theirs in ((G, tG), (D, tD)):
        copy_weights(mine, theirs)
        theirs.to(dev.torch)
    if drop_dropout:
        without_dropout(D, tD)
    optimizers = torch_gan.make_optimizers(tG, tD, recipe)
    if compile_with is not None:
        tG = compile_with(tG)
        tD.features, tD.head = compile_with(tD.features), compile_with(tD.head)
    return (G, D, opt_d, opt_g), (tG, tD, *optimizers)


# Layer cases: one op on the same inputs in both engines

def _op_case(torch, dev, inputs, fm, ft, gy0, backward, what, flops=None, check=None,
             names="x W b"):
    """inputs: [(array, requires_grad)], named `names`; fm/ft map the engine's tensors to its
    output; gy0: the output gradient (None for a scalar output); check(ym, yt) -> (text, ok)
    replaces comparing outputs and gradients."""
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
        if check:
            return check(ym, yt)
        pairs = [(host(ym), host(yt))]
        if backward:
            ym.backward(gym)
            yt.backward(gyt)
            pairs += [(host(a.grad), host(b.grad)) for a, b in zip(tm, tt) if a.requires_grad]
        reset()
        return diff_check(pairs)

    if backward:
        engines = {"minigan": lambda: fm(*tm).backward(gym), "torch": lambda: ft(*tt).backward(gyt)}
    else:
        engines = {"minigan": lambda: fm(*tm), "torch": lambda: ft(*tt)}
    grads = ", ".join(f"d{name}" for name, (_, g) in zip(names.split(), inputs) if g)
    return GanCase(engines=engines, reset=reset, check=compare, flops=flops,
                   what=what + (f"; backward: {grads}" if backward else ""))


def _glorot(rng, shape, fan_in, fan_out):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def case_dense(torch, dev, n, n_in, n_out, backward):
    rng = np.random.default_rng(n_in + n_out)
    x_grad = n_in != gan.NOISE_DIM  # the generator's first layer reads noise: no gradient
    inputs = [(rng.standard_normal((n, n_in)).astype(np.float32), x_grad),
              (_glorot(rng, (n_out, n_in), n_in, n_out), True),
              (rng.uniform(-0.1, 0.1, n_out).astype(np.float32), True)]
    gy0 = rng.standard_normal((n, n_out)).astype(np.float32)
    return _op_case(torch, dev, inputs, lambda x, w, b: F.dense(x, w, b),
                    lambda x, w, b: torch.nn.functional.linear(x, w, b), gy0, backward,
                    f"x ({n}, {n_in}) -> ({n}, {n_out})",
                    flops=layer_flops(("dense", n_in, n_out), n, backward, x_grad))


def case_conv(torch, dev, n, c, oc, backward):
    rng = np.random.default_rng(c + oc)
    x_grad = c > 1  # the first convolution reads the image, which needs no gradient in a D step
    inputs = [(rng.standard_normal((n, c, SIDE, SIDE)).astype(np.float32), x_grad),
              (_glorot(rng, (oc, c, KERNEL, KERNEL), c * KERNEL * KERNEL, oc * KERNEL * KERNEL),
               True),
              (rng.uniform(-0.1, 0.1, oc).astype(np.float32), True)]
    gy0 = rng.standard_normal((n, oc, SIDE, SIDE)).astype(np.float32)
    return _op_case(torch, dev, inputs,
                    lambda x, w, b: F.conv2d(x, w, b, stride=1, padding="same"),
                    lambda x, w, b: torch.nn.functional.conv2d(x, w, b, padding=PAD),
                    gy0, backward, f"x ({n}, {c}, {SIDE}, {SIDE}), 3x3, pad same/1 -> "
                    f"({n}, {oc}, {SIDE}, {SIDE})",
                    flops=layer_flops(("conv", c, oc), n, backward, x_grad))


def _activation_inputs(n, seed):
    rng = np.random.default_rng(seed)
    shape = (n, 64, SIDE, SIDE)
    return shape, rng.standard_normal(shape).astype(np.float32), \
        rng.standard_normal(shape).astype(np.float32)


def case_leaky_relu(torch, dev, n, backward):
    shape, x0, gy0 = _activation_inputs(n, 5)
    return _op_case(torch, dev, [(x0, True)], lambda x: F.leaky_relu(x, ALPHA),
                    lambda x: torch.nn.functional.leaky_relu(x, ALPHA), gy0, backward,
                    f"LeakyReLU({ALPHA}) on {shape}")


def _dropout_check(ym, yt):
    """The masks differ between engines; check that each keeps 1 - rate of the elements."""
    kept = [float((host(y) != 0).mean()) for y in (ym, yt)]
    ok = all(abs(k - (1 - DROPOUT)) < 0.01 for k in kept)
    return f"masks differ; kept {kept[0]:.1%} / {kept[1]:.1%}", ok


def case_dropout(torch, dev, n, backward):
    shape, x0, gy0 = _activation_inputs(n, 6)
    return _op_case(torch, dev, [(x0, True)], lambda x: F.dropout(x, DROPOUT, training=True),
                    lambda x: torch.nn.functional.dropout(x, DROPOUT, training=True), gy0,
                    backward, f"Dropout({DROPOUT}), train mode, on {shape}", check=_dropout_check)


def case_bce(torch, dev, n, backward):
    rng = np.random.default_rng(7)
    p0 = rng.uniform(0.01, 0.99, (n, 1)).astype(np.float32)
    t0 = rng.integers(0, 2, (n, 1)).astype(np.float32)
    return _op_case(torch, dev, [(p0, True), (t0, False)], F.binary_cross_entropy,
                    torch.nn.functional.binary_cross_entropy, None, backward,
                    f"mean BCE of p ({n}, 1) against 0/1 labels", names="p t")


# The DCGAN generator's layers (upsampling 7x7 -> 14x14 -> 28x28) and a conditional GAN's label
# table: transposed convolution, BatchNorm2d and Embedding
DCGAN_UPSAMPLING = ((128, 64, 7), (64, 1, 14))   # (C_in, C_out, input side), 4x4, stride 2, pad 1


def case_conv_transpose(torch, dev, n, c, oc, side, backward):
    rng = np.random.default_rng(c + oc + 1)
    inputs = [(rng.standard_normal((n, c, side, side)).astype(np.float32), True),
              (_glorot(rng, (c, oc, 4, 4), oc * 16, c * 16), True),
              (rng.uniform(-0.1, 0.1, oc).astype(np.float32), True)]
    gy0 = rng.standard_normal((n, oc, 2 * side, 2 * side)).astype(np.float32)
    macs = n * side * side * c * oc * 16             # one GEMM; backward adds dx's and dW's
    return _op_case(torch, dev, inputs,
                    lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1),
                    lambda x, w, b: torch.nn.functional.conv_transpose2d(x, w, b, stride=2,
                                                                         padding=1),
                    gy0, backward, f"x ({n}, {c}, {side}, {side}), 4x4, stride 2, pad 1 -> "
                    f"({n}, {oc}, {2 * side}, {2 * side})", flops=2 * macs * (3 if backward else 1))


# The DCGAN discriminator's layers (downsampling 28x28 -> 14x14 -> 7x7)
DCGAN_DOWNSAMPLING = ((1, 64, 28), (64, 128, 14))  # (C, OC, input side), 4x4, stride 2, pad 1


def case_strided_conv(torch, dev, n, c, oc, side, backward):
    rng = np.random.default_rng(c + oc + 2)
    x_grad = c > 1  # the first convolution reads the image, which needs no gradient in a D step
    inputs = [(rng.standard_normal((n, c, side, side)).astype(np.float32), x_grad),
              (_glorot(rng, (oc, c, 4, 4), c * 16, oc * 16), True),
              (rng.uniform(-0.1, 0.1, oc).astype(np.float32), True)]
    gy0 = rng.standard_normal((n, oc, side // 2, side // 2)).astype(np.float32)
    macs = n * (side // 2) ** 2 * c * oc * 16        # one GEMM; backward adds dW's and dx's
    return _op_case(torch, dev, inputs,
                    lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
                    lambda x, w, b: torch.nn.functional.conv2d(x, w, b, stride=2, padding=1),
                    gy0, backward, f"x ({n}, {c}, {side}, {side}), 4x4, stride 2, pad 1 -> "
                    f"({n}, {oc}, {side // 2}, {side // 2})",
                    flops=2 * macs * ((2 + x_grad) if backward else 1))


def case_batch_norm2d(torch, dev, n, backward):
    rng = np.random.default_rng(9)
    shape = (n, 64, 14, 14)
    inputs = [(rng.standard_normal(shape).astype(np.float32), True),
              (rng.uniform(0.5, 1.5, 64).astype(np.float32), True),
              (rng.standard_normal(64).astype(np.float32), True)]
    return _op_case(torch, dev, inputs, lambda x, w, b: F.batch_norm(x, w, b),
                    lambda x, w, b: torch.nn.functional.batch_norm(x, None, None, w, b,
                                                                   training=True),
                    rng.standard_normal(shape).astype(np.float32), backward,
                    f"BatchNorm2d(64), train mode, on {shape}", names="x gamma beta")


def case_embedding(torch, dev, n, backward):
    rng = np.random.default_rng(10)
    labels = rng.integers(0, 10, n)
    lm = mg.tensor(labels, dtype="int64", device=dev.minigan)
    lt = torch.tensor(labels, device=dev.torch)
    return _op_case(torch, dev, [(rng.standard_normal((10, 50)).astype(np.float32), True)],
                    lambda w: F.embedding(lm, w), lambda w: torch.nn.functional.embedding(lt, w),
                    rng.standard_normal((n, 50)).astype(np.float32), backward,
                    f"Embedding(10, 50) of {n} labels", names="W")


def case_adam(torch, dev):
    (_, D, om, _), (_, tD, ot, _) = both_models(torch, dev)
    pairs = list(zip(D.parameters(), tD.parameters()))  # in order; copy_weights checked shapes
    rng = np.random.default_rng(8)
    for p, tp in pairs:  # the same gradients, kept for every step
        g0 = rng.standard_normal(p.shape).astype(np.float32)
        p.grad = mg.tensor(g0, device=dev.minigan)
        tp.grad = torch.tensor(g0, device=dev.torch)

    def check():  # one step from the same weights and state: compare the updates, in units of lr
        before = [(p.numpy(), host(tp)) for p, tp in pairs]
        om.step()
        ot.step()
        worst = max(float(np.abs((p.numpy() - b) - (host(tp) - tb)).max())
                    for (p, tp), (b, tb) in zip(pairs, before)) / ORIGINAL.lr_d
        return f"update diff {worst:.1e} lr", worst <= 1e-2

    size = sum(int(np.prod(p.shape)) for p, _ in pairs)
    return GanCase(engines={"minigan": om.step, "torch": ot.step}, check=check,
                   what=f"Adam(lr={ORIGINAL.lr_d}) step over D's {len(pairs)} parameter tensors "
                        f"({size:,} values)")


# Whole-model cases

def both_steps(torch, dev, n, recipe, schedule, noise_std=0.0, compile_with=None,
               drop_dropout=False):
    """Both engines' (D step, G step) of one `schedule` iteration on the same batch of n images
    (digits 0-9 in turn when the recipe is conditional), from the same weights; and the check.
    compile_with, drop_dropout: as both_models."""
    import torch_gan
    (G, D, *opts), (tG, tD, *topts) = both_models(torch, dev, recipe, compile_with, drop_dropout)
    real0 = np.random.default_rng(9).uniform(-1, 1, (n, SIDE * SIDE)).astype(np.float32)
    labels0 = np.arange(n) % conditional.DIGITS if recipe.conditional else None
    real_m, real_t = mg.tensor(real0, device=dev.minigan), torch.tensor(real0, device=dev.torch)
    labels_t = None if labels0 is None else torch.tensor(labels0, device=dev.torch)
    steps = {"minigan": schedule_steps(*minigan_steps(G, D, *opts, recipe, noise_std, labels0),
                                       real_m, schedule),
             "torch": schedule_steps(*torch_gan.twin_steps(tG, tD, *topts, recipe, noise_std,
                                                           labels_t), real_t, schedule)}
    given_m, given_t = ((), ()) if labels0 is None else ((labels0,), (labels_t,))

    def check():  # the same weights and layers: G's images and D's judgement in eval mode
        z0 = np.random.default_rng(10).standard_normal((n, gan.NOISE_DIM)).astype(np.float32)
        for net in (G, D, tG, tD):
            net.eval()
        try:
            with mg.no_grad(), torch.no_grad():
                pairs = [(host(G(mg.tensor(z0, device=dev.minigan), *given_m)),
                          host(tG(torch.tensor(z0, device=dev.torch), *given_t))),
                         (host(D(real_m, *given_m)), host(tD(real_t, *given_t)))]
        finally:  # back to train mode even when minigan raises (no GPU twin): dropout is timed
            for net in (G, D, tG, tD):
                net.train()
        text, ok = diff_check(pairs)
        return "eval G, D outputs: " + text, ok

    return steps, check


def _iterations(d_step, g_step, k):
    """k D steps, then one G step: one iteration (k = 1), or an epoch of the seed schedule."""
    def run():
        for _ in range(k):
            d_step()
        g_step()
    return run


def _model_case(torch, dev, n, kind, iterations):
    steps, check = both_steps(torch, dev, n, ORIGINAL, "original")
    if kind == "D step":
        return GanCase(engines={e: d for e, (d, _) in steps.items()}, check=check,
                       flops=d_step_flops(n),
                       what=f"batch {n}: D step on {n} real, then on {n} fakes (G under "
                            "no_grad): forward, BCE, backward, Adam, twice")
    if kind == "G step":
        return GanCase(engines={e: g for e, (_, g) in steps.items()}, check=check,
                       flops=g_step_flops(n),
                       what=f"batch {n}: G step through the frozen D: G, D forward, BCE(label "
                            "1), backward, Adam on G")
    return GanCase(engines={e: _iterations(*s, iterations) for e, s in steps.items()},
                   warmup_engines={e: _iterations(*s, 1) for e, s in steps.items()},
                   check=check, flops=iterations * d_step_flops(n) + g_step_flops(n),
                   what=f"batch {n}: {iterations} D steps (real, then fake), then one G step")


# Every model's training iteration, (recipe, schedule): the seed's on its own schedule (D on the
# real batch, then on fakes, then G); the others one standard-schedule iteration (D on real +
# fakes, G with feature matching) at their first epoch's instance noise. "dcgan" is what
# `--model dcgan` trains (the DCGAN generator against the original discriminator), "dcgan g+d"
# the DCGAN generator against the DCGAN discriminator, "dcgan cond" what `--model dcgan
# --conditional` trains (with the auxiliary classifier).
MODEL_RECIPES = {
    "seed": (recipes.RECIPES["original"], "original"),
    "mlp": (recipes.RECIPES["stable"], "standard"),
    "dcgan": (recipes.RECIPES["dcgan"], "standard"),
    "dcgan g+d": (dataclasses.replace(recipes.RECIPES["dcgan"], discriminator="dcgan"),
                  "standard"),
    "dcgan cond": (recipes.recipe_from_flags("dcgan", conditional=True), "standard"),
}


def _train_step_case(torch, dev, n, recipe, schedule):
    noise = recipe.instance_noise if schedule == "standard" else 0.0
    steps, check = both_steps(torch, dev, n, recipe, schedule, noise)
    engines = {e: _iterations(*s, 1) for e, s in steps.items()}

    def check_then_count():   # the same weights checked first; then minigan's products counted
        result = check()      # in one step (which moves its weights, as the warm-up does)
        case.flops = count_step_flops(engines["minigan"])
        return result

    case = GanCase(engines=engines, check=check_then_count,
                   what=f"batch {n}: one {schedule}-schedule iteration of recipe {recipe.name} "
                        f"(model {recipe.model}, D {recipe.discriminator}, conditional "
                        f"{recipe.conditional}, classifier {recipe.classifier}, instance noise "
                        f"{noise})")
    return case


def _d_step_without_dropout_case(torch, dev, n):
    steps, check = both_steps(torch, dev, n, ORIGINAL, "original", drop_dropout=True)
    return GanCase(engines={e: d for e, (d, _) in steps.items()}, check=check,
                   flops=d_step_flops(n),
                   what=f"batch {n}: the seed D step with dropout removed from both engines' D "
                        "(LeakyReLU alone): on real, then on fakes")


def case_list(args):
    """Every case in report order; --cases selects by name."""
    n, cases = args.layer_batch, []

    def both(label, build):
        for backward in (False, True):
            cases.append(Planned(f"{label} {'fwd+bwd' if backward else 'fwd'}", "layer",
                                 lambda t, d, b=backward: build(t, d, b)))

    for a, b in zip(gan.GENERATOR_SIZES[:-1], gan.GENERATOR_SIZES[1:]):
        both(f"dense {a}->{b}", lambda t, d, bw, a=a, b=b: case_dense(t, d, n, a, b, bw))
    both(f"dense {64 * SIDE * SIDE}->1",
         lambda t, d, bw: case_dense(t, d, n, 64 * SIDE * SIDE, 1, bw))
    for c, oc in zip(D_CHANNELS[:-1], D_CHANNELS[1:]):
        both(f"conv {c}->{oc}", lambda t, d, bw, c=c, oc=oc: case_conv(t, d, n, c, oc, bw))
    both("leaky_relu", lambda t, d, bw: case_leaky_relu(t, d, n, bw))
    both("dropout", lambda t, d, bw: case_dropout(t, d, n, bw))
    both("bce", lambda t, d, bw: case_bce(t, d, n, bw))
    for c, oc, side in DCGAN_DOWNSAMPLING:
        both(f"conv s2 {c}->{oc}", lambda t, d, bw, c=c, oc=oc, side=side:
             case_strided_conv(t, d, n, c, oc, side, bw))
    for c, oc, side in DCGAN_UPSAMPLING:
        both(f"convT {c}->{oc}", lambda t, d, bw, c=c, oc=oc, side=side:
             case_conv_transpose(t, d, n, c, oc, side, bw))
    both("batchnorm2d", lambda t, d, bw: case_batch_norm2d(t, d, n, bw))
    both("embedding", lambda t, d, bw: case_embedding(t, d, n, bw))
    cases.append(Planned("adam step", "layer", case_adam))
    for kind in ("D step", "G step"):
        for batch in args.batches:
            cases.append(Planned(f"{kind} b{batch}", "step", lambda t, d, k=kind, b=batch:
                                 _model_case(t, d, b, k, args.epoch_iterations)))
    cases.append(Planned(f"seed D step no dropout b{LAYER_BATCH}", "step",
                         lambda t, d: _d_step_without_dropout_case(t, d, LAYER_BATCH)))
    for label, (recipe, schedule) in MODEL_RECIPES.items():
        cases.append(Planned(f"{label} train step b{LAYER_BATCH}", "step",
                             lambda t, d, r=recipe, s=schedule:
                             _train_step_case(t, d, LAYER_BATCH, r, s)))
    for label, (recipe, schedule) in MODEL_RECIPES.items():
        cases.append(Planned(f"memory {label} b{MEMORY_BATCH}", "memory",
                             lambda a, r=recipe, s=schedule: memory_report(a, r, s)))
    for batch in args.batches:
        cases.append(Planned(f"seed epoch b{batch}", "epoch", lambda t, d, b=batch:
                             _model_case(t, d, b, "seed epoch", args.epoch_iterations)))
    return cases


def select(cases, patterns):
    """The cases whose name contains one of the comma-separated patterns (case-insensitive)."""
    if not patterns:
        return cases
    wanted = [p.strip().lower() for p in patterns.split(",") if p.strip()]
    chosen = [c for c in cases if any(p in c.name.lower() for p in wanted)]
    if not chosen:
        raise SystemExit(f"error: --cases {patterns!r} matches no case; the cases are: "
                         + ", ".join(c.name for c in cases))
    return chosen


# Running the cases

def run_case(planned, args, torch, dev):
    """Build, check, warm up and time one case; a result dict for the report."""
    case = planned.build(torch, dev)
    batch = int(planned.name.rsplit("b", 1)[1]) if planned.kind in ("step", "epoch") else None
    warmup, repeats = _rounds(args, planned.kind, batch)
    try:
        check, ok = case.check()
    except NotImplementedError as exc:  # a minigan kernel without its GPU twin yet: PyTorch only
        check, ok = "minigan: " + str(exc).split(";")[0], True
        del case.engines["minigan"]
    if not ok:
        print(f"\nerror: {planned.name}: results differ ({check}); the timings would compare "
              "different work", file=sys.stderr)
    times = measure(case, warmup, repeats, dev.sync)
    return {"name": planned.name, "kind": planned.kind, "what": case.what, "flops": case.flops,
            "check": check, "ok": ok, "warmup": warmup, "repeats": repeats, "times": times}


def memory_report(args, recipe=ORIGINAL, schedule="original"):
    """Peak memory of each engine in its own process (gan_memory.py), training `recipe` on
    `schedule` (with its first epoch's instance noise on the standard schedule)."""
    spec = {"recipe": dataclasses.asdict(recipe), "sizes": gan.GENERATOR_SIZES,
            "schedule": schedule,
            "noise": recipe.instance_noise if schedule == "standard" else 0.0}
    return gan_memory.measure_both(args.device, args.threads, MEMORY_BATCH,
                                   0 if args.quick else MEMORY_STEPS, spec, THREAD_ENV_VARS)


def run_all(cases, args, torch, dev):
    """(results, GEMM rates or None, [(memory case name, result)]), printing progress to
    stderr."""
    gemm, memory = None, []
    if any(c.kind in ("step", "epoch") for c in cases):
        started = time.perf_counter()
        print("[gemm] the machine's GEMM rate ...", end="", file=sys.stderr, flush=True)
        warmup, repeats = (1, 1) if args.quick else (2, REPEATS["gemm"])
        gemm = gemm_rates(torch, dev, MEMORY_BATCH, warmup, repeats)
        print(f" {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    results = []
    for index, planned in enumerate(cases, 1):
        started = time.perf_counter()
        print(f"[{index}/{len(cases)}] {planned.name} ...", end="", file=sys.stderr, flush=True)
        if planned.kind == "memory":
            memory.append((planned.name, planned.build(args)))
            note = ""
        else:
            results.append(run_case(planned, args, torch, dev))
            note = f" (warm-up {results[-1]['warmup']}, {results[-1]['repeats']} rounds)"
            gc.collect()
        print(f" {time.perf_counter() - started:.1f} s{note}", file=sys.stderr, flush=True)
    return results, gemm, memory


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
                   help=f"D steps per seed epoch (default {ORIGINAL_ITERATIONS}, as the seed "
                        "schedule; --quick: 2)")
    p.add_argument("--quick", action="store_true",
                   help="batch 64 only, 1 warm-up and 1 timed round, 2-iteration epochs: a smoke "
                        "test")
    add_import_order(p)
    p.add_argument("--output", default=os.path.join("runs", "bench", "gan_bench.md"),
                   help="the report's Markdown file; the chart goes beside it as .png "
                        "(default runs/bench/gan_bench.md)")
    args = parse_checked(p, argv)
    if args.batches is None:
        args.batches = (64,) if args.quick else BATCHES[args.device]
    else:
        try:
            args.batches = tuple(int(b) for b in args.batches.split(",") if b.strip())
        except ValueError:
            p.error(f"--batches: expected comma-separated integers, got {args.batches!r}")
    if args.epoch_iterations is None:
        args.epoch_iterations = 2 if args.quick else ORIGINAL_ITERATIONS
    return args


def _rounds(args, kind, batch):
    """(warm-up, timed rounds) of a case: a seed epoch at batch 256 on 2 CPU cores is already
    ~3 minutes for the pair, so the larger the batch, the fewer."""
    warmup = args.warmup if args.warmup is not None else 1 if args.quick else WARMUP[kind]
    if args.repeats is not None:
        return warmup, args.repeats
    if args.quick:
        return warmup, 1
    if kind == "epoch":
        return warmup, (5 if args.device == "gpu" else 3 if batch <= 16 else 2 if batch <= 64
                        else 1)
    return warmup, REPEATS[kind]


def write_medians(path, results, args):
    """Each case's median seconds per engine, as JSON (what benchmarks/import_order.py reads)."""
    cases = {r["name"]: {engine: float(np.median(t)) for engine, t in r["times"].items()}
             for r in results}
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"import_order": args.import_order, "threads": args.threads, "cases": cases},
                  f, indent=1)


def main(argv=None):
    """Run the selected cases and write the report. Returns 0, or 1 when a check fails; exits
    with status 2 when torch or the requested device is missing."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    cases = select(case_list(args), args.cases)
    if args.list_cases:
        print("\n".join(c.name for c in cases))
        return 0
    torch = missing_torch("gan_bench")
    started = time.perf_counter()
    with on_device(args.device, torch) as dev, \
            pinned_threads(torch, args.threads, numba) as blas_note:
        torch.manual_seed(0)
        report = [f"# minigan vs PyTorch: the MNIST GAN ({args.device})", "",
                  f"threads: torch {torch.get_num_threads()}, Numba {numba.get_num_threads()}, "
                  f"{blas_note} | {IMPORT_ORDERS[args.import_order]} | "
                  f"{versions(torch, numba)}", "",
                  f"{machine()} | device: {dev.description} | {load_average()} at start"]
        print("\n".join(report), flush=True)
        results, gemm, memory = run_all(cases, args, torch, dev)
        lines = gan_report.report_tables(results, gemm, memory, args, dev)
        lines += ["", f"run time {time.perf_counter() - started:.0f} s | {load_average()} at "
                  "the end"]
        print("\n".join(lines), flush=True)
        report += lines

        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        chart = os.path.splitext(args.output)[0] + ".png"
        if gan_report.write_chart(chart, results, memory,
                                  f"minigan vs PyTorch, {dev.description}, {args.threads} "
                                  "threads"):
            report += ["", f"![minigan / PyTorch]({os.path.basename(chart)})"]
        with open(args.output, "w", encoding="utf-8") as f:
            f.write("\n".join(report) + "\n")
        medians = os.path.splitext(args.output)[0] + ".json"
        write_medians(medians, results, args)
        print(f"wrote {args.output}, {chart} and {medians}", file=sys.stderr)
        return 0 if all(r["ok"] for r in results) else 1

if __name__ == "__main__":
    sys.exit(main())
