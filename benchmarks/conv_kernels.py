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
  disc     the discriminator, Reshape(1, 28, 28) - Conv2D(1, 32, 3) - LeakyReLU(0.01) -
           Dropout(0.3) - Conv2D(32, 64, 3) - LeakyReLU(0.01) - Dropout(0.3) - Flatten -
           Dense(50176, 1) - Sigmoid, with a BCE loss against 0/1 labels, forward + backward (no
           optimizer) in eval mode and in train mode (dropout active), then one full training
           step (forward, backward, Adam(lr=1e-4) step) in train mode. The torch model is the
           same layers (Unflatten, Conv2d(padding=1), ..., Linear, Sigmoid) with minigan's
           weights loaded through state_dict (the keys match).

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
from bench_common import cell, cpu_model, fmt, pinned_threads, threads_from_argv  # noqa: E402

DEFAULT_THREADS = 2
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                   "NUMBA_NUM_THREADS")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

if __name__ == "__main__":  # run as a script: fix thread pools before NumPy and Numba start them
    for _var in THREAD_ENV_VARS:
        os.environ[_var] = threads_from_argv(sys.argv[1:], DEFAULT_THREADS)
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # as `import minigan`, before NumPy
    # let `python benchmarks/conv_kernels.py` import minigan from the checkout
    sys.path.insert(0, REPO_ROOT)

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402

import minigan as mg  # noqa: E402
import minigan.functional as F  # noqa: E402
from minigan.functional.conv import conv_geometry  # noqa: E402
from minigan.kernels import im2col as K  # noqa: E402

BATCH, QUICK_BATCH = 64, 8
SIDE, KERNEL = 28, 3
DROPOUT, ALPHA, LR = 0.3, 0.01, 1e-4
TOLERANCE = 1e-4
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


def _load():
    try:
        return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "load average unknown"


# ----------------------------------------------------------------------------------------------
# The NumPy im2col written here: sliding_window_view and one copy

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


# ----------------------------------------------------------------------------------------------
# The cases. Each is a dict: "engines" {name: fn} (minigan first), "reset" (untimed, before each
# call), "check" (returns (max relative difference or None, text for the table, ok)),
# "rows" [(label, what, other engine name)], "size" ("small" or "big").

def _rel_diff(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max()) / max(float(np.abs(b).max()), 1e-12)


def _diff_check(pairs):
    worst = max(_rel_diff(a, b) for a, b in pairs)
    return f"max rel. diff {worst:.1e}", worst <= TOLERANCE


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
    return {"engines": {"minigan": lambda: K.im2col(x, *g),
                        "im2col_reference": lambda: K.im2col_reference(x, *g),
                        "sliding_window_view": lambda: im2col_sliding_window(x, *g)},
            "reset": lambda: None, "check": check, "size": "small" if C == 1 else "big",
            "rows": [(f"im2col C={C}", what + ", Numba vs NumPy reference", "im2col_reference"),
                     (f"im2col C={C}", what + ", Numba vs sliding_window_view + copy",
                      "sliding_window_view")]}


def _case_col2im(torch, N, C):
    cols = np.random.default_rng(2).standard_normal(
        (C * KERNEL * KERNEL, N * SIDE * SIDE)).astype(np.float32)
    KH, KW, S, PT, PL, OH, OW = _geometry()
    args = (SIDE, SIDE, KH, KW, S, PT, PL, OH, OW)

    def check():
        return _diff_check([(K.col2im(cols, *args), K.col2im_reference(cols, *args))])

    what = f"cols ({C * KERNEL * KERNEL}, {N * SIDE * SIDE}) -> x ({N}, {C}, {SIDE}, {SIDE})"
    return {"engines": {"minigan": lambda: K.col2im(cols, *args),
                        "col2im_reference": lambda: K.col2im_reference(cols, *args)},
            "reset": lambda: None, "check": check, "size": "small" if C == 1 else "big",
            "rows": [(f"col2im C={C}", what + ", Numba vs NumPy reference", "col2im_reference")]}


