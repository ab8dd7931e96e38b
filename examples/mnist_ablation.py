"""Which of the default recipe's tricks MNIST needs: remove one at a time, train, score.

    python examples/mnist_ablation.py [--seeds 0,1] [--epochs 2] [--jobs 2] [--out runs/ablation]

For the stable recipe and for the stable recipe without each of minigan.recipes.TRICKS, and for
every seed, trains one `examples/recipe_trials.py` run and scores it with
`python -m minigan.evaluate RUN --json` (5,000 samples of noise seed 0 against the MNIST test
set). Prints a Markdown table (and writes it to OUT/ablation.md): the FID of every seed, their mean
and spread, the change from the full recipe, the digits covered. Progress goes to stderr.

Runs already trained and scored are read back, not trained again: stop it, start it again, and it
goes on where it stopped (a run that was cut off is moved aside to FOLDER.unfinished and trained
again). --report prints the table of the runs scored so far and trains nothing. --jobs N trains
N runs at once, each on cores/N threads.
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import runpy
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from minigan.config import EVAL_SAMPLES
from minigan.recipes import TRICKS, without

EXAMPLES = Path(__file__).resolve().parent
# The trials' naming rules (examples never import each other: load its globals as the tests do).
TRIALS = runpy.run_path(str(EXAMPLES / "recipe_trials.py"))
BASELINE = "stable (all tricks)"


def settings(tricks):
    """(setting, --set overrides): the full stable recipe, then the recipe without each trick."""
    return [(BASELINE, {})] + [(f"without {trick}", without(trick)) for trick in tricks]


def sets(overrides):
    return [f"{k}={v}" for k, v in overrides.items()]


class Trial:
    """One (setting, seed): its run folder, and the commands that train and score it."""

    def __init__(self, setting, overrides, seed, args):
        self.setting, self.overrides, self.seed, self.args = setting, overrides, seed, args
        self.label = TRIALS["trial_label"]("stable", overrides.items())
        self.folder = TRIALS["trial_folder"](args.out, self.label, seed)
        self.score_file = self.folder / "score.json"
        self.log = Path(args.out) / "logs" / f"{self.folder.name}.log"

    def name(self):
        return f"{self.setting}, seed {self.seed}"

    def train_command(self):
        command = [sys.executable, str(EXAMPLES / "recipe_trials.py"), "--recipe", "stable",
                   "--epochs", str(self.args.epochs), "--seed", str(self.seed),
                   "--samples", str(self.args.samples), "--out", str(self.args.out)]
        command += [arg for setting in sets(self.overrides) for arg in ("--set", setting)]
        if self.args.limit:
            command += ["--limit", str(self.args.limit)]
        if self.args.data_dir:
            command += ["--data-dir", self.args.data_dir]
        return command

    def score_command(self):
        command = [sys.executable, "-m", "minigan.evaluate", str(self.folder), "--json",
                   "--n", str(self.args.samples)]
        return command + (["--data-dir", self.args.data_dir] if self.args.data_dir else [])

    def settings(self):
        """What a stored score must have been made with to stand for this trial."""
        return {"epochs": self.args.epochs, "n": self.args.samples, "limit": self.args.limit}

    def score(self):
        """The stored score of this run, trained and scored as asked now, or None."""
        if not self.score_file.exists():
            return None
        score = json.loads(self.score_file.read_text())
        return score if all(score.get(k) == v for k, v in self.settings().items()) else None

    def trained_epochs(self):
        """Epochs the run folder's trials.jsonl records for this trial, with their minutes."""
        path = Path(self.args.out) / "trials.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines()] \
            if path.exists() else []
        return {r["epoch"]: r["minutes"] for r in records
                if r["recipe"] == self.label and r["seed"] == self.seed}


def run(trial, threads):
    """Trains (unless the run is complete) and scores one trial; its score, or an error line."""
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
    trial.log.parent.mkdir(parents=True, exist_ok=True)
    complete = (trial.folder / "generator.npz").exists() and \
        trial.args.epochs in trial.trained_epochs()
    if trial.folder.exists() and not complete:
        aside = trial.folder.with_name(trial.folder.name + ".unfinished")
        if aside.exists():
            raise RuntimeError(f"{trial.name()}: {aside} is in the way of keeping the cut-off "
                               f"run {trial.folder}: remove one of them")
        trial.folder.rename(aside)
        print(f"{trial.name()}: cut off before epoch {trial.args.epochs}, moved to {aside}; "
              f"training it again", file=sys.stderr, flush=True)
    if not complete:
        with open(trial.log, "w") as log:
            if subprocess.run(trial.train_command(), stdout=log, stderr=subprocess.STDOUT,
                              env=env).returncode:
                raise RuntimeError(f"{trial.name()}: training failed, see {trial.log}")
    # Scored in a process of its own, as a user would run it: two pool threads must not enter
    # Numba's parallel loops of one process at once.
    scored = subprocess.run(trial.score_command(), capture_output=True, text=True, env=env)
    if scored.returncode:
        raise RuntimeError(f"{trial.name()}: scoring failed: "
                           f"{scored.stderr.strip().splitlines()[-1:]}")
    score = json.loads(scored.stdout)
    score.update(trial.settings(), minutes=trial.trained_epochs()[trial.args.epochs],
                 command=" ".join(["python examples/recipe_trials.py"]
                                  + trial.train_command()[2:]))
    trial.score_file.write_text(json.dumps(score, indent=1) + "\n")
    return score


