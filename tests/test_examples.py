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
