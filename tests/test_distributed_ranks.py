"""The ranks of an MPI launch as one run, or none: mpiexec without --distributed is refused, a rank
that stops coming ends the run (one line naming it, the checkpoint resumable) instead of leaving
the others waiting forever, and a run with per-process statistics resumes only as it was
trained. Each test starts `mpiexec -n 2` (skipped where MPI is missing, as in
tests/test_distributed.py).
"""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from minigan import train
from test_distributed import MPIEXEC, ROOT, WORKER, needs_mpi


def run(args, ranks=None, timeout=120):
    """python ARGS, alone or under mpiexec -n ranks, in a session of its own (so that a run that
    hangs is killed whole); the finished process."""
    command = [sys.executable, *map(str, args)]
    if ranks:
        command = [MPIEXEC, "-n", str(ranks), *command]
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=ROOT, start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"still running after {timeout} s: {' '.join(command)}\n{err[-2000:]}")
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def error_lines(err):
    assert "Traceback" not in err, err[-3000:]
    return [line for line in err.splitlines() if line.startswith("error:")]


@needs_mpi
def test_mpiexec_without_distributed_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "run"
    done = run([ROOT / "examples" / "mnist_gan.py", "--recipe", "original", "--limit", "64",
                "--batch-size", "32", "--epochs", "1", "--out", out], ranks=2)
    assert done.returncode != 0
    assert done.stdout == ""
    assert error_lines(done.stderr) == [
        "error: this is one of 2 processes of an MPI launch (mpiexec), but --distributed is not "
        "given: each process would train a run of its own into the same --out; add "
        "--distributed for one data-parallel run, or run without mpiexec"]
    assert not out.exists()


@needs_mpi
def test_a_stopped_rank_ends_the_run_with_one_line_naming_it(tmp_path):
    """Rank 1 stops itself (SIGSTOP) after epoch 1 of 3; with a 3 s limit on collectives rank 0
    must name it and end the job within seconds, its epoch-1 checkpoint intact."""
    start = time.monotonic()
    try:
        done = run([WORKER, tmp_path, "seed", "standard", 3, "--distributed", "--stop-rank-1",
                    "--timeout=3"], ranks=2, timeout=90)
    finally:
        pid = tmp_path / "stopped.pid"
        if pid.is_file():     # mpiexec's abort kills it; never leave a stopped process behind
            try:
                os.kill(int(pid.read_text()), signal.SIGKILL)
            except ProcessLookupError:
                pass
    seconds = time.monotonic() - start
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    assert done.returncode != 0
    assert error_lines(done.stderr) == [
        "error: process 1 of 2 did not join an all-reduce within 3 s (stopped, hung or killed). "
        f"The last good checkpoint is {checkpoint} (resume with --resume {checkpoint})"]
    assert seconds < 60, f"the job took {seconds:.0f} s to end"
    state = train.load_checkpoint(checkpoint)
    assert state["epoch"] == 1


@needs_mpi
def test_a_local_statistics_run_resumes_only_as_it_was_trained(tmp_path):
    run([WORKER, tmp_path, "seed", "standard", 1, "--distributed", "--local-statistics"],
        ranks=2)
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    assert train.load_checkpoint(checkpoint)["data_parallel"] == \
        {"processes": 2, "local_statistics": True}
    before = checkpoint.read_bytes()
    alone = run([WORKER, tmp_path, "seed", "standard", 2, "--resume"])
    assert alone.returncode != 0
    assert alone.stderr.strip().splitlines()[-1].endswith(
        f"{checkpoint} was trained with --local-statistics over 2 processes (batch statistics "
        "per process): a resumed run keeps its own; resume it with mpiexec -n 2 and "
        "--distributed --local-statistics, or start a new run")
    assert checkpoint.read_bytes() == before
    synced = run([WORKER, tmp_path, "seed", "standard", 2, "--resume", "--distributed"], ranks=2)
    assert synced.returncode != 0 and "keeps its own" in synced.stderr
    same = run([WORKER, tmp_path, "seed", "standard", 2, "--resume", "--distributed",
                "--local-statistics"], ranks=2)
    assert same.returncode == 0, same.stderr[-3000:]
    assert train.load_checkpoint(checkpoint)["epoch"] == 2
    np.load(tmp_path / "weights_rank1.npz")   # both ranks finished
