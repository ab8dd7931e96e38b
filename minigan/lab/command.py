"""The command line of `minigan lab` and examples/lab.py: start the lab's server, print its URL,
serve until Ctrl-C.

    minigan lab                       the 2-D game, at http://127.0.0.1:<a free port>/
    minigan lab runs/RUN              also follow the run in runs/RUN (the page's second tab)
    minigan lab --host 0.0.0.0 --port 8000
"""
import argparse
import sys

from minigan.lab import server
from minigan.lab.game import STARTS
from minigan.lab.server import LOCAL_HOSTS
from minigan.recipes import RECIPE_ALIASES


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="minigan lab", description="Watch a GAN learn, live in the "
                                "browser: the 2-D game (D's decision surface, G's points and the "
                                "gradients that push them, the curves, every trick at hand), and "
                                "an MNIST run folder followed while it is written.")
    p.add_argument("run", nargs="?", default=None,
                   help="a run folder to follow (the --out of examples/mnist_gan.py), shown in "
                        "the page's second tab as the run writes it")
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=0,
                   help="the port (default: 0, a free one; the URL is printed)")
    p.add_argument("--recipe", default="stable", choices=STARTS + tuple(RECIPE_ALIASES),
                   help="the recipe the game starts with (default: stable)")
    p.add_argument("--seed", type=int, default=0, help="the game's seed (default: 0)")
    p.add_argument("--paused", action="store_true",
                   help="start paused (default: the game plays as soon as the page opens)")
    args = p.parse_args(argv)
    if not 0 <= args.port <= 65535:
        p.error(f"--port must be from 0 to 65535, got {args.port}")
    if args.seed < 0:
        p.error(f"--seed must be at least 0, got {args.seed}")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        lab = server.start(args.host, args.port, run=args.run, recipe=args.recipe,
                           seed=args.seed, playing=not args.paused)
    except (FileNotFoundError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.host not in LOCAL_HOSTS:
        print(f"warning: listening on {args.host}: anyone who can reach this port can drive the "
              "lab and read the followed run's grids and history", file=sys.stderr)
    following = f", following {args.run}" if args.run else ""
    print(f"minigan lab at {lab.url()}{following} (Ctrl-C stops it)", flush=True)
    try:
        lab.serve_forever()
    except KeyboardInterrupt:
        print("\nminigan lab: stopped", file=sys.stderr)
    finally:
        server.stop(lab)
    if lab.player.failure is not None:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