def _case_conv(torch, N, C, OC, backward, x_grad):
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal((N, C, SIDE, SIDE)).astype(np.float32)
    limit = np.sqrt(6.0 / ((C + OC) * KERNEL * KERNEL))
    w0 = rng.uniform(-limit, limit, (OC, C, KERNEL, KERNEL)).astype(np.float32)
    b0 = rng.uniform(-0.1, 0.1, OC).astype(np.float32)
    gy0 = rng.standard_normal((N, OC, SIDE, SIDE)).astype(np.float32)
    xm, wm, bm = (mg.tensor(x0, requires_grad=x_grad), mg.tensor(w0, requires_grad=True),
                  mg.tensor(b0, requires_grad=True))
    xt, wt, bt = (torch.tensor(x0, requires_grad=x_grad), torch.tensor(w0, requires_grad=True),
                  torch.tensor(b0, requires_grad=True))
    gyt = torch.from_numpy(gy0)
    pad = (KERNEL - 1) // 2

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
        return _diff_check(pairs)

    grads = ("dx, dW, db" if x_grad else "dW, db; x.requires_grad=False") if backward else ""
    what = (f"x ({N}, {C}, {SIDE}, {SIDE}), {KERNEL}x{KERNEL}, pad same/{pad}: "
            + (f"forward + backward ({grads})" if backward else "forward (weights need grad)"))
    label = f"conv {C}->{OC} " + ("fwd+bwd" if backward else "fwd")
    return {"engines": engines, "reset": reset, "check": check, "size": "big",
            "rows": [(label, what, "torch")]}


def _models(torch):
    """The discriminator in both engines, with the same (minigan-initialised) weights."""
    nn = mg.nn
    mm = nn.Sequential(nn.Reshape(1, SIDE, SIDE), nn.Conv2D(1, 32, KERNEL, padding="same"),
                       nn.LeakyReLU(ALPHA), nn.Dropout(DROPOUT),
                       nn.Conv2D(32, 64, KERNEL, padding="same"), nn.LeakyReLU(ALPHA),
                       nn.Dropout(DROPOUT), nn.Flatten(), nn.Dense(SIDE * SIDE * 64, 1),
                       nn.Sigmoid())
    tn = torch.nn
    pad = (KERNEL - 1) // 2
    tm = tn.Sequential(tn.Unflatten(1, (1, SIDE, SIDE)), tn.Conv2d(1, 32, KERNEL, padding=pad),
                       tn.LeakyReLU(ALPHA), tn.Dropout(DROPOUT),
                       tn.Conv2d(32, 64, KERNEL, padding=pad), tn.LeakyReLU(ALPHA),
                       tn.Dropout(DROPOUT), tn.Flatten(), tn.Linear(SIDE * SIDE * 64, 1),
                       tn.Sigmoid())
    tm.load_state_dict({k: torch.from_numpy(v) for k, v in mm.state_dict().items()})  # strict
    return mm, tm


def _case_disc(torch, N, mode, step):
    mm, tm = _models(torch)
    rng = np.random.default_rng(4)
    x0 = rng.uniform(-1, 1, (N, SIDE * SIDE)).astype(np.float32)  # images scaled to [-1, 1]
    y0 = rng.integers(0, 2, (N, 1)).astype(np.float32)             # real / fake labels
    xm, ym = mg.tensor(x0), mg.tensor(y0)
    xt, yt = torch.from_numpy(x0), torch.from_numpy(y0)
    om = mg.optim.Adam(mm.parameters(), lr=LR) if step else None
    ot = torch.optim.Adam(tm.parameters(), lr=LR) if step else None

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

    tparams = dict(tm.named_parameters())

    def check():
        mm.eval()
        tm.eval()
        reset()
        if step:  # one Adam step from the same weights: compare the updates, in units of lr
            before_m = {k: p.numpy() for k, p in mm.named_parameters()}
            before_t = {k: p.detach().numpy().copy() for k, p in tparams.items()}
            run_m()
            run_t()
            worst = max(float(np.abs((p.numpy() - before_m[k])
                                     - (tparams[k].detach().numpy() - before_t[k])).max()) / LR
                        for k, p in mm.named_parameters())
            text, ok = f"eval-mode Adam update diff {worst:.1e} lr", worst <= 1e-2
        else:
            run_m()
            run_t()
            text, ok = _diff_check([(p.grad.numpy(), tparams[k].grad.numpy())
                                    for k, p in mm.named_parameters()])
        reset()
        mm.train(mode == "train")
        tm.train(mode == "train")
        if mode == "train":
            text = ("not compared (dropout masks differ); " + text) if step else \
                "not compared (dropout masks differ)"
        return text, ok

    mm.train(mode == "train")
    tm.train(mode == "train")
    if step:
        label, what = "disc train step", "forward, BCE, backward, Adam(lr=1e-4) step, train mode"
    else:
        label, what = f"disc fwd+bwd {mode}", f"forward, BCE, backward (no optimizer), {mode} mode"
        what += " (dropout active)" if mode == "train" else " (dropout off)"
    return {"engines": {"minigan": run_m, "torch": run_t}, "reset": reset, "check": check,
            "size": "big", "rows": [(label, f"batch {N}: {what}", "torch")]}


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