def table(trials, args):
    """The Markdown table of the scored trials: one row per setting, seeds in columns."""
    rows, baseline = [], None
    for setting in dict.fromkeys(t.setting for t in trials):
        scores = [(t, t.score()) for t in trials if t.setting == setting]
        done = [s for _, s in scores if s is not None]
        fids = [s["fid"] for s in done]
        per_seed = " / ".join(f"{s['fid']:.1f}" if s else "not run" for _, s in scores)
        digits = " / ".join(str(s["digits_covered"]) if s else "-" for _, s in scores)
        mean = f"{np.mean(fids):.1f} ± {np.std(fids):.1f}" if fids else "-"
        complete = len(done) == len(scores)
        if setting == BASELINE:
            baseline = np.mean(fids) if complete else None
        change = f"{np.mean(fids) - baseline:+.1f}" \
            if complete and baseline is not None and setting != BASELINE else "-"
        minutes = f"{np.mean([s['minutes'] for s in done]):.0f}" if done else "-"
        overrides = " ".join(f"--set {s}" for s in sets(scores[0][0].overrides)) or "(none)"
        rows.append(f"| {setting} | {per_seed} | {mean} | {change} | {digits} | {minutes} | "
                    f"`{overrides}` |")
    seeds = ", ".join(str(s) for s in args.seed_list)
    head = (f"MNIST ablation of the stable recipe, {datetime.date.today()}, {platform.machine()} "
            f"{platform.system()}, {os.cpu_count()} cores, {args.jobs} run(s) at a time: "
            f"`python examples/mnist_ablation.py --seeds {args.seeds} --epochs {args.epochs}"
            f"{f' --limit {args.limit}' if args.limit else ''}`. Each run: `python "
            f"examples/recipe_trials.py --recipe stable --epochs {args.epochs} --seed S "
            f"[--set ...]`, scored by `python -m minigan.evaluate RUN --n {args.samples}` (FID on "
            f"the LeNet's features; the real-vs-real floor is about 16). Seeds {seeds}; mean ± "
            f"standard deviation over the seeds; change: mean FID minus the full recipe's "
            f"(lower is better, so a positive change means the trick helps).\n")
    return "\n".join([head, "| setting | FID per seed | mean ± sd | change | digits covered per "
                      "seed | minutes per run | overrides |",
                      "| --- | --- | --- | --- | --- | --- | --- |", *rows]) + "\n"


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1", help="comma-separated seeds (default: 0,1)")
    p.add_argument("--epochs", type=int, default=2, help="epochs per run (default: 2)")
    p.add_argument("--tricks", default=",".join(TRICKS),
                   help="comma-separated tricks to remove, of: " + ", ".join(TRICKS))
    p.add_argument("--jobs", type=int, default=2, help="runs trained at once (default: 2)")
    p.add_argument("--samples", type=int, default=EVAL_SAMPLES,
                   help=f"images scored per run (default: {EVAL_SAMPLES}, the evaluate default)")
    p.add_argument("--out", default="runs/ablation", help="folder of the runs and the table")
    p.add_argument("--data-dir", default=None, help="MNIST folder (default: MINIGAN_DATA_DIR)")
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    p.add_argument("--report", action="store_true",
                   help="print the table of the runs scored so far; train nothing")
    return p


def parse_args(argv):
    """(args, tricks): the checked flags, with args.seed_list, and the tricks to remove; a bad
    flag exits with the usage and one line of error."""
    p = build_parser()
    args = p.parse_args(argv)
    try:
        args.seed_list = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        p.error(f"--seeds must be whole numbers separated by commas, got {args.seeds!r}")
    tricks = [t.strip() for t in args.tricks.split(",") if t.strip()]
    unknown = [t for t in tricks if t not in TRICKS]
    if unknown:
        p.error(f"unknown trick(s) {unknown} in --tricks: choose from {list(TRICKS)}")
    if args.epochs < 1 or args.jobs < 1 or args.samples < 2 or min(args.seed_list) < 0:
        p.error("--epochs and --jobs must be at least 1, --samples at least 2, seeds at least 0")
    return args, tricks


def train_unscored(trials, args):
    """Trains and scores, args.jobs at a time, the trials without a stored score; progress to
    stderr. Returns the error lines of those that failed."""
    todo = [t for t in trials if t.score() is None]
    failures = []
    if not todo:
        return failures
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    print(f"{len(trials) - len(todo)} of {len(trials)} runs scored already; training "
          f"{len(todo)}, {args.jobs} at a time on {threads} thread(s) each; logs in "
          f"{Path(args.out) / 'logs'}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(run, trial, threads): trial for trial in todo}
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            try:
                score = future.result()
                line = (f"{futures[future].name()}: FID {score['fid']:.1f}, "
                        f"{score['digits_covered']} digits, {score['minutes']} min")
            except (RuntimeError, OSError, ValueError, KeyError) as error:
                failures.append(str(error))
                line = f"error: {error}"
            print(f"[{done}/{len(todo)}, {(time.perf_counter() - start) / 60:.0f} min] "
                  f"{line}", file=sys.stderr, flush=True)
    return failures


def main(argv=None):
    args, tricks = parse_args(argv)
    trials = [Trial(setting, overrides, seed, args)
              for setting, overrides in settings(tricks) for seed in args.seed_list]
    failures = [] if args.report else train_unscored(trials, args)
    report = table(trials, args)
    print(report)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "ablation.md").write_text(report)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
