"""Train the classic MNIST GAN with minigan.

    python examples/mnist_gan.py --device cpu --epochs 1          # the default, stable recipe
    python examples/mnist_gan.py --schedule original --recipe original   # the Keras script's
    python examples/mnist_gan.py --model dcgan --conditional      # a DCGAN told which digit
    python examples/mnist_gan.py --resume runs/RUN/checkpoint.npz --epochs 20   # continue a run
    mpiexec -n 2 python examples/mnist_gan.py --distributed   # data-parallel over 2 processes

The command line lives in minigan/train_command.py, so that the installed command runs the same
function: `minigan train ...` is this script. The loop it drives is minigan.train.Trainer; the
two steps it trains with are minigan/gan.py's; examples/gan_in_one_file.py writes the original's
loop out in one file.
"""
import sys

from minigan.train_command import main

if __name__ == "__main__":
    sys.exit(main())
