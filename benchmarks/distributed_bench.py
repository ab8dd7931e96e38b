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
import contextlib
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

    from bench_common import Case, measure, quartiles
    world = MPI.COMM_WORLD
    rank, size = world.Get_rank(), world.Get_size()
    threads = int(os.environ["OMP_NUM_THREADS"])
    torch.set_num_threads(threads)
    images = np.random.default_rng(rank).uniform(-1, 1, (args.batch // size, 784)).astype(
        np.float32)
    engine = (MiniganRank if args.worker == "minigan" else TorchRank)(args, images, rank, size)
    with engine.running():
        case = Case(engines={args.worker: engine.step}, reset=world.Barrier,
                    after_warmup=engine.zero_counters)
        step_times = measure(case, args.warmup, args.steps)[args.worker]
    comm_seconds, comm_bytes = engine.counters()
    # the libraries alone: one all-reduce of the step's gradient buffers (G's and D's), over
    # MPI (minigan) or Gloo (PyTorch)
    flat = np.concatenate([p.reshape(-1) for p in engine.arrays()]).astype(np.float32)
    allreduce = None
    if size > 1:
        case = Case(engines={"all-reduce": lambda: engine.allreduce(flat)}, reset=world.Barrier)
        allreduce = quartiles(measure(case, 0, 7)["all-reduce"])[1]
    engine.close()
    p25, median, p75 = quartiles(step_times)
    worst = world.allreduce(median, op=MPI.MAX)
    if rank == 0:
        print(json.dumps({"engine": args.worker, "recipe": args.recipe, "ranks": size,
                          "threads": threads, "step_ms": 1e3 * worst,
                          "step_ms_iqr": [1e3 * p25, 1e3 * p75],
                          "comm_ms": 1e3 * comm_seconds / args.steps,
                          "comm_bytes": comm_bytes / args.steps,
                          "gradient_bytes": int(flat.nbytes),
                          "mpi_allreduce_ms": allreduce and 1e3 * allreduce}))


class MiniganRank:
    """minigan on one rank: the training step (one D step, one G step; with more than one rank
    the optimizers average the gradients over MPI), its communication counters, and one
    all-reduce over MPI."""

    def __init__(self, args, images, rank, size):
        from bench_common import minigan_models, minigan_steps, schedule_steps
        from minigan import distributed
        from minigan.recipes import get_recipe
        recipe = get_recipe(args.recipe)
        self.G, self.D, opt_d, opt_g = minigan_models(recipe)
        self.comm = distributed.Communicator() if size > 1 else None
        batch = None
        if self.comm is not None:   # as the trainer: converted layers, the global batch's draws
            self.G = distributed.convert(self.G, self.comm)
            self.D = distributed.convert(self.D, self.comm)
            batch = distributed.GlobalBatch(self.comm)
            self.comm.broadcast(self.G), self.comm.broadcast(self.D)
            opt_d = distributed.AveragingOptimizer(opt_d, self.comm)
            opt_g = distributed.AveragingOptimizer(opt_g, self.comm)
        self.d_step, self.g_step = schedule_steps(
            *minigan_steps(self.G, self.D, opt_d, opt_g, recipe, recipe.instance_noise,
                           batch=batch), images)

    def step(self):
        self.d_step()
        self.g_step()

    def running(self):
        return contextlib.nullcontext()

    def zero_counters(self):
        if self.comm is not None:
            self.comm.communication_seconds, self.comm.communicated_bytes = 0.0, 0

    def counters(self):
        """(seconds in MPI collectives, bytes sent) since zero_counters."""
        if self.comm is None:
            return 0.0, 0
        return self.comm.communication_seconds, self.comm.communicated_bytes

    def arrays(self):
        return [p.data for p in self.G.parameters()] + [p.data for p in self.D.parameters()]

    def allreduce(self, flat):
        from mpi4py import MPI
        MPI.COMM_WORLD.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)

    def close(self):
        pass


class TorchRank:
    """PyTorch on one rank: the training step (one D step, one G step; with more than one rank
    DistributedDataParallel over Gloo), and one all-reduce over Gloo."""

    def __init__(self, args, images, rank, size):
        import torch
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel as DDP

        import torch_gan
        from minigan.gan import GENERATOR_SIZES
        from minigan.recipes import get_recipe
        self.recipe, self.size, self.twin = get_recipe(args.recipe), size, torch_gan
        torch.manual_seed(0)
        self.G = torch_gan.build_generator(self.recipe, GENERATOR_SIZES)
        self.D = self.d_plain = torch_gan.Discriminator(self.recipe)
        self.opt_d, self.opt_g = torch_gan.make_optimizers(self.G, self.D, self.recipe)
        self.real = torch.from_numpy(images)
        if size > 1:
            dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.port}",
                                    rank=rank, world_size=size)
            self.G, self.D = DDP(self.G), DDP(self.D)

    def step(self):
        # D steps through the DDP wrapper (its gradients are all-reduced), G steps through the
        # plain D (frozen; only G's gradients are all-reduced), as minigan's steps
        noise = self.recipe.instance_noise
        self.twin.discriminator_step(self.G, self.D, self.opt_d, self.recipe, self.real, noise)
        self.twin.generator_step(self.G, self.d_plain, self.opt_g, self.recipe, self.real, noise)

    def running(self):
        return contextlib.nullcontext()

    def zero_counters(self):
        pass

    def counters(self):
        return 0.0, 0  # Gloo's time is not measured apart

    def arrays(self):
        return [p.detach().numpy() for p in [*self.G.parameters(), *self.D.parameters()]]

    def allreduce(self, flat):
        import torch
        import torch.distributed as dist
        dist.all_reduce(torch.from_numpy(flat))

    def close(self):
        if self.size > 1:
            import torch.distributed as dist
            dist.destroy_process_group()


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
    p.add_argument("--recipes", type=lambda s: s.split(","), default=["original", "stable"])
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
