"""Every model's training step in minigan, in PyTorch eager and in torch.compile'd PyTorch, timed
side by side in one process: the second anchor.

    python benchmarks/compile_bench.py                     # every model, batch 64, 2 threads
    python benchmarks/compile_bench.py --models seed --rounds 5 --backend eager   # a smoke test

The PyTorch twin (torch_gan.py) is compiled the way a user compiles a model: torch.compile on the
generator and on the discriminator's two parts (the steps call D.features and D.head), default
mode; the loss, backward and the Adam steps stay eager. The three engines start from the same
weights. The first call of each compiled step (D step, G step) compiles it: that time is
reported on its own ("compile s"; recompilations during the warm-up rounds that follow, e.g. for
G called with and without grad, are not in it), and the timed rounds come after the warm-up. Timed
rounds are interleaved, the engine that goes first rotating (bench_common.measure); the medians
and the ratios minigan / eager and minigan / compiled are printed as a Markdown table with the
machine. NumPy and torch are imported before minigan, as in a user's script.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import prepare_script  # noqa: E402

if __name__ == "__main__":  # NumPy and torch first, as in a user's script
    prepare_script(sys.argv[1:])

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numba  # noqa: E402

import gan_bench  # noqa: E402
from bench_common import (  # noqa: E402
    Case, machine, measure, missing_torch, on_device, pinned_threads, versions)
from minigan import recipes  # noqa: E402

MODELS = {  # name -> (recipe, schedule of the step, the part timed): gan_bench's models
    "seed D step": (recipes.RECIPES["original"], "original", "d"),
    "seed G step": (recipes.RECIPES["original"], "original", "g"),
    **{f"{label} train step": (recipe, schedule, "d+g")
       for label, (recipe, schedule) in gan_bench.MODEL_RECIPES.items() if label != "seed"},
}


def engines(torch, dev, name, batch, backend):
    """{engine: one call of the model's step}, the compile seconds of the compiled engine's first
    call, and how far the eager twin's outputs are from minigan's (checked before any step)."""
    recipe, schedule, part = MODELS[name]
    torch._dynamo.reset()   # compiled as in a process of its own: Dynamo caches per code object,
    # and the twins of every model share torch_gan's forward code (its recompile limit is 8)
    noise = recipe.instance_noise if schedule == "standard" else 0.0
    eager, check = gan_bench.both_steps(torch, dev, batch, recipe, schedule, noise)
    compiled, _ = gan_bench.both_steps(
        torch, dev, batch, recipe, schedule, noise,
        compile_with=lambda module: torch.compile(module, backend=backend))
    calls = {"minigan": eager["minigan"], "eager": eager["torch"], "compiled": compiled["torch"]}
    calls = {engine: step_of(d, g, part) for engine, (d, g) in calls.items()}
    agreement = check()[0]                    # the same weights: before any step changes them
    started = time.perf_counter()
    calls["compiled"]()                       # the first call compiles the step's graphs
    return calls, time.perf_counter() - started, agreement


def step_of(d_step, g_step, part):
    """The call timed: D's step, G's step, or one of each."""
    return {"d": d_step, "g": g_step, "d+g": lambda: (d_step(), g_step())}[part]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS),
                   help="comma-separated parts of model names (default: all: "
                        + ", ".join(MODELS) + ")")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=3, help="rounds after compiling (default 3)")
    p.add_argument("--rounds", type=int, default=10, help="timed rounds (default 10)")
    p.add_argument("--backend", default="inductor",
                   help="torch.compile's backend (default inductor; eager: no code generation)")
    args = p.parse_args(argv)
    chosen = [m for m in MODELS if any(part.strip() and part.strip() in m
                                       for part in args.models.split(","))]
    if not chosen:
        p.error(f"--models {args.models!r} names no model; the models: {', '.join(MODELS)}")
    torch = missing_torch("compile_bench")
    rows = []
    with on_device("cpu", torch) as dev, pinned_threads(torch, args.threads, numba) as blas_note:
        torch.manual_seed(0)
        for name in chosen:
            print(f"[{name}] compiling ...", file=sys.stderr, flush=True)
            calls, compile_s, agreement = engines(torch, dev, name, args.batch, args.backend)
            times = measure(Case(engines=calls), args.warmup, args.rounds)
            medians = {e: statistics.median(t) * 1e3 for e, t in times.items()}
            rows.append((name, medians, compile_s, agreement))
    print(f"{machine()}; {versions(torch, numba)}; threads {args.threads} ({blas_note}); "
          f"torch.compile backend {args.backend}, batch {args.batch}, median of {args.rounds} "
          "interleaved rounds after warm-up")
    print("\n| model | minigan ms | eager ms | compiled ms | minigan / eager | minigan / compiled "
          "| compiled / eager | compile s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, m, compile_s, _ in rows:
        print(f"| {name} | {m['minigan']:.1f} | {m['eager']:.1f} | {m['compiled']:.1f} | "
              f"{m['minigan'] / m['eager']:.2f} | {m['minigan'] / m['compiled']:.2f} | "
              f"{m['compiled'] / m['eager']:.2f} | {compile_s:.1f} |")
    for name, _, _, agreement in rows:
        print(f"- {name}, minigan against the eager twin before the first step: {agreement}")
    return rows


if __name__ == "__main__":
    main()
