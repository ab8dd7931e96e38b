"""Peak memory of a GAN's training loop in one engine, alone in its process.

    python benchmarks/gan_memory.py minigan --device cpu --threads 2 --steps 3

gan_bench.py runs it once per engine and model (measure_both) and reports the two. The PyTorch
process never imports minigan, whose Numba and LLVM would count against PyTorch: gan_bench
passes both children the model's recipe, generator sizes, schedule and instance noise (--spec;
without it, minigan's child trains the seed recipe on its own schedule). A conditional recipe
trains on the digits 0-9 in turn.
"""
import argparse
import json
import os
import resource
import subprocess
import sys

import numpy as np

BENCHMARKS = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCHMARKS)
RESULT = "MEMORY-RESULT "


def peak_rss_mib():
    """This process's peak resident set size so far, in MiB. On Linux, VmHWM from
    /proc/self/status: getrusage's ru_maxrss would report the parent's peak instead when that is
    larger (subprocess starts the child with vfork + exec, and the kernel carries the parent's
    high-water mark over the exec). Elsewhere ru_maxrss (KiB; bytes on macOS)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def run_engine(engine, device, threads, n, steps, spec):
    """Import one engine, build the GAN of spec's recipe, run 1 + `steps` (D step, G step) pairs
    of spec's schedule at batch n; print the peak RSS after the import and at the end (and the
    GPU allocator's held bytes)."""
    real0 = np.random.default_rng(9).uniform(-1, 1, (n, 28 * 28)).astype(np.float32)
    spec = {"schedule": "original", "noise": 0.0, **(spec or {})}
    sys.path.insert(0, BENCHMARKS)
    build = _torch_steps if engine == "torch" else _minigan_steps
    rss_import, (d_step, g_step) = build(device, threads, spec, real0)
    for _ in range(1 + steps):
        d_step()
        g_step()
    _gpu_sync(engine, device)()
    other = [m for m in (("torch",) if engine == "minigan" else ("minigan", "numba"))
             if m in sys.modules]
    if other:  # its memory would be counted against this engine
        raise RuntimeError(f"the {engine} memory child imported {other}")
    result = {"engine": engine, "rss_import_mib": rss_import, "rss_peak_mib": peak_rss_mib()}
    if device == "gpu":
        if engine == "torch":
            import torch
            result["gpu_mib"] = torch.cuda.max_memory_reserved() / 2**20
        else:
            import cupy
            result["gpu_mib"] = cupy.get_default_memory_pool().total_bytes() / 2**20
    print(RESULT + json.dumps(result), flush=True)
    return 0


def _torch_steps(device, threads, spec, real0):
    """(peak RSS once torch is imported, the twin's (D step, G step) of spec's schedule on
    real0)."""
    import torch

    import torch_gan
    from bench_common import schedule_steps
    torch.set_num_threads(threads)
    rss_import = peak_rss_mib()
    tdevice = "cuda" if device == "gpu" else "cpu"
    recipe = argparse.Namespace(**spec["recipe"])
    torch.manual_seed(0)  # the twin's own initialisation: the weights' values do not matter
    G = torch_gan.build_generator(recipe, spec["sizes"]).to(tdevice)
    D = torch_gan.Discriminator(recipe).to(tdevice)
    labels = torch.arange(real0.shape[0], device=tdevice) % 10 if recipe.conditional else None
    steps = torch_gan.twin_steps(G, D, *torch_gan.make_optimizers(G, D, recipe), recipe,
                                 spec["noise"], labels)
    return rss_import, schedule_steps(*steps, torch.tensor(real0, device=tdevice),
                                      spec["schedule"])


def _minigan_steps(device, threads, spec, real0):
    """(peak RSS once minigan is imported, its (D step, G step) of spec's schedule on real0)."""
    import numba

    import minigan as mg
    from bench_common import minigan_models, minigan_steps, schedule_steps
    from minigan import recipes
    numba.set_num_threads(threads)
    mg.set_device(device)
    rss_import = peak_rss_mib()
    recipe = recipes.Recipe(**spec["recipe"]) if "recipe" in spec else recipes.RECIPES["original"]
    G, D, opt_d, opt_g = minigan_models(recipe, device)
    labels = np.arange(real0.shape[0]) % 10 if recipe.conditional else None
    steps = minigan_steps(G, D, opt_d, opt_g, recipe, spec["noise"], labels)
    return rss_import, schedule_steps(*steps, mg.tensor(real0, device=device), spec["schedule"])


def _gpu_sync(engine, device):
    """What waits for the engine's queued GPU work (nothing, on the CPU)."""
    if device != "gpu":
        return lambda: None
    if engine == "torch":
        import torch
        return torch.cuda.synchronize
    import cupy
    return cupy.cuda.get_current_stream().synchronize


def measure_both(device, threads, n, steps, spec, thread_variables):
    """Both engines, each in a child process: {"batch": n, "steps": steps, engine: result dict
    for each}, or {"batch": n, "error": text} when one fails."""
    results = {"batch": n, "steps": steps}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [REPO_ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    for var in thread_variables:
        env[var] = str(threads)
    for engine in ("minigan", "torch"):
        command = [sys.executable, os.path.abspath(__file__), engine, "--device", device,
                   "--threads", str(threads), "--batch", str(n), "--steps", str(steps),
                   "--spec", json.dumps(spec)]
        proc = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=600)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT)]
        if proc.returncode != 0 or not lines:  # e.g. a minigan kernel without its GPU twin yet
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"\nwarning: the {engine} memory child failed: {last}", file=sys.stderr)
            return {"batch": n, "error": f"the {engine} child failed (status "
                                         f"{proc.returncode}): {last}"}
        results[engine] = json.loads(lines[-1][len(RESULT):])
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("engine", choices=("minigan", "torch"))
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--threads", type=int, default=2, help="threads for the engine (default 2)")
    p.add_argument("--batch", type=int, default=64, help="images per step (default 64)")
    p.add_argument("--steps", type=int, default=3,
                   help="(D step, G step) pairs after one warm-up pair (default 3)")
    p.add_argument("--spec", type=json.loads, default=None,
                   help="JSON {\"recipe\": minigan's Recipe fields, \"sizes\": "
                        "minigan.gan.GENERATOR_SIZES, \"schedule\": \"original\" or "
                        "\"standard\", \"noise\": instance noise}; needed by torch, which "
                        "imports no minigan (default for minigan: the seed recipe)")
    args = p.parse_args(argv)
    if args.engine == "torch" and args.spec is None:
        p.error("torch needs --spec (gan_bench.py passes it)")
    return run_engine(args.engine, args.device, args.threads, args.batch, args.steps, args.spec)


if __name__ == "__main__":
    sys.exit(main())
