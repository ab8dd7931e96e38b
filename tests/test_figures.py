"""graph_picture: the graph it finds, the picture, its errors; docs/make_figures.py's figures."""
import importlib.util
import json
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

import minigan as mg
import minigan.functional as F
from minigan.graph_picture import draw_graph, graph_nodes, summary
from minigan.run_writer import RunWriter

ROOT = Path(__file__).resolve().parent.parent


def load_make_figures():
    spec = importlib.util.spec_from_file_location("make_figures", ROOT / "docs" / "make_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_png(path):
    assert path.stat().st_size > 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.verify()


def sigmoid_dense():
    x = mg.tensor([[1.0, -2.0, 3.0]])                       # a constant: no requires_grad
    w = mg.nn.Parameter(mg.tensor([[0.5, 0.1, -0.3]]))
    return F.sigmoid(F.dense(x, w)), x, w


def first_line(node):
    return node.label.split("\n")[0]


def test_graph_nodes_of_sigmoid_dense():
    y, x, w = sigmoid_dense()
    nodes, edges = graph_nodes(y, names={"x": x, "w": w})
    assert len(nodes) == 6 and len(edges) == 5              # x, w, Dense, h, Sigmoid, y
    functions = sorted((n for n in nodes if n.kind == "function"), key=lambda n: n.column)
    assert [n.label for n in functions] == ["Dense", "Sigmoid"]
    assert {first_line(n): n.role for n in nodes if n.kind == "leaf"} == \
        {"x": "constant", "w": "Parameter"}
    flow = {(first_line(nodes[e.source]), first_line(nodes[e.target])) for e in edges}
    assert flow == {("x", "Dense"), ("w", "Dense"), ("Dense", "shape (1, 1)"),
                    ("shape (1, 1)", "Sigmoid"), ("Sigmoid", "output")}
    assert all(nodes[e.source].column < nodes[e.target].column for e in edges)  # data flows right
    assert [first_line(n) for n in nodes if n.kind == "leaf"] == ["x", "w"]


def test_graph_nodes_default_names_twice_used_input_and_long_edges():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    nodes, edges = graph_nodes((a * a + a.exp()).sum())
    assert [first_line(n) for n in nodes if n.kind == "leaf"] == ["x0"]
    mul = next(i for i, n in enumerate(nodes) if n.label == "Mul")
    sources = [e.source for e in edges if e.target == mul]  # a * a: one edge per operand
    assert len(sources) == 2 and sources[0] == sources[1] and nodes[sources[0]].kind == "leaf"
    for e in edges:                                          # one waypoint per column crossed
        assert len(e.via) == nodes[e.target].column - nodes[e.source].column - 1


def test_draw_graph_writes_a_png(tmp_path):
    y, x, w = sigmoid_dense()
    fig = draw_graph(y, tmp_path / "graph.png", names={"x": x, "w": w})
    assert_png(tmp_path / "graph.png")
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"Dense", "Sigmoid"} <= texts
    plt.close(fig)


def test_summary_prints_small_arrays_and_summarises_large_ones():
    assert summary(np.float32(0.35434368)) == "0.354"
    assert summary(np.array([[1.0, -2.0, 3.0]], np.float32)) == "[1 -2 3]"
    assert summary(np.arange(6, dtype=np.float32)) == "mean 2.5 (0..5)"


def test_draw_graph_labels_data_and_after_backward_grads():
    x = mg.tensor([[1.0, -2.0, 3.0]], requires_grad=True)     # the README's Quick start
    w = mg.nn.Parameter(mg.tensor([[0.5, 0.1, -0.3]]))
    y = F.sigmoid(F.dense(x, w))
    names = {"x": x, "w": w, "y": y}
    labels = {first_line(n): n.label for n in graph_nodes(y, names)[0] if n.kind != "function"}
    assert labels["x"].endswith("data [1 -2 3]") and "\ngrad" not in labels["x"]  # no backward yet
    y.sum().backward(retain_graph=True)
    labels = {first_line(n): n.label for n in graph_nodes(y, names)[0] if n.kind != "function"}
    assert labels["x"].endswith(f"grad {summary(x.grad.numpy())}")
    assert labels["w"].endswith(f"grad {summary(w.grad.numpy())}")
    assert labels["y"].endswith(f"data {summary(y.numpy())}")     # not a leaf: no grad kept
    assert labels["shape (1, 1)"] == f"shape (1, 1)\ndata {summary(y._ctx.inputs[0].numpy())}"
    # the values drawn are the values computed: y = sigmoid(x @ w.T) = sigmoid(-0.6)
    assert labels["y"].endswith(f"data [{1 / (1 + np.exp(0.6)):.3g}]")
    fig = draw_graph(y, names=names)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert labels["w"] in texts and "Parameter" in labels["w"]
    plt.close(fig)


