"""Every notebook in notebooks/ runs from top to bottom, as committed, within the two minutes a
learner on 2 CPU cores should wait; and each is committed with its outputs, so it reads on GitHub
without running."""
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
LIMIT_S = 120


def test_the_five_notebooks_are_there():
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_within_its_time(path):
    committed = nbformat.read(path, as_version=4)
    code = [cell for cell in committed.cells if cell.cell_type == "code"]
    outputs = [output for cell in code for output in cell.outputs]
    assert outputs and code[-1].outputs, f"{path.name} is committed without its outputs"
    assert not [o for o in outputs if o.output_type == "error"], f"{path.name} holds an error"
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    nbclient.NotebookClient(notebook, timeout=LIMIT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    assert seconds < LIMIT_S, f"{path.name} took {seconds:.0f} s (the limit is {LIMIT_S} s)"
