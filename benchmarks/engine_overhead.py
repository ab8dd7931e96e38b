"""Engine overhead: what minigan's autograd costs per op, against PyTorch in the same run.

Two cases, each a forward and a backward pass, written once and run on both engines:

  chain100  100 elementwise ops (x * 1.0001, x + 0.001, tanh, repeated) on a tiny float32 tensor
            of shape (8,) that requires grad, then .sum().backward(). The arithmetic is nothing,
            so the time is the engine's own per-op cost: building the graph, walking it back.
  mlp3      a 3-layer Dense MLP at batch 64 (100 -> 128 relu -> 256 relu -> 784 tanh, like the
            start of a GAN generator), loss = mean of the output, backward. The same weights are
            copied into torch (minigan's state_dict keys and (out, in) layout are PyTorch's).

Method: both engines get the same number of threads (--threads, default 1: torch.set_num_threads
and, for NumPy's BLAS, OMP/OPENBLAS/MKL_NUM_THREADS set before NumPy is imported, plus OpenBLAS's
own setter when it can be found). After warm-up, minigan and torch calls are interleaved (the one
that goes first alternates every round), each timed alone with time.perf_counter; gradients are
reset between calls, outside the timed region. Python's garbage collector stays on, as in
training. On the GPU each timing waits for its engine's queued work (cupy stream / torch.cuda
synchronize) before reading the clock. Before timing, both engines' results are compared; the
script exits with status 1 if they disagree (the comparison would be meaningless).

Printed: a header (threads, versions, CPU), then a Markdown table with the median and the
interquartile range (p25-p75) of each engine, the ratio median(minigan) / median(torch), and
the median divided by the number of ops in the graph.

Run from the repository root:

    python benchmarks/engine_overhead.py                 # 200 rounds of chain100, 100 of mlp3
    python benchmarks/engine_overhead.py --quick         # a few rounds: a smoke test
    python benchmarks/engine_overhead.py --threads 2 --repeats 500
    python benchmarks/engine_overhead.py --device gpu    # minigan on CuPy, torch on CUDA

Needs torch (the "bench" extra: pip install -e ".[bench]").
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import OpenBLAS, cell, cpu_model, fmt, threads_from_argv  # noqa: E402

THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

if __name__ == "__main__":  # run as a script: fix BLAS threads before NumPy starts its pool
    for _var in THREAD_ENV_VARS:
        os.environ[_var] = threads_from_argv(sys.argv[1:], 1)
    # let `python benchmarks/engine_overhead.py` import minigan from the checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import gc  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import minigan as mg  # noqa: E402
import minigan.functional as F  # noqa: E402

CHAIN_OPS = 100
CHAIN_SHAPE = (8,)
MLP_SIZES = (100, 128, 256, 784)
MLP_BATCH = 64
DEFAULT_REPEATS = {"chain100": 200, "mlp3": 100}
QUICK_REPEATS = {"chain100": 10, "mlp3": 5}


# ----------------------------------------------------------------------------------------------
# The cases: each builds the same computation on both engines

def _chain(x):
    """CHAIN_OPS elementwise ops, then a sum; the same code runs on a minigan or a torch tensor."""
    for i in range(CHAIN_OPS):
        k = i % 3
        if k == 0:
            x = x * 1.0001
        elif k == 1:
            x = x + 0.001
        else:
            x = x.tanh()
    return x.sum()


class _Activation(mg.nn.Module):
    """An activation function as a layer (minigan.nn may not have activation modules yet)."""

    def __init__(self, fn):
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def _case_chain100(torch, device, tdevice):
    x0 = np.random.default_rng(0).standard_normal(CHAIN_SHAPE).astype(np.float32)
    xm = mg.tensor(x0, requires_grad=True, device=device)
    xt = torch.tensor(x0, requires_grad=True, device=tdevice)

    def reset():
        xm.grad = xt.grad = None

    return {"ops": CHAIN_OPS + 1, "reset": reset,
            "minigan": lambda: _chain(xm).backward(), "torch": lambda: _chain(xt).backward(),
            "compare": lambda: [(xm.grad.numpy(), xt.grad.cpu().numpy())],
            "what": f"{CHAIN_OPS} elementwise ops on {CHAIN_SHAPE}, sum, backward"}


def _case_mlp3(torch, device, tdevice):
    sizes = MLP_SIZES
    layers = []
    for i in range(3):
        layers.append(mg.nn.Dense(sizes[i], sizes[i + 1]))
        layers.append(_Activation(F.relu if i < 2 else F.tanh))
    mm = mg.nn.Sequential(*layers).to(device)
    tlayers = []
    for i in range(3):
        tlayers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        tlayers.append(torch.nn.ReLU() if i < 2 else torch.nn.Tanh())
    tm = torch.nn.Sequential(*tlayers)
    tm.load_state_dict({k: torch.from_numpy(v) for k, v in mm.state_dict().items()})  # strict
    tm.to(tdevice)

    z0 = np.random.default_rng(0).standard_normal((MLP_BATCH, sizes[0])).astype(np.float32)
    zm = mg.tensor(z0, device=device)
    zt = torch.tensor(z0, device=tdevice)

    def reset():
        mm.zero_grad()
        tm.zero_grad(set_to_none=True)

    def compare():
        tparams = dict(tm.named_parameters())
        return [(p.grad.numpy(), tparams[name].grad.cpu().numpy())
                for name, p in mm.named_parameters()]

    arch = " -> ".join(map(str, sizes))
    return {"ops": 7, "reset": reset,
            "minigan": lambda: mm(zm).mean().backward(),
            "torch": lambda: tm(zt).mean().backward(),
            "compare": compare,
            "what": f"Dense MLP {arch} (relu, relu, tanh), batch {MLP_BATCH}, mean, backward"}


CASES = {"chain100": _case_chain100, "mlp3": _case_mlp3}


# ----------------------------------------------------------------------------------------------
# Timing and report

def _check(case):
    """Run each engine once; the largest gradient difference, relative to the gradient's size."""
    case["reset"]()
    case["minigan"]()
    case["torch"]()
    worst = 0.0
    for a, b in case["compare"]():
        scale = max(float(np.abs(b).max()), 1e-12)
        worst = max(worst, float(np.abs(a.astype(np.float64) - b).max()) / scale)
    case["reset"]()
    return worst


