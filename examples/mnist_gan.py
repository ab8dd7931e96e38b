"""Train the classic MNIST GAN with minigan.

    python examples/mnist_gan.py --device cpu --epochs 1          # the default, stable recipe
    python examples/mnist_gan.py --schedule seed --recipe seed    # the original (100 epochs)

Writes sample grids, loss curves, a CSV history, a GIF, checkpoints and generator.npz under --out.
"""
import argparse
import sys

from minigan import backend, data, train
from minigan.gan import RECIPES


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Train the classic Keras MNIST GAN with minigan.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", default="cpu", choices=["cpu", "gpu", "cuda"],
                   help="where to train: NumPy + Numba on the CPU, or CuPy on an NVIDIA GPU")
    p.add_argument("--schedule", default="standard", choices=["standard", "seed"],
                   help="standard: an epoch is a pass over the data, one D and one G step per "
                        "batch; seed: the original's 64 D iterations then one G step per epoch")
    p.add_argument("--recipe", default="stable", choices=sorted(RECIPES),
                   help="seed: the original's hyperparameters (collapses); stable: the default, "
                        "changed to fight the collapse (see the README for what it reaches)")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs to train (default: 10, or 100 with --schedule seed)")
    p.add_argument("--batch-size", type=int, default=64, help="images per batch")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate of both Adam optimizers (default: the recipe's)")
    p.add_argument("--sample-every", type=int, default=None,
                   help="epochs between sample grids (default: 1, or 10 with --schedule seed)")
    p.add_argument("--out", default=None, help="output folder (default: runs/<timestamp>)")
    p.add_argument("--data-dir", default=None,
                   help="folder with the four MNIST .gz files (else $MINIGAN_DATA_DIR, then the "
                        "user cache, then a download)")
    p.add_argument("--seed", type=int, default=0, help="random seed: the same seed, the same run")
    p.add_argument("--resume", default=None, metavar="CHECKPOINT",
                   help="continue the run saved in this checkpoint.pkl (--epochs: the new total)")
    p.add_argument("--log-every", type=int, default=50, help="iterations between progress lines")
    p.add_argument("--eval-every", type=int, default=0, metavar="N",
                   help="every N epochs, score 5,000 samples (FID on the digit classifier's "
                        "features, digits covered) into history.csv and losses.png (default: off; "
                        "with --resume, the checkpoint's setting)")
    p.add_argument("--limit", type=int, default=None,
                   help="train on the first N images only (for quick trials)")
    args = p.parse_args(argv)
    seed_schedule = args.schedule == "seed"
    if args.epochs is None:
        args.epochs = train.SEED_SCHEDULE["epochs"] if seed_schedule else 10
    if args.sample_every is None:
        args.sample_every = train.SEED_SCHEDULE["sample_every"] if seed_schedule else 1
    for name in ("epochs", "batch_size", "sample_every", "log_every"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.lr is not None and args.lr <= 0:
        p.error("--lr must be positive")
    if args.eval_every < 0:
        p.error("--eval-every must be 0 (off) or positive")
    return args


def main(argv=None):
    args = parse_args(argv)
    log = train.progress_printer()
    try:
        backend.check_device(args.device)
        images, _ = data.load_mnist("train", data_dir=args.data_dir)
        if args.limit:
            images = images[:args.limit]
        # a resumed run keeps its checkpoint's --eval-every unless one is given
        eval_images = data.load_mnist("test", data_dir=args.data_dir)[0] \
            if args.eval_every or args.resume else None
        if args.resume:
            trainer = train.resume(args.resume, images, epochs=args.epochs, device=args.device,
                                   out=args.out, log=log, eval_images=eval_images,
                                   eval_every=args.eval_every or None)
        else:
            config = train.TrainConfig(
                epochs=args.epochs, batch_size=args.batch_size, schedule=args.schedule,
                recipe=args.recipe, lr=args.lr, sample_every=args.sample_every, out=args.out,
                seed=args.seed, device=args.device, log_every=args.log_every,
                eval_every=args.eval_every)
            trainer = train.Trainer(config, images, log=log, eval_images=eval_images)
        last = trainer.train()
    except (backend.DeviceError, data.DataError, train.TrainingDiverged, ValueError,
            FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"done: {trainer.epoch} epochs; last epoch: loss D {last['loss_d']:.4f}, "
          f"loss G {last['loss_g']:.4f}, D(x) {last['d_real']:.3f}, D(G(z)) {last['d_fake']:.3f}, "
          f"{last['seconds']:.0f} s; outputs in {trainer.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
