"""Smoke tests: each benchmark script runs one quick case end to end (timings are not checked)."""
import runpy
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_engine_overhead_quick(capsys):
    pytest.importorskip("torch")
    main = runpy.run_path(str(BENCHMARKS / "engine_overhead.py"))["main"]
    assert main(["--quick", "--repeats", "2"]) in (0, None)
    out = capsys.readouterr().out
    assert "| chain100 |" in out and "| mlp3 |" in out


def test_conv_kernels_quick(capsys):
    pytest.importorskip("torch")
    main = runpy.run_path(str(BENCHMARKS / "conv_kernels.py"))["main"]
    assert main(["--quick", "--no-jit", "--repeats", "1", "--warmup", "1"]) in (0, None)
    out = capsys.readouterr().out
    assert "| im2col C=32 |" in out and "| disc train step |" in out
