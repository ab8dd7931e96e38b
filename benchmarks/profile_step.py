"""Where minigan's training steps spend their time, op by op (forward and backward).

    python benchmarks/profile_step.py [--recipe original] [--step d-real] [--batch 64] [--rounds 20]
    python benchmarks/profile_step.py --recipe dcgan --set discriminator=dcgan --step d+g

Wraps every autograd Function's forward and backward (and Adam's step) with a timer, runs steps
of the recipe's networks on random images, and prints each op's mean milliseconds per step,
largest first. --step: d-real (D's step on the real batch only, the default), d (D's whole step,
real and fake), g (G's step), d+g (one of each). The recipe's instance noise is used at its
starting value. The timers add a little overhead; the step's total is printed beside them.
"""
import argparse
import dataclasses
import os
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import minigan as mg  # noqa: E402
from bench_common import (  # noqa: E402
    Case, measure, minigan_models, minigan_steps, without_dropout)
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


STEPS = {"d-real": lambda d, g, real: d(real, 0),        # the real batch only
         "d": lambda d, g, real: d(real),
         "g": lambda d, g, real: g(real),
         "d+g": lambda d, g, real: (d(real), g(real))}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--recipe", default="original", help="a recipe name (default: original)")
    p.add_argument("--set", action="append", default=[], type=recipes.parse_override,
                   metavar="FIELD=VALUE", help="change one recipe field, e.g. discriminator=dcgan "
                                               "(repeatable)")
    p.add_argument("--conditional", action="store_true",
                   help="the recipe's conditional GAN, with the auxiliary classifier, as "
                        "`examples/mnist_gan.py --conditional` trains it")
    p.add_argument("--no-dropout", action="store_true",
                   help="D without its dropout (LeakyReLU alone), as gan_bench's no-dropout case")
    p.add_argument("--step", choices=sorted(STEPS), default="d-real")
    p.add_argument("--min-ms", type=float, default=0.1,
                   help="leave out the ops below this many ms per step (default 0.1)")
    args = p.parse_args(argv)
    recipe = recipes.recipe_from_flags(args.recipe, conditional=args.conditional)
    recipe = dataclasses.replace(recipe, **dict(args.set))
    G, D, opt_d, opt_g = minigan_models(recipe)
    if args.no_dropout:
        without_dropout(D)
    real = mg.tensor(np.random.default_rng(0).uniform(-1, 1, (args.batch, 784)), dtype="float32")
    labels = np.arange(args.batch) % 10 if recipe.conditional else None   # digits 0-9 in turn
    d_step, g_step = minigan_steps(G, D, opt_d, opt_g, recipe, noise_std=recipe.instance_noise,
                                   labels=labels)
    totals = defaultdict(float)
    run = STEPS[args.step]
    case = Case(engines={"minigan": lambda: run(d_step, g_step, real)},
                after_warmup=lambda: install_timers(totals))  # 3 warm-up steps (and JIT) first
    step_ms = sum(measure(case, 3, args.rounds)["minigan"]) / args.rounds * 1e3
    changes = ("".join(f", {k}={v}" for k, v in args.set) + (", conditional" * args.conditional)
               + (", no dropout" * args.no_dropout))
    print(f"{args.recipe} recipe{changes}, step {args.step}, batch {args.batch}: {step_ms:.1f} ms "
          f"(with timers)")
    print("| op | input shape | pass | ms per step | share |")
    print("|---|---|---|---|---|")
    for (name, shape, phase), seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        ms = seconds / args.rounds * 1e3
        if ms >= args.min_ms:
            print(f"| {name} | {shape} | {phase} | {ms:.2f} | {ms / step_ms:.0%} |")


if __name__ == "__main__":
    main()
