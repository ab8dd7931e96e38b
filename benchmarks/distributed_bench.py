"""Data-parallel training step on the CPU: 1 process x 2 threads vs 2 processes x 1 thread,
minigan over MPI (mpi4py + MPICH) against PyTorch DistributedDataParallel over Gloo.

    python benchmarks/distributed_bench.py                 # seed and stable recipes, batch 64
    python benchmarks/distributed_bench.py --recipes seed --steps 20

Each setting runs in its own processes (mpiexec launches both engines' ranks), NumPy and torch
imported before minigan as in a user's script, threads pinned by environment. Per setting:
median time of a training step (one D step, one G step; the ranks start each step together), the
time a rank spent in MPI collectives and the bytes it sent per step (minigan), and, as a
yardstick for the two libraries alone, one all-reduce of the step's gradient buffers (MPI for
minigan, Gloo for PyTorch). Needs
torch and the mpi extra (pip install -e ".[bench,mpi]").
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def worker(args):
    """One rank (or the single process) of a setting: prints one JSON line on rank 0."""
    import numpy as np
    import torch
    sys.path[:0] = [ROOT, HERE]
    from mpi4py import MPI
    comm_world = MPI.COMM_WORLD
    rank, size = comm_world.Get_rank(), comm_world.Get_size()
    threads = int(os.environ["OMP_NUM_THREADS"])
    torch.set_num_threads(threads)
    batch = args.batch // size
    images = np.random.default_rng(rank).uniform(-1, 1, (batch, 784)).astype(np.float32)
    times, comm_seconds, comm_bytes = [], 0.0, 0
    if args.worker == "minigan":
        from minigan import distributed, gan
        from minigan.recipes import get_recipe
        recipe = get_recipe(args.recipe)
        G, D = gan.build_generator(recipe), gan.build_discriminator(recipe)
        opt_d, opt_g = gan.make_optimizers(G, D, recipe)
        comm = distributed.Communicator() if size > 1 else None
        if comm is not None:
            G, D = distributed.convert(G, comm), distributed.convert(D, comm)
            comm.broadcast(G), comm.broadcast(D)
            opt_d = distributed.AveragingOptimizer(opt_d, comm)
            opt_g = distributed.AveragingOptimizer(opt_g, comm)
        params = [p.data for p in G.parameters()] + [p.data for p in D.parameters()]

        def step():
            gan.discriminator_step(G, D, opt_d, recipe, images, recipe.instance_noise)
            gan.generator_step(G, D, opt_g, recipe, images, recipe.instance_noise)
        context = comm.active() if comm is not None else _nothing()
        with context:
            for i in range(args.warmup + args.steps):
                comm_world.Barrier()
                if i == args.warmup and comm is not None:
                    comm.communication_seconds, comm.communicated_bytes = 0.0, 0
                start = time.perf_counter()
                step()
                times.append(time.perf_counter() - start)
        if comm is not None:
            comm_seconds = comm.communication_seconds / args.steps
            comm_bytes = comm.communicated_bytes / args.steps
    else:
        import torch.distributed as dist
        import torch_gan
        from minigan.gan import GENERATOR_SIZES
        from minigan.recipes import get_recipe
        from torch.nn.parallel import DistributedDataParallel as DDP
        recipe = get_recipe(args.recipe)
        torch.manual_seed(0)
        G = torch_gan.build_generator(recipe, GENERATOR_SIZES)
        D = torch_gan.Discriminator(recipe)
        opt_d, opt_g = torch_gan.make_optimizers(G, D, recipe)
        real = torch.from_numpy(images)
        if size > 1:
            dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.port}",
                                    rank=rank, world_size=size)
            G, D = DDP(G), DDP(D)
        # D steps through the DDP wrapper (its gradients are all-reduced), G steps through the
        # plain D (frozen; only G's gradients are all-reduced), as minigan's steps
        d_plain = D.module if size > 1 else D
        n, bce = real.shape[0], torch.nn.functional.binary_cross_entropy

        def noisy(x):
            return x + recipe.instance_noise * torch.randn_like(x) if recipe.instance_noise \
                else x

        def step():
            p_real = D(noisy(real))
            with torch.no_grad():
                fake = G(torch.randn(n, 100))
            p_fake = D(noisy(fake))
            loss = bce(p_real, torch.full_like(p_real, recipe.real_label)) + \
                bce(p_fake, torch.zeros_like(p_fake))
            opt_d.zero_grad()
            loss.backward()
            opt_d.step()
            d_plain.requires_grad_(False)
            features = d_plain.features(noisy(G(torch.randn(n, 100))))
            p = d_plain.head(features)
            loss = bce(p, torch.ones_like(p))
            if recipe.feature_matching > 0:
                with torch.no_grad():
                    real_features = d_plain.features(noisy(real))
                gap = features.mean(dim=0) - real_features.mean(dim=0)
                loss = loss + recipe.feature_matching * (gap * gap).mean()
            opt_g.zero_grad()
            loss.backward()
            opt_g.step()
            d_plain.requires_grad_(True)
        for _ in range(args.warmup + args.steps):
            comm_world.Barrier()
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        params = [p.detach().numpy() for p in list(G.parameters()) + list(D.parameters())]
    # the libraries alone: one all-reduce of the step's gradient buffers (G's and D's), over
    # MPI (minigan) or Gloo (PyTorch)
    flat = np.concatenate([p.reshape(-1) for p in params]).astype(np.float32)
    allreduce = None
    if size > 1:
        samples = []
        for _ in range(7):
            comm_world.Barrier()
            start = time.perf_counter()
            if args.worker == "minigan":
                comm_world.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)
            else:
                dist.all_reduce(torch.from_numpy(flat))
            samples.append(time.perf_counter() - start)
        allreduce = float(np.median(samples))
        if args.worker == "torch":
            dist.destroy_process_group()
    step_times = np.array(times[args.warmup:])
    worst = comm_world.allreduce(float(np.median(step_times)), op=MPI.MAX)
    if rank == 0:
        print(json.dumps({"engine": args.worker, "recipe": args.recipe, "ranks": size,
                          "threads": threads, "step_ms": 1e3 * worst,
                          "step_ms_iqr": [1e3 * float(np.percentile(step_times, q))
                                          for q in (25, 75)],
                          "comm_ms": 1e3 * comm_seconds, "comm_bytes": comm_bytes,
                          "gradient_bytes": int(flat.nbytes),
                          "mpi_allreduce_ms": allreduce and 1e3 * allreduce}))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_setting(engine, recipe, ranks, threads, args):
    env = dict(os.environ, **{name: str(threads) for name in THREADS})
    command = [sys.executable, __file__, "--worker", engine, "--recipe", recipe, "--batch",
               str(args.batch), "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--port", str(free_port())]
    command = [shutil.which("mpiexec"), "-n", str(ranks), *command]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    if done.returncode:
        sys.exit(f"error: {engine} {recipe} {ranks}x{threads} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(results, args):
    sys.path[:0] = [ROOT, HERE]
    import numba
    import torch

    from bench_common import machine, versions
    lines = [f"# Data-parallel training step, batch {args.batch} (global), "
             f"{time.strftime('%Y-%m-%d')}", "",
             f"{machine()}; {versions(torch, numba)}; MPICH via mpi4py; torch Gloo",
             f"command: python benchmarks/distributed_bench.py --recipes {','.join(args.recipes)} "
             f"--steps {args.steps}", "",
             "| recipe | engine | processes x threads | step (ms, median) | comm in step (ms) | "
             "bytes sent per step | one all-reduce of the gradients alone (ms) |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        comm = f"{r['comm_ms']:.1f}" if r["engine"] == "minigan" and r["ranks"] > 1 else "-"
        sent = f"{r['comm_bytes'] / 1e6:.2f} MB" if r["comm_bytes"] else "-"
        allreduce = f"{r['mpi_allreduce_ms']:.1f} ({r['gradient_bytes'] / 1e6:.2f} MB)" \
            if r["mpi_allreduce_ms"] else "-"
        lines.append(f"| {r['recipe']} | {r['engine']} | {r['ranks']} x {r['threads']} | "
                     f"{r['step_ms']:.1f} | {comm} | {sent} | {allreduce} |")
    lines.append("")
    for recipe in args.recipes:
        rows = {(r["engine"], r["ranks"]): r["step_ms"] for r in results if r["recipe"] == recipe}
        lines.append(f"- {recipe}: minigan / PyTorch, 1 x 2: "
                     f"{rows[('minigan', 1)] / rows[('torch', 1)]:.2f}x; 2 x 1: "
                     f"{rows[('minigan', 2)] / rows[('torch', 2)]:.2f}x; minigan 2 x 1 / 1 x 2: "
                     f"{rows[('minigan', 2)] / rows[('minigan', 1)]:.2f}x; PyTorch 2 x 1 / 1 x 2: "
                     f"{rows[('torch', 2)] / rows[('torch', 1)]:.2f}x")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recipes", type=lambda s: s.split(","), default=["seed", "stable"])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--out", default=None, help="also write the report (Markdown) here")
    p.add_argument("--worker", choices=["minigan", "torch"], help=argparse.SUPPRESS)
    p.add_argument("--recipe", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    if shutil.which("mpiexec") is None:
        sys.exit("error: no mpiexec: pip install -e '.[mpi]'")
    results = []
    for recipe in args.recipes:
        for engine in ("minigan", "torch"):
            for ranks, threads in ((1, 2), (2, 1)):
                results.append(run_setting(engine, recipe, ranks, threads, args))
                print(json.dumps(results[-1]), file=sys.stderr)
    text = report(results, args)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