# ----------------------------------------------------------------------------------------------
# Timing and report

def _measure(case, warmup, repeats):
    """Interleaved timings in seconds, {engine: [...]}; the engine that goes first rotates."""
    engines = list(case["engines"])
    for _ in range(warmup):
        for name in engines:
            case["reset"]()
            case["engines"][name]()
    times = {name: [] for name in engines}
    gc.collect()
    for i in range(repeats):
        k = i % len(engines)
        for name in engines[k:] + engines[:k]:
            fn = case["engines"][name]
            case["reset"]()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    case["reset"]()
    return times


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows]


# ----------------------------------------------------------------------------------------------
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
out = {"import_s": import_s, "kernels": []}
for name, fn, args in calls:
    t0 = time.perf_counter()
    fn(*args)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    fn(*args)
    second = time.perf_counter() - t0
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
    env["PYTHONPATH"] = os.pathsep.join([REPO_ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
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
    lines += _table(("kernel", "signature", "cold first call", "warm-cache first call",
                     "second call", "cache misses/hits cold → warm"), rows)
    lines.append(f"\n`import minigan` (NumPy, Numba, kernels; no compile): cold "
                 f"{cold['import_s']:.2f} s, warm {warm['import_s']:.2f} s; whole subprocess "
                 f"wall time: cold {cold['wall_s']:.1f} s, warm {warm['wall_s']:.1f} s."
                 + ("" if ok else " WARNING: the cache hits/misses are not the expected "
                    "all-miss (cold) / all-hit (warm)."))
    return lines


# ----------------------------------------------------------------------------------------------

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
    args = p.parse_args(argv)
    if args.threads < 1 or (args.repeats is not None and args.repeats < 1):
        p.error("--threads and --repeats must be at least 1")
    if args.warmup is None:
        args.warmup = 1 if args.quick else 3
    return args


def main(argv=None):
    """Run every case and print the report. Returns 0, or 1 when a check fails; exits with
    status 2 when torch is missing."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    try:
        import torch
    except ImportError:
        print("conv_kernels needs torch: pip install -e \".[bench]\"", file=sys.stderr)
        sys.exit(2)

    started = time.perf_counter()
    report = []

    def emit(line=""):
        print(line, flush=True)
        report.append(line)

    with pinned_threads(torch, numba, args.threads) as blas_note:
        N = QUICK_BATCH if args.quick else BATCH
        mg.manual_seed(0)
        torch.manual_seed(0)

        emit(f"threads: torch {torch.get_num_threads()}, Numba {numba.get_num_threads()}, "
             f"{blas_note} | python {platform.python_version()} | numpy {np.__version__} | "
             f"numba {numba.__version__} | torch {torch.__version__} | minigan {mg.__version__}")
        emit(f"machine: {cpu_model()} ({os.cpu_count()} logical cores), {platform.system()} "
             f"{platform.release()} | {_load()} at start")

        results, status = [], 0
        for build in _cases(N):
            case = build(torch)
            check_text, ok = case["check"]()  # first: the Adam check needs untouched weights
            if not ok:
                print(f"error: {case['rows'][0][0]}: results differ ({check_text}); the timings "
                      "would compare different work", file=sys.stderr)
                status = 1
            repeats = args.repeats or (QUICK_REPEATS if args.quick
                                       else DEFAULT_REPEATS[case["size"]])
            load = _OtherLoad()
            times = _measure(case, args.warmup, repeats)
            load = load.text()
            for label, what, other in case["rows"]:
                ratio = np.median(times["minigan"]) / np.median(times[other])
                results.append((label, what, repeats, cell(times["minigan"]), other,
                                cell(times[other]), f"{ratio:.2f}x", check_text, load))
            del case
            gc.collect()

        emit(f"\nwarm-up {args.warmup} rounds; timed rounds interleaved (order rotating); "
             "median (p25–p75); the last column is the CPU time other processes took while the "
             "case ran, as a share of all cores (the machine may be shared)\n")
        for line in _table(("case", "what", "rounds", "minigan", "other", "other's time",
                            "minigan / other", "check", "other processes' CPU"), results):
            emit(line)
        elapsed = time.perf_counter() - started
        emit(f"\ncases (checks, warm-up, timing): {elapsed:.0f} s | {_load()} at the end")

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
