"""Draw samples, or latent walks, from a trained generator.

    python examples/sample.py runs/RUN --n 64 --out grid.png       # a grid picture
    python examples/sample.py --pretrained --n 64 --out grid.png   # the shipped generator
    python examples/sample.py runs/RUN --walk 4 --steps 8 --out walk.png   # + walk.gif

The command line lives in minigan/sample_command.py (its docstring lists every use), so that the
installed command runs the same function: `minigan sample ...` is this script.
"""
import sys

from minigan.sample_command import main

if __name__ == "__main__":
    sys.exit(main())
