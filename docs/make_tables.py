"""Remake the results tables in docs/ from the raw per-seed scores behind them.

    python docs/make_tables.py           (rewrite every table in place)
    python docs/make_tables.py --check   (exit 1, naming the file, when a table is stale)

A table is declared in a Markdown file by a comment on the line above it:

    <!-- table: tables/toy_ablation.csv | .1f .0f -->

The CSV (relative to docs/) holds one line per run: the row's label in the first column, the
run's seed in a column named `seed`, then one column per score. The table has one row per
label, in the CSV's order: the label, the number of seeds n, and each score as
**mean (min-max)** over those seeds, formatted by the comment's formats (one per score column).
This is the one way the docs report spread: the mean and the full range, with n.
"""
import argparse
import csv
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
MARKER = re.compile(r"^<!-- table: (\S+) \| ([^>]*?) -->$")


def read_runs(path):
    """The CSV's header and its rows grouped by label, in order: {label: [row, ...]}."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, groups = rows[0], {}
    if "seed" not in header[1:]:
        raise ValueError(f"{path}: no 'seed' column (the header is {header})")
    for row in rows[1:]:
        if row:
            groups.setdefault(row[0], []).append(row)
    return header, groups


def spread(values, fmt):
    """'mean (min-max)' of the values, each formatted by `fmt`; one value alone: the value."""
    low, mean, high = min(values), sum(values) / len(values), max(values)
    if len(values) == 1:
        return format(mean, fmt)
    return f"{format(mean, fmt)} ({format(low, fmt)}-{format(high, fmt)})"


def table(path, formats):
    """The Markdown table of the CSV at `path` (see the module docstring)."""
    header, groups = read_runs(path)
    seed = header.index("seed")
    scores = [i for i in range(1, len(header)) if i != seed]
    if len(formats) != len(scores):
        raise ValueError(f"{path}: {len(scores)} score columns but {len(formats)} formats")
    lines = ["| " + " | ".join([header[0], "n"] + [header[i] for i in scores]) + " |",
             "| " + " | ".join(["---"] * (len(scores) + 2)) + " |"]
    for label, rows in groups.items():
        cells = [spread([float(r[i]) for r in rows], fmt) for i, fmt in zip(scores, formats)]
        lines.append("| " + " | ".join([label, str(len(rows))] + cells) + " |")
    return lines


def remake(markdown):
    """The Markdown text with every declared table remade."""
    lines, out, i = markdown.split("\n"), [], 0
    while i < len(lines):
        out.append(lines[i])
        match = MARKER.match(lines[i].strip())
        i += 1
        if match:
            out.extend(table(DOCS / match.group(1), match.group(2).split()))
            while i < len(lines) and lines[i].startswith("|"):
                i += 1                                   # the old table
    return "\n".join(out)


def declared(paths):
    """The Markdown files among `paths` that declare a table."""
    return [p for p in paths if any(MARKER.match(line.strip())
                                    for line in p.read_text().split("\n"))]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    args = p.parse_args(argv)
    root = DOCS.parent
    stale = []
    for path in declared([root / "README.md", *sorted(DOCS.glob("*.md")),
                          *sorted((root / "benchmarks").glob("*.md"))]):
        text = path.read_text()
        new = remake(text)
        if new != text:
            stale.append(path)
            if not args.check:
                path.write_text(new)
    for path in stale:
        print(f"{path.relative_to(root)}: {'stale' if args.check else 'remade'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
