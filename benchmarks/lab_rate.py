"""How fast the lab's 2-D game plays: steps a second of training and frames a second a page
receives, for each recipe the game starts from, with a page's event stream connected.

    python benchmarks/lab_rate.py [--seconds 10]

The lab asks for at least 20 steps and 10 frames a second on 2 cores (docs/lab.md states the
numbers). The server runs in this process, as `minigan lab` runs it; the page is a client
thread reading /events.
"""
import argparse
import http.client
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.bench_common import load_average, machine  # noqa: E402
from minigan.lab import server  # noqa: E402


def frames_received(lab, counts, stop):
    """Reads /events as a page does, counting "frame" events into counts[0]."""
    host, port = lab.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=30)
    connection.request("GET", "/events")
    response = connection.getresponse()
    while not stop.is_set():
        line = response.readline()
        if not line:
            return
        if line.startswith(b"event: frame"):
            counts[0] += 1
    connection.close()


def rate(recipe, seconds, warmup=3.0):
    lab = server.start(recipe=recipe, playing=True)
    threading.Thread(target=lab.serve_forever, daemon=True).start()
    counts, stop = [0], threading.Event()
    threading.Thread(target=frames_received, args=(lab, counts, stop), daemon=True).start()
    time.sleep(warmup)                       # the first frames compile Numba's kernels
    lab.player.measured()
    received, start = counts[0], time.perf_counter()
    time.sleep(seconds)
    measured = lab.player.measured()
    pages = (counts[0] - received) / (time.perf_counter() - start)
    stop.set()
    lab.shutdown()
    server.stop(lab)
    return measured["steps_per_second"], measured["frames_per_second"], pages


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0, help="seconds measured per recipe")
    args = p.parse_args(argv)
    print(machine())
    print("| recipe | steps/s | frames/s drawn | frames/s received by the page |")
    print("|---|---|---|---|")
    for recipe in ("original", "stable"):
        steps, frames, pages = rate(recipe, args.seconds)
        print(f"| {recipe} | {steps:.0f} | {frames:.1f} | {pages:.1f} |", flush=True)
    print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
