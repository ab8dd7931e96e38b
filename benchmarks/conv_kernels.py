"""Convolution kernels and the GAN discriminator: minigan's Numba kernels against NumPy and PyTorch.

Everything runs at the shapes of the GAN's discriminator (batch 64, 28x28 images, 3x3 kernels,
"same" padding), in one run, one table:

  im2col   minigan's Numba kernel (the dispatcher minigan.kernels.im2col.im2col, which calls
           im2col_cpu) against two pure-NumPy versions that produce the same (C*KH*KW, N*OH*OW)
           layout: minigan's im2col_reference (a padded copy, then one strided slice per kernel
           offset) and sliding_window_view + one copy (written here). C=1 (the image) and C=32
           (the second convolution's input). All three outputs are checked equal before timing.
  col2im   the Numba kernel (dispatcher col2im) against col2im_reference (NumPy), same shapes.
  conv     F.conv2d(x, w, b, stride=1, padding="same") against torch.nn.functional.conv2d(...,
           padding=1), 1->32 and 32->64 channels: forward alone, and forward + backward (the
           output's gradient is a fixed random array; gradients of w and b, and of x for 32->64
           only: in the GAN the first layer's input is the image, which needs no gradient, so
           the 1->32 row runs with x.requires_grad=False on both sides). Weights require grad in
           the forward rows too, as in training (both engines record their graph).
  disc     the original recipe's discriminator (build.build_discriminator: Conv2D(1, 32, 3) -
           LeakyReLU(0.01) + Dropout(0.3) - Conv2D(32, 64, 3) - LeakyReLU + Dropout - Flatten -
           Dense(50176, 1) - Sigmoid), with a BCE loss against 0/1 labels, forward + backward (no
           optimizer) in eval mode and in train mode (dropout active), then one full training
           step (forward, backward, Adam step as the recipe's) in train mode. The torch model is
           its twin in benchmarks/torch_gan.py, with minigan's weights copied in.

Checks before timing: im2col outputs must be identical; col2im, conv outputs and gradients and
the eval-mode discriminator's gradients must agree within 1e-4 relative to the largest value;
the Adam step is checked once in eval mode (the parameter updates of both engines, relative to
lr). In train mode the dropout masks of the two engines differ, so those rows are not compared.
The script exits with status 1 when a check fails (the timings would compare different work).

Method (as benchmarks/engine_overhead.py): both engines get the same number of threads (--threads,
default 2): OMP/OPENBLAS/MKL/NUMBA_NUM_THREADS are set before NumPy and Numba are imported,
torch.set_num_threads, numba.set_num_threads and OpenBLAS's own setter. After warm-up rounds the
engines are interleaved, the one that goes first rotating every round, each call timed alone with
time.perf_counter; gradients are reset between calls, outside the timed region. Python's garbage
collector stays on, as in training. Printed: a header (machine, versions, threads, load average),
a Markdown table of medians with the interquartile range (p25-p75) and the ratio of medians
minigan / other, then the first-call (JIT) time of every minigan Numba kernel at the float32
signatures the GAN uses: each kernel's first call in a fresh subprocess whose NUMBA_CACHE_DIR is
a new empty directory (a cold compile), then again in another fresh subprocess with that cache
now filled (a cache load), with each kernel's second call (the work itself) for scale.

The machine may be shared: other processes running at the same time shift the timings, which
is why the load average is printed at the start and at the end.

Run from the repository root:

    python benchmarks/conv_kernels.py                    # ~20 rounds of the big cases
    python benchmarks/conv_kernels.py --quick            # batch 8, 2 rounds: a smoke test
    python benchmarks/conv_kernels.py --threads 1 --repeats 50 --output conv.md
    python benchmarks/conv_kernels.py --no-jit           # skip the JIT subprocesses

Needs torch (the "bench" extra: pip install -e ".[bench]").
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
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402

import minigan as mg  # noqa: E402
import minigan.functional as F  # noqa: E402
from bench_common import (  # noqa: E402
    IMPORT_ORDERS, REPO_ROOT, THREAD_ENV_VARS, Case, add_import_order, cell, copy_weights,
    diff_check, fmt, load_average, machine, measure, missing_torch, parse_checked, pinned_threads,
    ratio, table, versions)
from bench_common import minigan_discriminator  # noqa: E402
from minigan import recipes  # noqa: E402
from minigan.functional.conv import conv_geometry  # noqa: E402
from minigan.kernels import im2col as K  # noqa: E402

BATCH, QUICK_BATCH = 64, 8
SIDE, KERNEL = 28, 3
ORIGINAL = recipes.RECIPES["original"]  # the discriminator's recipe (its Adam's lr)
DEFAULT_REPEATS = {"small": 50, "big": 20}  # small: the C=1 im2col/col2im cases
QUICK_REPEATS = 2


class _OtherLoad:
    """The CPU time other processes (and the hypervisor, as steal) took while a case ran, as a
    share of all cores: from /proc/stat (every process) minus /proc/self/stat (this one)."""

    def __init__(self):
        self.start = self._sample()

    @staticmethod
    def _sample():
        try:
            with open("/proc/stat") as f:
                cpu = [int(v) for v in f.readline().split()[1:]]
            with open("/proc/self/stat") as f:
                own = f.read().rsplit(")", 1)[1].split()
            # user nice system idle iowait irq softirq steal; own utime, stime (fields 14, 15)
            busy = cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6]
            return time.perf_counter(), busy, cpu[7], int(own[11]) + int(own[12])
        except (OSError, IndexError, ValueError):  # not Linux
            return None

    def text(self):
        end = self._sample()
        if self.start is None or end is None:
            return "?"
        hz = os.sysconf("SC_CLK_TCK") * (os.cpu_count() or 1)
        wall = end[0] - self.start[0]
        others = max(end[1] - self.start[1] - (end[3] - self.start[3]), 0) / hz / wall
        steal = (end[2] - self.start[2]) / hz / wall
        return f"{others:.0%}" + (f" +{steal:.0%} steal" if steal >= 0.005 else "")


def im2col_sliding_window(x, KH, KW, S, PT, PL, OH, OW):
    """x (N, C, H, W) -> cols (C*KH*KW, N*OH*OW), the layout of minigan's im2col, in NumPy:
    a zero-padded copy, a (N, C, OH, OW, KH, KW) window view, and one copy into row order."""
    N, C, H, W = x.shape
    padded = np.zeros((N, C, max(H + PT, (OH - 1) * S + KH), max(W + PL, (OW - 1) * S + KW)),
                      dtype=x.dtype)
    padded[:, :, PT:PT + H, PL:PL + W] = x
    windows = sliding_window_view(padded, (KH, KW), axis=(2, 3))
    windows = windows[:, :, :(OH - 1) * S + 1:S, :(OW - 1) * S + 1:S]  # (N, C, OH, OW, KH, KW)
    return windows.transpose(1, 4, 5, 0, 2, 3).reshape(C * KH * KW, N * OH * OW)  # the copy


@dataclasses.dataclass(kw_only=True)
class ConvCase(Case):
    rows: list            # [(label, what, the engine minigan is compared with)], one table row each
    size: str = "big"     # "small": the C=1 im2col/col2im cases, timed more often


def _geometry():
    PT, PL, OH, OW = conv_geometry(SIDE, SIDE, KERNEL, KERNEL, 1, "same")
    return (KERNEL, KERNEL, 1, PT, PL, OH, OW)


def _case_im2col(torch, N, C):
    x = np.random.default_rng(1).standard_normal((N, C, SIDE, SIDE)).astype(np.float32)
    g = _geometry()

    def check():
        a, b, c = K.im2col(x, *g), K.im2col_reference(x, *g), im2col_sliding_window(x, *g)
        ok = a.shape == b.shape == c.shape and np.array_equal(a, b) and np.array_equal(a, c)
        return ("identical" if ok else "DIFFER"), ok

    what = f"x ({N}, {C}, {SIDE}, {SIDE}) -> cols ({C * KERNEL * KERNEL}, {N * SIDE * SIDE})"
    return ConvCase(engines={"minigan": lambda: K.im2col(x, *g),
                             "im2col_reference": lambda: K.im2col_reference(x, *g),
                             "sliding_window_view": lambda: im2col_sliding_window(x, *g)},
                    check=check, size="small" if C == 1 else "big",
                    rows=[(f"im2col C={C}", what + ", Numba vs NumPy reference",
                           "im2col_reference"),
                          (f"im2col C={C}", what + ", Numba vs sliding_window_view + copy",
                           "sliding_window_view")])


def _case_col2im(torch, N, C):
    cols = np.random.default_rng(2).standard_normal(
        (C * KERNEL * KERNEL, N * SIDE * SIDE)).astype(np.float32)
    KH, KW, S, PT, PL, OH, OW = _geometry()
    args = (SIDE, SIDE, KH, KW, S, PT, PL, OH, OW)

    def check():
        return diff_check([(K.col2im(cols, *args), K.col2im_reference(cols, *args))])

    what = f"cols ({C * KERNEL * KERNEL}, {N * SIDE * SIDE}) -> x ({N}, {C}, {SIDE}, {SIDE})"
    return ConvCase(engines={"minigan": lambda: K.col2im(cols, *args),
                             "col2im_reference": lambda: K.col2im_reference(cols, *args)},
                    check=check, size="small" if C == 1 else "big",
                    rows=[(f"col2im C={C}", what + ", Numba vs NumPy reference",
                           "col2im_reference")])


def _case_conv(torch, N, C, OC, backward, x_grad):
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal((N, C, SIDE, SIDE)).astype(np.float32)
    limit = np.sqrt(6.0 / ((C + OC) * KERNEL * KERNEL))
    w0 = rng.uniform(-limit, limit, (OC, C, KERNEL, KERNEL)).astype(np.float32)
    b0 = rng.uniform(-0.1, 0.1, OC).astype(np.float32)
    gy0 = rng.standard_normal((N, OC, SIDE, SIDE)).astype(np.float32)
    needs_grad = ((x0, x_grad), (w0, True), (b0, True))
    xm, wm, bm = (mg.tensor(a, requires_grad=g) for a, g in needs_grad)
    xt, wt, bt = (torch.tensor(a, requires_grad=g) for a, g in needs_grad)
    gyt, pad = torch.from_numpy(gy0), (KERNEL - 1) // 2

    def fm():
        return F.conv2d(xm, wm, bm, stride=1, padding="same")

    def ft():
        return torch.nn.functional.conv2d(xt, wt, bt, padding=pad)

    def reset():
        xm.grad = wm.grad = bm.grad = None
        xt.grad = wt.grad = bt.grad = None

    if backward:
        engines = {"minigan": lambda: fm().backward(gy0), "torch": lambda: ft().backward(gyt)}
    else:
        engines = {"minigan": fm, "torch": ft}

    def check():
        reset()
        ym, yt = fm(), ft()
        pairs = [(ym.numpy(), yt.detach().numpy())]
        if backward:
            ym.backward(gy0)
            yt.backward(gyt)
            pairs += [(wm.grad.numpy(), wt.grad.numpy()), (bm.grad.numpy(), bt.grad.numpy())]
            if x_grad:
                pairs.append((xm.grad.numpy(), xt.grad.numpy()))
        reset()
        return diff_check(pairs)

    grads = ("dx, dW, db" if x_grad else "dW, db; x.requires_grad=False") if backward else ""
    what = (f"x ({N}, {C}, {SIDE}, {SIDE}), {KERNEL}x{KERNEL}, pad same/{pad}: "
            + (f"forward + backward ({grads})" if backward else "forward (weights need grad)"))
    label = f"conv {C}->{OC} " + ("fwd+bwd" if backward else "fwd")
    return ConvCase(engines=engines, reset=reset, check=check, rows=[(label, what, "torch")])


def _models():
    """The seed discriminator in minigan and its PyTorch twin, with the same weights."""
    import torch_gan
    mm, tm = minigan_discriminator(ORIGINAL), torch_gan.Discriminator(ORIGINAL)
    copy_weights(mm, tm)
    return mm, tm


def _case_disc(torch, N, mode, step):
    mm, tm = _models()
    rng = np.random.default_rng(4)
    x0 = rng.uniform(-1, 1, (N, SIDE * SIDE)).astype(np.float32)  # images scaled to [-1, 1]
    y0 = rng.integers(0, 2, (N, 1)).astype(np.float32)             # real / fake labels
    xm, ym = mg.tensor(x0), mg.tensor(y0)
    xt, yt = torch.from_numpy(x0), torch.from_numpy(y0)
    om = mg.optim.Adam(mm.parameters(), lr=ORIGINAL.lr_d) if step else None
    ot = torch.optim.Adam(tm.parameters(), lr=ORIGINAL.lr_d) if step else None

    def run_m():
        mg.functional.binary_cross_entropy(mm(xm), ym).backward()
        if step:
            om.step()

    def run_t():
        torch.nn.functional.binary_cross_entropy(tm(xt), yt).backward()
        if step:
            ot.step()

    def reset():
        mm.zero_grad()
        tm.zero_grad(set_to_none=True)

    mm.train(mode == "train")
    tm.train(mode == "train")
    label, what = _disc_label(mode, step)
    return ConvCase(engines={"minigan": run_m, "torch": run_t}, reset=reset,
                    check=_disc_check((mm, tm), (run_m, run_t), reset, mode, step),
                    rows=[(label, f"batch {N}: {what}", "torch")])


def _disc_label(mode, step):
    if step:
        return "disc train step", (f"forward, BCE, backward, Adam(lr={ORIGINAL.lr_d}) step, train "
                                   "mode")
    what = f"forward, BCE, backward (no optimizer), {mode} mode"
    return f"disc fwd+bwd {mode}", what + (" (dropout active)" if mode == "train" else
                                           " (dropout off)")


def _disc_check(models, runs, reset, mode, step):
    """check(): both engines once in eval mode (dropout off), from the same weights: the
    gradients, or with a step the Adam updates in units of lr; then back to `mode`."""
    pairs = list(zip(*(m.parameters() for m in models)))  # in order; copy_weights checked shapes

    def check():
        for model in models:
            model.eval()
        reset()
        before = [(p.numpy(), tp.detach().numpy().copy()) for p, tp in pairs]
        for run in runs:
            run()
        if step:
            worst = max(float(np.abs((p.numpy() - b) - (tp.detach().numpy() - tb)).max())
                        for (p, tp), (b, tb) in zip(pairs, before)) / ORIGINAL.lr_d
            text, ok = f"eval-mode Adam update diff {worst:.1e} lr", worst <= 1e-2
        else:
            text, ok = diff_check([(p.grad.numpy(), tp.grad.numpy()) for p, tp in pairs])
        reset()
        for model in models:
            model.train(mode == "train")
        if mode == "train":
            text = ("not compared (dropout masks differ); " + text) if step else \
                "not compared (dropout masks differ)"
        return text, ok

    return check


def _cases(N):
    return [
        lambda t: _case_im2col(t, N, 1), lambda t: _case_im2col(t, N, 32),
        lambda t: _case_col2im(t, N, 1), lambda t: _case_col2im(t, N, 32),
        lambda t: _case_conv(t, N, 1, 32, False, False),
        lambda t: _case_conv(t, N, 1, 32, True, False),
        lambda t: _case_conv(t, N, 32, 64, False, True),
        lambda t: _case_conv(t, N, 32, 64, True, True),
        lambda t: _case_disc(t, N, "eval", False),
        lambda t: _case_disc(t, N, "train", False),
        lambda t: _case_disc(t, N, "train", True),
    ]


# First-call (JIT) time of the Numba kernels, in fresh subprocesses

JIT_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import numba
import minigan
from minigan.kernels import bce, dropout, im2col, leaky_relu
import_s = time.perf_counter() - t0
N = int(sys.argv[1])
rng = np.random.default_rng(0)
x = rng.standard_normal((N, 32, 28, 28)).astype(np.float32)
cols = rng.standard_normal((32 * 9, N * 28 * 28)).astype(np.float32)
flat = x.reshape(-1)
keep = np.ones(flat.size, dtype=np.bool_)
p = rng.uniform(0.01, 0.99, N).astype(np.float32)
t = rng.integers(0, 2, N).astype(np.float32)
g = np.full(N, 1.0 / N, dtype=np.float32)
(s0, s1), threshold, scale = dropout.split_seed(2**40 + 7), dropout.keep_threshold(0.3), 1 / 0.7
calls = [  # the argument types of the GAN's calls (Python ints and floats, float32 arrays)
    ("im2col.im2col_cpu", im2col.im2col_cpu, (x, 3, 3, 1, 1, 1, 28, 28)),
    ("im2col.col2im_cpu", im2col.col2im_cpu, (cols, 28, 28, 3, 3, 1, 1, 1, 28, 28)),
    ("leaky_relu.forward_cpu", leaky_relu.forward_cpu, (flat, 0.01)),
    ("leaky_relu.backward_cpu", leaky_relu.backward_cpu, (flat, flat, 0.01)),
    ("dropout.forward_cpu", dropout.forward_cpu, (flat, s0, s1, threshold, scale, 0.01)),
    ("dropout.apply_cpu", dropout.apply_cpu, (flat, flat, keep, scale, 0.01)),
    ("bce.forward_cpu", bce.forward_cpu, (p, t)),
    ("bce.backward_cpu", bce.backward_cpu, (p, t, g)),
]
from functools import partial
from bench_common import Case, measure  # the benchmarks' timing loop: no warm-up, two calls
out = {"import_s": import_s, "kernels": []}
for name, fn, args in calls:
    first, second = measure(Case(engines={name: partial(fn, *args)}), 0, 2)[name]
    stats = fn.stats
    out["kernels"].append({
        "name": name, "first_s": first, "second_s": second,
        "signature": ", ".join(map(str, fn.signatures[0])) if fn.signatures else "?",
        "cache_hits": sum(stats.cache_hits.values()),
        "cache_misses": sum(stats.cache_misses.values())})
out["threading_layer"] = numba.threading_layer()
out["numba_threads"] = numba.get_num_threads()
print("JIT-RESULT " + json.dumps(out))
"""


