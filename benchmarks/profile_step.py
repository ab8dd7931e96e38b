"""Where minigan's discriminator step spends its time, op by op (forward and backward).

    python benchmarks/profile_step.py [--batch 64] [--rounds 20]

Wraps every autograd Function's forward and backward (and Adam's step) with a timer, runs D
steps of the seed discriminator on random images, and prints each op's mean milliseconds per
step, largest first. The timers add a little overhead; the step's total is printed beside them.
"""
import argparse
import time
from collections import defaultdict

import numpy as np

import minigan as mg
from minigan import gan, optim
from minigan.autograd import Function


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
    mg.manual_seed(0)
    recipe = gan.get_recipe("seed")
    G, D = gan.build_generator(recipe), gan.build_discriminator(recipe)
    opt_d, _ = gan.make_optimizers(G, D, recipe)
    real = mg.tensor(np.random.default_rng(0).uniform(-1, 1, (args.batch, 784)), dtype="float32")
    for _ in range(3):  # warm-up (and JIT)
        gan.discriminator_step(G, D, opt_d, recipe, real, n_fake=0)
    totals = defaultdict(float)
    install_timers(totals)
    start = time.perf_counter()
    for _ in range(args.rounds):
        gan.discriminator_step(G, D, opt_d, recipe, real, n_fake=0)
    step_ms = (time.perf_counter() - start) / args.rounds * 1e3
    print(f"D step on {args.batch} images: {step_ms:.1f} ms (with timers)")
    print("| op | input shape | pass | ms per step | share |")
    print("|---|---|---|---|---|")
    for (name, shape, phase), seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        ms = seconds / args.rounds * 1e3
        if ms >= 0.1:
            print(f"| {name} | {shape} | {phase} | {ms:.2f} | {ms / step_ms:.0%} |")


if __name__ == "__main__":
    main()
