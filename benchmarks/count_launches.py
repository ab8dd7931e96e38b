"""GPU kernel launches per training step, minigan (CuPy) and PyTorch (CUDA), counted by CUPTI.

    python benchmarks/count_launches.py [--batch 64]

Runs one seed-schedule D step (64 real, then 64 fake) and one G step in each engine (the same
code as benchmarks/gan_bench.py) under torch.profiler with CUDA activity: CUPTI records every
kernel the process launches, CuPy's and cuBLAS's included, so one profiler counts both engines
alike. Prints the kernels, memory copies and memsets per step, and minigan's kernels by name.
Needs a GPU, CuPy and torch with CUDA.
"""
import argparse
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def count(torch, fn, sync, rounds=3):
    """Kernel, memcpy and memset activities per call of fn, and kernel names."""
    from torch.profiler import ProfilerActivity, profile
    fn()
    sync()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(rounds):
            fn()
        sync()
    kinds, names = collections.Counter(), collections.Counter()
    for event in prof.events():
        if event.device_type != torch.autograd.DeviceType.CUDA:
            continue
        name = event.name
        kind = "memcpy" if "emcpy" in name else "memset" if "emset" in name else "kernel"
        kinds[kind] += 1
        if kind == "kernel":
            names[name] += 1
    return ({k: v / rounds for k, v in kinds.items()},
            {k: v / rounds for k, v in names.most_common(12)})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64)
    args = p.parse_args(argv)
    import torch

    import gan_bench
    dev = gan_bench.Device("gpu", torch)
    steps, _ = gan_bench.both_steps(torch, dev, args.batch, gan_bench.ORIGINAL, "original")
    (m_d, m_g), (t_d, t_g) = steps["minigan"], steps["torch"]
    sync_cupy, sync_torch = dev.sync["minigan"], dev.sync["torch"]
    print(f"launches per step, batch {args.batch} (CUPTI via torch.profiler)\n")
    print("| step | engine | kernels | memcpy | memset |")
    print("|---|---|---|---|---|")
    top = {}
    for step, (fm, ft) in {"D step (real + fake)": (m_d, t_d), "G step": (m_g, t_g)}.items():
        for engine, fn, sync in (("minigan", fm, sync_cupy), ("PyTorch", ft, sync_torch)):
            kinds, names = count(torch, fn, sync)
            top[(step, engine)] = names
            print(f"| {step} | {engine} | {kinds.get('kernel', 0):.0f} | "
                  f"{kinds.get('memcpy', 0):.0f} | {kinds.get('memset', 0):.0f} |")
    for (step, engine), names in top.items():
        print(f"\n{step}, {engine}: most launched kernels (per step)")
        for name, n in names.items():
            print(f"  {n:5.1f}  {name[:110]}")


if __name__ == "__main__":
    main()
