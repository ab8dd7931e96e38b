"""The `minigan` command: one entry point for what the examples and modules do.

    minigan train ...       examples/mnist_gan.py: train a GAN on MNIST
    minigan sample ...      examples/sample.py: samples and latent walks from a trained generator
    minigan evaluate ...    python -m minigan.evaluate: FID and digit coverage against the floor
    minigan bench ...       benchmarks/gan_bench.py: minigan against PyTorch (needs torch)
    minigan lab [RUN]       examples/lab.py: watch a GAN learn in the browser (the 2-D game,
                            and a run folder followed as it is written)

Each subcommand's --help lists its flags and their defaults.
"""
import importlib
import subprocess
import sys
from pathlib import Path

COMMANDS = {   # name -> (module with main(argv), what it does)
    "train": ("minigan.train_command", "train a GAN on MNIST (examples/mnist_gan.py)"),
    "sample": ("minigan.sample_command",
               "draw samples or latent walks from a trained generator (examples/sample.py)"),
    "evaluate": ("minigan.evaluate",
                 "score a generator: FID and digit coverage against the floor"),
    "bench": (None, "time minigan against PyTorch (benchmarks/gan_bench.py; needs torch)"),
    "lab": ("minigan.lab.command", "watch a GAN learn, live in the browser (examples/lab.py)"),
}
BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "gan_bench.py"


def usage():
    width = max(map(len, COMMANDS))
    lines = ["usage: minigan COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {what}" for name, (_, what) in COMMANDS.items()]
    lines += ["", "minigan COMMAND --help lists a command's flags and their defaults."]
    return "\n".join(lines)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"minigan: unknown command {name!r}: one of {', '.join(COMMANDS)} (minigan --help)",
              file=sys.stderr)
        return 2
    if name == "bench":
        return bench(rest)
    sys.argv[0] = f"minigan {name}"       # argparse names the program in usage and errors
    return importlib.import_module(COMMANDS[name][0]).main(rest)


def bench(argv):
    """benchmarks/gan_bench.py in a process of its own (it imports NumPy and torch before
    minigan, as a user's script does), or one line saying what is missing."""
    try:
        import torch  # noqa: F401
    except ImportError:
        print("minigan bench: PyTorch is not installed, and the benchmarks time minigan against "
              "it: pip install torch==2.13.0 (or the package's bench extra)", file=sys.stderr)
        return 1
    if not BENCH.is_file():
        print(f"minigan bench: {BENCH} is not there: the benchmarks come with a checkout of the "
              "repository (pip install -e . from it)", file=sys.stderr)
        return 1
    return subprocess.call([sys.executable, str(BENCH), *argv])


if __name__ == "__main__":
    sys.exit(main())