def test_draw_graph_after_backward_raises_one_line():
    y, _, _ = sigmoid_dense()
    loss = y.sum()
    loss.backward()
    with pytest.raises(ValueError, match="freed by backward") as error:
        draw_graph(loss)
    assert "\n" not in str(error.value) and "retain_graph=True" in str(error.value)
    kept = sigmoid_dense()[0].sum()
    kept.backward(retain_graph=True)
    plt.close(draw_graph(kept))                              # a retained graph still draws


def test_draw_graph_without_a_graph():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    with mg.no_grad():
        b = a * 2
    with pytest.raises(ValueError, match="no recorded graph"):
        draw_graph(b)
    nodes, edges = graph_nodes(a)                            # a lone leaf: one box
    assert len(nodes) == 1 and edges == [] and nodes[0].role == "requires_grad"


MADE = ["architecture.png", "collapse_vs_stable.png", "graph_sigmoid_dense.png",
        "grid_default_epoch10.png", "grid_original_epoch1.png", "im2col.png",
        "losses_annotated.png", "losses_default_epoch10.png", "nonsaturating.png", "training.gif"]
SHOWN = re.compile(r"""(?:\]\(|src=["'])([^)"' ]+\.(?:png|gif))""")  # Markdown/HTML pictures


def test_make_figures_remakes_every_figure_from_the_records_in_the_repository(tmp_path):
    """No run folder needed: every figure, the loss curves and the GIF included, is made from
    the code and the records in docs/runs/, and each is a picture."""
    written = load_make_figures().main(["--out", str(tmp_path)])
    assert sorted(p.name for p in written) == MADE
    for path in written:
        if path.suffix == ".png":
            assert_png(path)
    with Image.open(tmp_path / "training.gif") as gif:   # one frame per epoch of the record
        assert gif.n_frames == len(load_make_figures().frames(ROOT / "docs" / "runs" / "default"))


def test_every_picture_the_docs_show_is_made_by_make_figures():
    """Each picture README.md and docs/*.md show from docs/ is in docs/figures/ and is one
    make_figures.py makes, or one of the lab's screenshots its browser test saves
    (make_figures.SCREENSHOTS); no picture lies in docs/ that neither makes."""
    screenshots = load_make_figures().SCREENSHOTS
    browser_test = (ROOT / "tests" / "test_lab_browser.py").read_text()
    assert all(f'"{name}"' in browser_test for name in screenshots)
    shown = set()
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in SHOWN.findall(page.read_text()):
            path = (page.parent / target).resolve()
            if (ROOT / "docs") in path.parents:
                assert path.is_file(), f"{page.name} shows {target}, which is not there"
                shown.add(path.relative_to(ROOT / "docs" / "figures").as_posix())
    made = set(MADE) | set(screenshots)
    assert shown <= made, f"shown but not made: {sorted(shown - made)}"
    lying = {p.relative_to(ROOT / "docs").as_posix() for suffix in ("png", "gif")
             for p in (ROOT / "docs").rglob(f"*.{suffix}")}
    assert lying == {f"figures/{name}" for name in made}


def test_make_figures_skips_the_run_figures_of_a_missing_run(tmp_path, capsys):
    written = load_make_figures().main(["--out", str(tmp_path), "--run", str(tmp_path / "none")])
    assert sorted(p.name for p in written) == sorted(set(MADE) - {"losses_annotated.png",
                                                                  "training.gif"})
    out = capsys.readouterr().out
    assert "skipped losses_annotated.png" in out and "skipped training.gif" in out


def test_make_figures_from_a_record(tmp_path):
    """A record (docs/record_run.py's history.csv, points.csv, frames.npz) makes the curves,
    the grids and the GIF, each frame the record's own."""
    run = tmp_path / "run"
    writer = RunWriter(run, 8)
    writer.prepare()
    epochs = [{"epoch": e, "g_steps": 937 * e, "seconds": 360.0, "loss_d": 0.5, "loss_g": 3 + e,
               "d_real": 0.8, "d_fake": 0.03 / e} for e in (1, 2)]
    epochs[1].update(fid=20.0, digits=10, kl_uniform=0.02, confidence=0.9)  # scored: epoch 2
    points = {"iteration": [937, 1874], "loss_d": [0.5, 0.5], "loss_g": [4.0, 5.0],
              "d_real": [0.8, 0.8], "d_fake": [0.03, 0.015]}
    writer.history(epochs, points, "tiny")                  # history.csv as a run writes it
    (run / "points.csv").write_text("iteration,loss_d,loss_g,d_real,d_fake\n"
                                    "937,0.5,4.0,0.8,0.03\n1874,0.5,5.0,0.8,0.015\n")
    grids = np.stack([np.full((8, 8), 10, np.uint8), np.full((8, 8), 200, np.uint8)])
    np.savez(run / "frames.npz", frames=grids, epochs=np.array([1, 2]))
    figures = load_make_figures()
    assert figures.logged_points(run) == points
    assert_png(figures.losses_annotated(tmp_path / "losses.png", run))
    assert_png(figures.curves(tmp_path / "curves.png", run))
    with Image.open(figures.grid_at(tmp_path / "grid.png", run)) as grid:   # the last epoch
        assert grid.size == (24, 24) and set(np.asarray(grid).ravel()) == {200}
    assert figures.training_gif(tmp_path / "training.gif", run).read_bytes()[:3] == b"GIF"