def _measure(case, syncs, warmup, repeats):
    """Interleaved timings in seconds: {'minigan': [...], 'torch': [...]}."""
    engines = ["minigan", "torch"]
    for _ in range(warmup):
        for name in engines:
            case["reset"]()
            case[name]()
            syncs[name]()
    times = {name: [] for name in engines}
    gc.collect()
    for i in range(repeats):
        for name in (engines if i % 2 == 0 else engines[::-1]):
            fn, sync = case[name], syncs[name]
            case["reset"]()
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - t0)
    case["reset"]()
    return times


def _per_op(samples, ops):
    return " ".join(fmt(float(np.median(samples)) / ops))


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=1,
                   help="threads for torch and for NumPy's BLAS (default 1)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed rounds per case (default: chain100 200, mlp3 100)")
    p.add_argument("--warmup", type=int, default=None, help="untimed rounds first (default 10)")
    p.add_argument("--quick", action="store_true", help="a few rounds only: a smoke test")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    args = p.parse_args(argv)
    if args.threads < 1 or (args.repeats is not None and args.repeats < 1):
        p.error("--threads and --repeats must be at least 1")
    if args.warmup is None:
        args.warmup = 2 if args.quick else 10
    return args


def main(argv=None):
    """Run both cases and print the report. Returns 0, or 1 when the engines disagree; exits
    with status 2 when the requested device (or torch) is missing."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    try:
        import torch
    except ImportError:
        print("engine_overhead needs torch: pip install -e \".[bench]\"", file=sys.stderr)
        sys.exit(2)

    previous_device = mg.get_device()
    previous_torch_threads = torch.get_num_threads()
    blas = OpenBLAS()
    previous_blas_threads = blas.get()
    try:
        if args.device == "gpu":
            try:
                mg.set_device("gpu")
            except mg.DeviceError as exc:
                print(f"error: {exc}", file=sys.stderr)
                sys.exit(2)
            if not torch.cuda.is_available():
                print(f"error: torch {torch.__version__} sees no CUDA GPU (a CPU-only build, or "
                      "no driver); --device gpu needs a CUDA build of torch", file=sys.stderr)
                sys.exit(2)
            import cupy
            tdevice = "cuda"
            syncs = {"minigan": lambda: cupy.cuda.get_current_stream().synchronize(),
                     "torch": torch.cuda.synchronize}
        else:
            tdevice = "cpu"
            syncs = {"minigan": lambda: None, "torch": lambda: None}

        torch.set_num_threads(args.threads)
        blas.set([args.threads] * len(blas.libs))
        if blas.libs:
            blas_note = f"NumPy OpenBLAS {blas.get()[0]}"
        else:
            env = ", ".join(f"{v}={os.environ.get(v, 'unset')}" for v in THREAD_ENV_VARS)
            blas_note = f"NumPy BLAS by environment: {env}"

        print(f"threads: torch {torch.get_num_threads()}, {blas_note} | numpy {np.__version__} | "
              f"torch {torch.__version__} | minigan {mg.__version__} | "
              f"python {platform.python_version()} | CPU: {cpu_model()} "
              f"({os.cpu_count()} logical cores) | device: {args.device}"
              + (f" ({torch.cuda.get_device_name()}, cupy {cupy.__version__})"
                 if args.device == "gpu" else ""))

        rows, status = [], 0
        for name, build in CASES.items():
            case = build(torch, args.device, tdevice)
            error = _check(case)
            if error > 1e-4:
                print(f"error: {name}: minigan's and torch's gradients differ (max relative "
                      f"difference {error:.2e}); the timings would compare different work",
                      file=sys.stderr)
                status = 1
            repeats = args.repeats or (QUICK_REPEATS if args.quick else DEFAULT_REPEATS)[name]
            times = _measure(case, syncs, args.warmup, repeats)
            ratio = np.median(times["minigan"]) / np.median(times["torch"])
            rows.append((name, case["what"], case["ops"], repeats, cell(times["minigan"]),
                         cell(times["torch"]), f"{ratio:.2f}x",
                         _per_op(times["minigan"], case["ops"]),
                         _per_op(times["torch"], case["ops"]), f"{error:.1e}"))

        print(f"warm-up {args.warmup} rounds; timed rounds interleaved; median (p25–p75)\n")
        header = ("case", "what", "ops", "rounds", "minigan", "torch", "minigan / torch",
                  "minigan per op", "torch per op", "max rel. grad diff")
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        for row in rows:
            print("| " + " | ".join(map(str, row)) + " |")
        return status
    finally:
        mg.set_device(previous_device)
        torch.set_num_threads(previous_torch_threads)
        blas.set(previous_blas_threads)


if __name__ == "__main__":
    sys.exit(main())
