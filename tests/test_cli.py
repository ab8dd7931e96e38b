"""The installed `minigan` command: from a fresh virtual environment with the package installed
(pip install -e --no-deps: the environment sees this one's packages; pip's isolated build may
fetch setuptools from the package index), its help,
train, sample, evaluate and lab run as subprocesses of the entry point pip made; bench without torch
is one line and a non-zero exit."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MINIGAN_DATA_DIR", "/nonexistent"))


@pytest.fixture(scope="module")
def minigan_command(tmp_path_factory):
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=300)
    python = venv / "bin" / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "-e",
                           str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    command = venv / "bin" / "minigan"
    assert command.is_file()
    return command


def run(command, *argv, env=None):
    return subprocess.run([str(command), *map(str, argv)], capture_output=True, text=True,
                          timeout=600, env=env, cwd=ROOT)


def test_help_lists_every_command(minigan_command):
    done = run(minigan_command, "--help")
    assert done.returncode == 0
    for name in ("train", "sample", "evaluate", "bench", "lab"):
        assert f"\n  {name} " in done.stdout
    assert run(minigan_command, "train", "--help").stdout.startswith("usage: minigan train")
    wrong = run(minigan_command, "fly")
    assert wrong.returncode == 2 and wrong.stderr.strip().splitlines() == [
        "minigan: unknown command 'fly': one of train, sample, evaluate, bench, lab (minigan "
        "--help)"]


def test_lab_serves_its_page_from_the_installed_command(minigan_command):
    """`minigan lab` prints its URL, serves the page (page.html found as package data) and
    stops on Ctrl-C."""
    import http.client
    import signal
    process = subprocess.Popen([str(minigan_command), "lab", "--paused"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = process.stdout.readline()
        assert line.startswith("minigan lab at http://127.0.0.1:"), line
        host, port = line.split()[3][len("http://"):].rstrip("/").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("GET", "/")
        response = connection.getresponse()
        assert response.status == 200 and b"minigan lab" in response.read()
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
    finally:
        process.kill()


@pytest.mark.skipif(not (SHARED / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason="MINIGAN_DATA_DIR does not hold the MNIST .gz files")
def test_train_sample_and_evaluate_from_the_installed_command(minigan_command, tmp_path):
    run_dir = tmp_path / "run"
    done = run(minigan_command, "train", "--epochs", "1", "--limit", "640", "--out", run_dir,
               "--data-dir", SHARED)
    assert done.returncode == 0, done.stderr
    assert (run_dir / "generator.npz").is_file()
    done = run(minigan_command, "sample", run_dir, "--n", "16", "--out", tmp_path / "grid.png")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "grid.png").is_file()
    done = run(minigan_command, "evaluate", run_dir, "--n", "500", "--floor-draws", "0",
               "--json", "--data-dir", SHARED)
    assert done.returncode == 0, done.stderr
    assert '"fid"' in done.stdout


def test_bench_without_torch_is_one_line(minigan_command, tmp_path):
    (tmp_path / "torch.py").write_text("raise ImportError('no torch here')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    done = run(minigan_command, "bench", "--quick", env=env)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "minigan bench: PyTorch is not installed, and the benchmarks time minigan against it: "
        "pip install torch==2.13.0 (or the package's bench extra)"]