def _jit_child(cache_dir, threads, N):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    for var in THREAD_ENV_VARS:
        env[var] = str(threads)
    env["PYTHONPATH"] = os.pathsep.join([REPO_ROOT, os.path.join(REPO_ROOT, "benchmarks")]
                                        + [p for p in [env.get("PYTHONPATH")] if p])
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", JIT_CHILD, str(N)], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("JIT-RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"JIT subprocess failed (status {proc.returncode}):\n{proc.stderr}")
    result = json.loads(lines[-1][len("JIT-RESULT "):])
    result["wall_s"] = wall
    return result


def _jit_report(threads, N):
    with tempfile.TemporaryDirectory(prefix="minigan-numba-cache-") as cache_dir:
        cold = _jit_child(cache_dir, threads, N)
        warm = _jit_child(cache_dir, threads, N)
    rows = []
    for c, w in zip(cold["kernels"], warm["kernels"]):
        rows.append((c["name"], f"`{c['signature']}`", f"{c['first_s'] * 1e3:.0f} ms",
                     f"{w['first_s'] * 1e3:.1f} ms", f"{fmt(w['second_s'])[0]} "
                     f"{fmt(w['second_s'])[1]}",
                     f"{c['cache_misses']}/{c['cache_hits']} → {w['cache_misses']}/"
                     f"{w['cache_hits']}"))
    total_c = sum(k["first_s"] for k in cold["kernels"])
    total_w = sum(k["first_s"] for k in warm["kernels"])
    rows.append(("**all 8 kernels**", "", f"**{total_c:.2f} s**", f"**{total_w * 1e3:.0f} ms**",
                 "", ""))
    ok = (all(k["cache_misses"] >= 1 and k["cache_hits"] == 0 for k in cold["kernels"])
          and all(k["cache_hits"] >= 1 and k["cache_misses"] == 0 for k in warm["kernels"]))
    lines = [f"First call of each minigan Numba kernel (float32, batch {N} shapes), each run in "
             f"a fresh Python process; Numba threading layer {cold['threading_layer']}, "
             f"{cold['numba_threads']} threads. Cold: NUMBA_CACHE_DIR a new empty directory "
             "(compile + write the cache); warm: a second process with that cache (load only). "
             "The first kernel's cold time includes Numba's one-time set-up (LLVM, parfors).\n"]
    lines += table(("kernel", "signature", "cold first call", "warm-cache first call",
                     "second call", "cache misses/hits cold → warm"), rows)
    lines.append(f"\n`import minigan` (NumPy, Numba, kernels; no compile): cold "
                 f"{cold['import_s']:.2f} s, warm {warm['import_s']:.2f} s; whole subprocess "
                 f"wall time: cold {cold['wall_s']:.1f} s, warm {warm['wall_s']:.1f} s."
                 + ("" if ok else " WARNING: the cache hits/misses are not the expected "
                    "all-miss (cold) / all-hit (warm)."))
    return lines


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help=f"threads for torch, Numba and NumPy's BLAS (default {DEFAULT_THREADS})")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed rounds per case (default: 50 for the C=1 im2col/col2im cases, "
                        "20 for the others; --quick: 2)")
    p.add_argument("--warmup", type=int, default=None, help="untimed rounds first (default 3)")
    p.add_argument("--quick", action="store_true", help=f"batch {QUICK_BATCH}, 2 rounds: a "
                   "smoke test")
    p.add_argument("--no-jit", action="store_true", help="skip the JIT-time subprocesses")
    p.add_argument("--output", default=None, help="also write the report to this file")
    add_import_order(p)
    return parse_checked(p, argv, warmup=(1, 3))


