"""A training run the distributed tests start, alone or under `mpiexec -n K`:

    python tests/distributed_worker.py OUT RECIPE SCHEDULE EPOCHS [--distributed] [--resume]
        [--local-statistics] [--kill-rank-1] [--stop-rank-1] [--timeout=SECONDS]
        [--set=FIELD=VALUE]

trains the GAN on generated images (global batch 16) and saves every rank's final weights to
OUT/weights_rank<r>.npz; rank 0 also writes the run folder OUT/run. --resume continues the run
in OUT/run from its checkpoint to EPOCHS. --stop-rank-1 stops rank 1 (SIGSTOP) after its first
epoch, having written its process id to OUT/stopped.pid; --timeout sets the collectives' limit.
A DistributedError ends the job as examples/mnist_gan.py does: one line, then abort.
"""
import os
import signal
import sys
from pathlib import Path

import numpy as np

from minigan import distributed, train

BATCH, IMAGES = 16, 64


def record_first_gradients(trainer):
    """{name: gradient} of the first D step and the first G step, as the optimizer applies them
    (after the average over the ranks)."""
    first = {}
    for net, opt in (("D", trainer.opt_d), ("G", trainer.opt_g)):
        inner = getattr(opt, "optimizer", opt)            # inside an AveragingOptimizer
        names = {id(p): name for name, p in getattr(trainer, net).named_parameters()}

        def step(inner=inner, net=net, names=names, apply=inner.step):
            for p in inner.params:
                key = f"{net}.{names[id(p)]}"
                if p.grad is not None and key not in first:
                    first[key] = p.grad.numpy().copy()
            apply()
        inner.step = step
    return first


def main(out, recipe, schedule, epochs, *flags):
    out = Path(out)
    timeout = [float(f[10:]) for f in flags if f.startswith("--timeout=")]
    comm = distributed.Communicator(sync_statistics="--local-statistics" not in flags,
                                    **dict(timeout=timeout[0]) if timeout else {}) \
        if "--distributed" in flags else None
    images = np.random.default_rng(0).uniform(-1, 1, (IMAGES, 784)).astype(np.float32)
    labels = np.random.default_rng(1).integers(0, 10, IMAGES)
    conditional = recipe.endswith("-conditional")
    recipe = recipe.removesuffix("-conditional")
    if "--resume" in flags:
        trainer = train.resume(str(out / "run" / "checkpoint.npz"), images, epochs=int(epochs),
                               labels=labels if conditional else None, log=lambda line: None,
                               comm=comm)
    else:
        from minigan.recipes import get_recipe
        import dataclasses
        chosen = get_recipe(recipe)
        if conditional:
            chosen = dataclasses.replace(chosen, conditional=True, classifier=1.0)
        for flag in flags:   # --set=field=value (a float)
            if flag.startswith("--set="):
                field, value = flag[6:].split("=")
                chosen = dataclasses.replace(chosen, **{field: type(getattr(chosen, field))(
                    float(value))})
        config = train.TrainConfig(epochs=int(epochs), batch_size=BATCH, schedule=schedule,
                                   recipe=recipe, seed=3, out=str(out / "run"), log_every=1)
        trainer = train.Trainer(config, images, labels=labels if conditional else None,
                                log=lambda line: None, recipe=chosen, comm=comm)
    first = record_first_gradients(trainer)
    if "--kill-rank-1" in flags and comm.rank == 1:   # dies after its second epoch, unannounced
        def die(end_epoch=trainer.end_epoch):
            end_epoch()
            if trainer.epoch == 2:
                os.kill(os.getpid(), signal.SIGKILL)
        trainer.end_epoch = die
    if "--stop-rank-1" in flags and comm.rank == 1:   # stops after its first epoch, silently
        def stop(end_epoch=trainer.end_epoch):
            end_epoch()
            (out / "stopped.pid").write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGSTOP)
        trainer.end_epoch = stop
    try:
        trainer.train()
    except distributed.DistributedError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        comm.abort(1)
    rank = comm.rank if comm is not None else 0
    weights = {f"first_grad.{k}": v for k, v in first.items()}
    weights.update({f"G.{k}": v for k, v in trainer.G.state_dict().items()})
    weights.update({f"D.{k}": v for k, v in trainer.D.state_dict().items()})
    losses = [row["loss_d"] for row in trainer.epochs] + [row["loss_g"] for row in trainer.epochs]
    np.savez(out / f"weights_rank{rank}.npz", losses=np.array(losses), **weights)


if __name__ == "__main__":
    main(*sys.argv[1:])
