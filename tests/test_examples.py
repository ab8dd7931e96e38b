import runpy
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name):
    sys.path.insert(0, str(EXAMPLES))
    try:
        return runpy.run_path(str(EXAMPLES / name))
    finally:
        sys.path.pop(0)


def test_tiny_example_learns():
    accuracy = load("train_tiny.py")["main"](["--steps", "300"])
    assert accuracy > 0.9


def test_mnist_gan_on_a_gpu_that_is_not_there_is_one_clear_error(tmp_path):
    import subprocess

    import pytest
    from conftest import gpu_available
    if gpu_available():
        pytest.skip("this machine has a GPU")
    result = subprocess.run([sys.executable, str(EXAMPLES / "mnist_gan.py"), "--device", "gpu",
                             "--epochs", "1", "--out", str(tmp_path / "run")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert "cpu" in result.stderr  # names the fix: use device 'cpu' (or install CuPy)
