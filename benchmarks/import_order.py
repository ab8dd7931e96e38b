"""Does minigan's speed depend on what a script imports first? gan_bench.py's D and G steps, run
in fresh processes that alternate the two import orders, side by side with PyTorch in each.

    python benchmarks/import_order.py                  # 4 processes per order, about 4 min
    python benchmarks/import_order.py --rounds 2 --cases "D step b64"

user: `import numpy, torch` before minigan, as a user's script does; minigan-first: the other
way round. No process gets an environment variable the user did not set. Each process reports
the median of its timed steps; the table gives, per order, the median over processes of minigan's
time, PyTorch's, and their ratio, and the ratio of the two orders' minigan times.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ORDERS = ("user", "minigan-first")


def run_bench(order, cases, repeats, threads, folder, index):
    """One gan_bench.py process; returns its {case: {engine: median seconds}}."""
    output = os.path.join(folder, f"{order}-{index}.md")
    command = [sys.executable, os.path.join(HERE, "gan_bench.py"), "--cases", cases,
               "--repeats", str(repeats), "--threads", str(threads), "--import-order", order,
               "--output", output]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"import_order: gan_bench.py failed ({' '.join(command)}):\n{proc.stderr[-2000:]}")
    with open(os.path.splitext(output)[0] + ".json", encoding="utf-8") as f:
        return json.load(f)["cases"]


def summarize(runs):
    """{order: [process results]} -> Markdown table rows."""
    names = list(runs[ORDERS[0]][0])
    rows = ["| case | import order | minigan | PyTorch | minigan / PyTorch | processes |",
            "|---|---|---|---|---|---|"]
    for name in names:
        mine = {}
        for order in ORDERS:
            m = [r[name]["minigan"] for r in runs[order]]
            t = [r[name]["torch"] for r in runs[order]]
            ratios = [a / b for a, b in zip(m, t)]
            mine[order] = statistics.median(m)
            rows.append(f"| {name} | {order} | {mine[order] * 1e3:.1f} ms | "
                        f"{statistics.median(t) * 1e3:.1f} ms | {statistics.median(ratios):.2f}x "
                        f"({min(ratios):.2f}–{max(ratios):.2f}) | {len(m)} |")
        rows.append(f"| {name} | user / minigan-first | "
                    f"{mine['user'] / mine['minigan-first']:.2f}x | | | |")
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=4, help="processes per import order (default 4)")
    p.add_argument("--cases", default="D step b64,G step b64",
                   help="gan_bench.py cases (default 'D step b64,G step b64')")
    p.add_argument("--repeats", type=int, default=10, help="timed steps per process (default 10)")
    p.add_argument("--threads", type=int, default=2, help="threads for both engines (default 2)")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.repeats < 1 or args.threads < 1:
        p.error("--rounds, --repeats and --threads must be at least 1")
    runs = {order: [] for order in ORDERS}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        for index in range(args.rounds):
            for order in ORDERS if index % 2 == 0 else ORDERS[::-1]:
                print(f"[{index + 1}/{args.rounds}] {order} ...", file=sys.stderr, flush=True)
                runs[order].append(run_bench(order, args.cases, args.repeats, args.threads,
                                             folder, index))
    print("\n".join(summarize(runs)))
    print(f"\n{args.rounds} processes per order, alternating; {args.repeats} timed steps each; "
          f"{args.threads} threads; run time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
