"""Where minigan's discriminator step spends its time, op by op (forward and backward).

    python benchmarks/profile_step.py [--batch 64] [--rounds 20]

Wraps every autograd Function's forward and backward (and Adam's step) with a timer, runs D
steps of the seed discriminator on random images, and prints each op's mean milliseconds per
step, largest first. The timers add a little overhead; the step's total is printed beside them.
"""
import argparse
import os
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import minigan as mg  # noqa: E402
from bench_common import Case, measure, minigan_models, minigan_steps  # noqa: E402
from minigan import optim, recipes  # noqa: E402
from minigan.autograd import Function  # noqa: E402


def install_timers(totals):
    """Time every Function call (forward) and its backward, and every Adam step, into totals."""
    call, step = Function.__call__, optim.Adam.step

    def timed_call(fn, *inputs):
        key = (type(fn).__name__, tuple(inputs[0].shape))
        t = time.perf_counter()
        out = call(fn, *inputs)
        totals[key + ("forward",)] += time.perf_counter() - t
        backward = fn.backward

        def timed_backward(gy):
            t = time.perf_counter()
            grads = backward(gy)
            totals[key + ("backward",)] += time.perf_counter() - t
            return grads
        fn.backward = timed_backward
        return out

    def timed_step(opt):
        t = time.perf_counter()
        step(opt)
        totals[("Adam", (), "step")] += time.perf_counter() - t

    Function.__call__, optim.Adam.step = timed_call, timed_step


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--rounds", type=int, default=20)
    args = p.parse_args(argv)
    recipe = recipes.get_recipe("original")
    G, D, opt_d, opt_g = minigan_models(recipe)
    real = mg.tensor(np.random.default_rng(0).uniform(-1, 1, (args.batch, 784)), dtype="float32")
    d_step, _ = minigan_steps(G, D, opt_d, opt_g, recipe)
    totals = defaultdict(float)
    case = Case(engines={"minigan": lambda: d_step(real, 0)},  # the real batch only
                after_warmup=lambda: install_timers(totals))  # 3 warm-up steps (and JIT) first
    step_ms = sum(measure(case, 3, args.rounds)["minigan"]) / args.rounds * 1e3
    print(f"D step on {args.batch} images: {step_ms:.1f} ms (with timers)")
    print("| op | input shape | pass | ms per step | share |")
    print("|---|---|---|---|---|")
    for (name, shape, phase), seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        ms = seconds / args.rounds * 1e3
        if ms >= 0.1:
            print(f"| {name} | {shape} | {phase} | {ms:.2f} | {ms / step_ms:.0%} |")


if __name__ == "__main__":
    main()