def _run_cases(args, torch, N):
    """Check, warm up and time every case: (table rows, 0 or 1 when a check failed)."""
    results, status = [], 0
    for build in _cases(N):
        case = build(torch)
        check_text, ok = case.check()  # first: the Adam check needs untouched weights
        if not ok:
            print(f"error: {case.rows[0][0]}: results differ ({check_text}); the timings "
                  "would compare different work", file=sys.stderr)
            status = 1
        repeats = args.repeats or (QUICK_REPEATS if args.quick else DEFAULT_REPEATS[case.size])
        load = _OtherLoad()
        times = measure(case, args.warmup, repeats)
        load = load.text()
        for label, what, other in case.rows:
            results.append((label, what, repeats, cell(times["minigan"]), other,
                            cell(times[other]), f"{ratio(times, 'minigan', other):.2f}x",
                            check_text, load))
        del case
        gc.collect()
    return results, status


def main(argv=None):
    """Run every case and print the report. Returns 0, or 1 when a check fails; exits with
    status 2 when torch is missing."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    torch = missing_torch("conv_kernels")

    started = time.perf_counter()
    report = []

    def emit(line=""):
        print(line, flush=True)
        report.append(line)

    with pinned_threads(torch, args.threads, numba) as blas_note:
        N = QUICK_BATCH if args.quick else BATCH
        mg.manual_seed(0)
        torch.manual_seed(0)

        emit(f"threads: torch {torch.get_num_threads()}, Numba {numba.get_num_threads()}, "
             f"{blas_note} | {IMPORT_ORDERS[args.import_order]} | {versions(torch, numba)}")
        emit(f"{machine()} | {load_average()} at start")

        results, status = _run_cases(args, torch, N)
        emit(f"\nwarm-up {args.warmup} rounds; timed rounds interleaved (order rotating); "
             "median (p25–p75); the last column is the CPU time other processes took while the "
             "case ran, as a share of all cores (the machine may be shared)\n")
        for line in table(("case", "what", "rounds", "minigan", "other", "other's time",
                            "minigan / other", "check", "other processes' CPU"), results):
            emit(line)
        elapsed = time.perf_counter() - started
        emit(f"\ncases (checks, warm-up, timing): {elapsed:.0f} s | {load_average()} at the end")

        if not args.no_jit:
            emit()
            for line in _jit_report(args.threads, N):
                emit(line)
        emit(f"\ntotal run time {time.perf_counter() - started:.0f} s")
        if args.output:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write("\n".join(report) + "\n")
        return status


if __name__ == "__main__":
    sys.exit(main())