def test_an_unfinished_run_gives_its_curves_and_gif_from_the_checkpoint(tmp_path):
    """A run still training has checkpoint.npz but no progress.gif: the GIF is made from the
    checkpoint's frames, and the annotated plot draws the checkpoint's logged points."""
    from conftest import quiet, tiny_images
    from minigan import train
    config = train.TrainConfig(epochs=2, batch_size=8, out=str(tmp_path / "run"), log_every=2,
                               seed=3, recipe="original")              # the small D: a quick run
    train.Trainer(config, tiny_images(), log=quiet).train()
    (tmp_path / "run" / "progress.gif").unlink()
    figures = load_make_figures()
    points = figures.logged_points(tmp_path / "run")
    assert len(points["iteration"]) == len(points["loss_g"]) > 2
    gif = figures.training_gif(tmp_path / "training.gif", tmp_path / "run")
    from PIL import Image
    with Image.open(gif) as picture:
        assert picture.format == "GIF" and picture.n_frames == 2    # one frame per epoch
    assert_png(figures.losses_annotated(tmp_path / "losses.png", tmp_path / "run"))


def test_make_figures_only_the_graph(tmp_path, capsys):
    figures = load_make_figures()
    written = figures.main(["--out", str(tmp_path), "--only", "graph_sigmoid_dense.png"])
    assert [p.name for p in written] == ["graph_sigmoid_dense.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["graph_sigmoid_dense.png"]
    assert_png(written[0])
    with pytest.raises(SystemExit):
        figures.main(["--out", str(tmp_path), "--only", "no_such_figure.png"])
    assert "no figure named no_such_figure.png" in capsys.readouterr().err


def test_cells_cuts_the_images_back_out_of_a_grid():
    """visualize.cells inverts visualize.grid (how docs/measure_stray_pixels.py reads a run's
    frames), up to grid's uint8 rounding (half a grey level: 1/255 in [-1, 1])."""
    from minigan import visualize
    images = np.random.default_rng(0).uniform(-1, 1, (64, 28, 28)).astype(np.float32)
    back = visualize.cells(visualize.grid(images, 8, 8), 8, 8)
    assert back.shape == (64, 28, 28) and back.dtype == np.float32
    assert np.abs(back - images).max() <= 1 / 255 + 1e-6


def test_a_recorded_run_gives_the_figures_its_run_folder_gives(tmp_path, monkeypatch):
    """docs/record_run.py keeps the history, the logged points and every sampled epoch's frame
    of a run (here 3 epochs sampled every 2: after epochs 2 and 3), with its provenance; the
    record then stands in for the run folder."""
    from conftest import quiet, tiny_images
    from minigan import train
    config = train.TrainConfig(epochs=3, batch_size=8, out=str(tmp_path / "run"), log_every=2,
                               seed=3, recipe="original", sample_every=2)
    train.Trainer(config, tiny_images(), log=quiet).train()
    monkeypatch.syspath_prepend(str(ROOT / "docs"))
    spec = importlib.util.spec_from_file_location("record_run", ROOT / "docs" / "record_run.py")
    record_run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(record_run)
    out = record_run.record(tmp_path / "run", tmp_path / "record", "python x.py", "a VM", "abc1234")
    figures = load_make_figures()
    from_run, from_record = figures.frames(tmp_path / "run"), figures.frames(out)
    assert list(from_run) == list(from_record) == [2, 3]
    assert all(np.array_equal(from_run[e], from_record[e]) for e in from_run)
    points = figures.logged_points(tmp_path / "run")
    assert figures.logged_points(out) == pytest.approx(points)
    document = json.loads((out / "run.json").read_text())
    assert (document["command"], document["machine"], document["commit"]) == (
        "python x.py", "a VM", "abc1234")
    assert (document["epochs"], document["planned_epochs"]) == (3, 3)
