"""minigan lab: watch a GAN learn, live in the browser (the same as the installed `minigan lab`).

    python examples/lab.py                 the 2-D game: the ring of 8 Gaussians, D's decision
                                           surface, G's points and the gradients that push them
    python examples/lab.py runs/RUN        also follow an MNIST run while mnist_gan.py writes it

The server and the game are minigan/lab/; docs/lab.md says what each panel shows.
"""
import sys

from minigan.lab.command import main

if __name__ == "__main__":
    sys.exit(main())
