"""Engine overhead: what minigan's autograd costs per op, against PyTorch in the same run.

Two cases, each a forward and a backward pass, written once and run on both engines:

  chain100  100 elementwise ops (x * 1.0001, x + 0.001, tanh, repeated) on a tiny float32 tensor
            of shape (8,) that requires grad, then .sum().backward(). The arithmetic is nothing,
            so the time is the engine's own per-op cost: building the graph, walking it back.
  mlp3      a 3-layer Dense MLP at batch 64 (100 -> 128 relu -> 256 relu -> 784 tanh, like the
            start of a GAN generator), loss = mean of the output, backward. The same weights are
            copied into torch (minigan's (out, in) layout is PyTorch's).

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
from bench_common import prepare_script  # noqa: E402

if __name__ == "__main__":  # NumPy and torch first, as in a user's script (or --import-order)
    prepare_script(sys.argv[1:])

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import platform  # noqa: E402

import numpy as np  # noqa: E402

import minigan as mg  # noqa: E402
from bench_common import (  # noqa: E402
    IMPORT_ORDERS, Case, add_import_order, cell, copy_weights, cpu_model, diff_check, fmt, measure,
    missing_torch, on_device, parse_checked, pinned_threads, ratio, table)

CHAIN_OPS = 100
CHAIN_SHAPE = (8,)
MLP_SIZES = (100, 128, 256, 784)
MLP_BATCH = 64
DEFAULT_REPEATS = {"chain100": 200, "mlp3": 100}
QUICK_REPEATS = {"chain100": 10, "mlp3": 5}


@dataclasses.dataclass(kw_only=True)
class OverheadCase(Case):
    ops: int              # the ops in the graph, to report the time per op


def _grad_check(engines, reset, grads):
    """A check that runs each engine once, then compares grads() -> [(minigan's, torch's)]."""
    def check():
        reset()
        for run in engines.values():
            run()
        result = diff_check(grads())
        reset()
        return result
    return check


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


def _case_chain100(torch, device, tdevice):
    x0 = np.random.default_rng(0).standard_normal(CHAIN_SHAPE).astype(np.float32)
    xm = mg.tensor(x0, requires_grad=True, device=device)
    xt = torch.tensor(x0, requires_grad=True, device=tdevice)

    def reset():
        xm.grad = xt.grad = None

    engines = {"minigan": lambda: _chain(xm).backward(), "torch": lambda: _chain(xt).backward()}
    return OverheadCase(
        ops=CHAIN_OPS + 1, reset=reset, engines=engines,
        check=_grad_check(engines, reset, lambda: [(xm.grad.numpy(), xt.grad.cpu().numpy())]),
        what=f"{CHAIN_OPS} elementwise ops on {CHAIN_SHAPE}, sum, backward")


def _case_mlp3(torch, device, tdevice):
    sizes, layers, tlayers = MLP_SIZES, [], []
    for i in range(3):
        layers += [mg.nn.Dense(sizes[i], sizes[i + 1]), mg.nn.ReLU() if i < 2 else mg.nn.Tanh()]
        tlayers += [torch.nn.Linear(sizes[i], sizes[i + 1]),
                    torch.nn.ReLU() if i < 2 else torch.nn.Tanh()]
    mm, tm = mg.nn.Sequential(*layers), torch.nn.Sequential(*tlayers)
    copy_weights(mm, tm)
    mm.to(device)
    tm.to(tdevice)

    z0 = np.random.default_rng(0).standard_normal((MLP_BATCH, sizes[0])).astype(np.float32)
    zm = mg.tensor(z0, device=device)
    zt = torch.tensor(z0, device=tdevice)

    def reset():
        mm.zero_grad()
        tm.zero_grad(set_to_none=True)

    def grads():
        return [(p.grad.numpy(), tp.grad.cpu().numpy())
                for p, tp in zip(mm.parameters(), tm.parameters())]

    engines = {"minigan": lambda: mm(zm).mean().backward(),
               "torch": lambda: tm(zt).mean().backward()}
    return OverheadCase(
        ops=7, reset=reset, engines=engines, check=_grad_check(engines, reset, grads),
        what=f"Dense MLP {' -> '.join(map(str, sizes))} (relu, relu, tanh), batch {MLP_BATCH}, "
             "mean, backward")


CASES = {"chain100": _case_chain100, "mlp3": _case_mlp3}


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
    add_import_order(p)
    return parse_checked(p, argv, warmup=(2, 10))


def main(argv=None):
    """Run both cases and print the report. Returns 0, or 1 when the engines disagree; exits
    with status 2 when the requested device (or torch) is missing."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    torch = missing_torch("engine_overhead")
    with on_device(args.device, torch) as dev, pinned_threads(torch, args.threads) as blas_note:
        print(f"threads: torch {torch.get_num_threads()}, {blas_note} | "
              f"{IMPORT_ORDERS[args.import_order]} | numpy {np.__version__} | "
              f"torch {torch.__version__} | minigan {mg.__version__} | python "
              f"{platform.python_version()} | CPU: {cpu_model()} ({os.cpu_count()} logical "
              f"cores) | device: {dev.description}")
        rows, status = [], 0
        for name, build in CASES.items():
            case = build(torch, dev.minigan, dev.torch)
            check, ok = case.check()
            if not ok:
                print(f"error: {name}: minigan's and torch's gradients differ ({check}); the "
                      "timings would compare different work", file=sys.stderr)
                status = 1
            repeats = args.repeats or (QUICK_REPEATS if args.quick else DEFAULT_REPEATS)[name]
            times = measure(case, args.warmup, repeats, dev.sync)
            rows.append((name, case.what, case.ops, repeats, cell(times["minigan"]),
                         cell(times["torch"]), f"{ratio(times, 'minigan', 'torch'):.2f}x",
                         _per_op(times["minigan"], case.ops), _per_op(times["torch"], case.ops),
                         check))
    print(f"warm-up {args.warmup} rounds; timed rounds interleaved; median (p25–p75)\n")
    print("\n".join(table(("case", "what", "ops", "rounds", "minigan", "torch", "minigan / torch",
                           "minigan per op", "torch per op", "gradients"), rows)))
    return status


if __name__ == "__main__":
    sys.exit(main())
