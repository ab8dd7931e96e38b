"""Regenerate the figures in docs/figures/ from minigan's own code and the records of real runs.

    python docs/make_figures.py [--run docs/runs/default] [--out docs/figures] [--only NAME]

The training figures (the loss curves, the sample grids, the GIF, the collapse) are made from
the records in docs/runs/ (docs/record_run.py keeps a run's history, logged points and
fixed-noise frames there, with the command that made it): a fresh clone remakes every figure.
--run points the loss and GIF figures at another record or at a run folder of your own (its
history.csv and checkpoint.npz). Prints each file it writes, and one line for each figure it
skips (a run folder with no finished epoch). The lab's screenshots (SCREENSHOTS) are made by
tests/test_lab_browser.py, in a browser.
"""
import argparse
import csv
import math
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import minigan as mg
import minigan.functional as F
from minigan import build, gan, recipes, train, visualize
from minigan.config import TrainConfig
from minigan.functional.conv import conv_geometry
from minigan.graph_picture import draw_graph
from minigan.kernels.im2col import im2col

DOCS = Path(__file__).resolve().parent
RECORDS = DOCS / "runs"  # the real runs behind the training figures (docs/record_run.py)
# The pictures of docs/figures/ made elsewhere: screenshots of the lab in headless Chromium, which
# its browser test saves (MINIGAN_LAB_SCREENSHOTS=docs/figures python -m pytest
# tests/test_lab_browser.py).
SCREENSHOTS = ("lab_game.png", "lab_run.png")
DPI = 110
TRICKS = ("Pack", "MinibatchStd", "MinibatchDiscrimination")  # the recipe's GAN layers


class Skipped(Exception):
    """A figure that cannot be made from what is there; the message says why."""


def layer_table(layers, x):
    """Run x through `layers` in turn: [(repr, output shape, parameter count)] and the result."""
    rows = []
    for layer in layers:
        x = layer(x)
        rows.append((repr(layer), tuple(x.shape), sum(p.size for p in layer.parameters())))
    return rows, x


def architecture_tables(recipe="stable", n=4):
    """The real G and D of `recipe` on a batch of n: {panel title: rows}; a row with shape None
    is a heading (D's two Sequentials)."""
    mg.manual_seed(0)
    G, D = build.build_generator(recipe).eval(), build.build_discriminator(recipe).eval()
    with mg.no_grad():
        z = gan.sample_noise(n)
        g_rows, images = layer_table(G, z)
        f_rows, features = layer_table(D.features, images)
        h_rows, _ = layer_table(D.head, features)
    return {"generator G": [("noise z", tuple(z.shape), 0)] + g_rows,
            "discriminator D": [("images", tuple(images.shape), 0), ("D.features", None, 0)]
            + f_rows + [("D.head", None, 0)] + h_rows}


def architecture(path):
    """The default ('stable') recipe's generator and discriminator as layer stacks: each layer
    as print(model) shows it, the tensor shape after it (a batch of 4, by running the real
    modules minigan.build makes) and its parameter count."""
    tables = architecture_tables()
    fig, axes = plt.subplots(1, 2, figsize=(14, 6.2))
    for ax, (title, rows) in zip(axes, tables.items()):
        ax.set(xlim=(0, 1), ylim=(len(rows) + 0.2, -1.2))
        ax.axis("off")
        total = sum(r[2] for r in rows)
        ax.set_title(f"{title}: {total:,} parameters", fontsize=12, fontweight="bold")
        for x, text in ((0.02, "layer"), (0.70, "output shape"), (0.98, "parameters")):
            ax.text(x, -0.6, text, ha="right" if x > 0.9 else "left", fontsize=9, color="0.4")
        for k, (label, shape, count) in enumerate(rows):
            if shape is None:
                ax.text(0.0, k, label, va="center", fontsize=10, fontweight="bold")
                continue
            name = label.split("(")[0]
            colour = ("#f6d6a8" if name in TRICKS else "#c4dbf5" if count else
                      "white" if k == 0 else "#e9e9e9")
            ax.add_patch(plt.Rectangle((0, k - 0.42), 1, 0.84, facecolor=colour,
                                       edgecolor="#888888"))
            ax.text(0.02, k, label, va="center", family="monospace", fontsize=8.5)
            ax.text(0.70, k, str(shape), va="center", family="monospace", fontsize=8.5)
            ax.text(0.98, k, f"{count:,}" if count else "", va="center", ha="right",
                    family="monospace", fontsize=8.5)
    fig.text(0.5, 0.01, "blue: learned layers; orange: the stable recipe's GAN layers (Pack, "
             "minibatch std, minibatch discrimination); grey: no parameters.\nShapes: a batch of "
             "4 run through build.build_generator() and build.build_discriminator(), layer by "
             "layer.",
             ha="center", fontsize=9.5)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return save(fig, path)


def graph_sigmoid_dense(path):
    """draw_graph of the README's Quick start, y = F.sigmoid(F.dense(x, w)) with x (1, 3)
    requiring grad and w a Parameter, after y.sum().backward(retain_graph=True): each tensor's
    data, and the grads autograd stored in x and w (retain_graph keeps the graph to draw)."""
    x = mg.tensor([[1.0, -2.0, 3.0]], requires_grad=True)
    w = mg.nn.Parameter(mg.tensor([[0.5, 0.1, -0.3]]))
    y = F.sigmoid(F.dense(x, w))
    total = y.sum()
    total.backward(retain_graph=True)
    fig = draw_graph(total, names={"x": x, "w": w, "y": y, "y.sum()": total})
    fig.text(0.5, 0.04, "y = F.sigmoid(F.dense(x, w)); y.sum().backward(retain_graph=True)",
             ha="center", family="monospace", fontsize=11)
    return save(fig, path)


def im2col_example(size=5):
    """A size x size single-channel image (pixels 1, 2, ...), a 3x3 kernel, stride 1, padding
    "same" (one pixel of zeros all round): the image and minigan's im2col of it."""
    x = np.arange(1, size * size + 1, dtype=np.float32).reshape(1, 1, size, size)
    PT, PL, OH, OW = conv_geometry(size, size, 3, 3, 1, "same")
    return x[0, 0], im2col(x, 3, 3, 1, PT, PL, OH, OW), (PT, PL, OH, OW)  # cols (9, OH*OW)


def im2col_figure(path):
    """im2col on a 5x5 image with a 3x3 kernel and padding "same": two patches (one reaching
    into the zero padding) and the columns of minigan's cols matrix they become, in the same
    colours; the convolution is then one GEMM, W (OC, C*KH*KW) @ cols."""
    image, cols, (PT, PL, OH, OW) = im2col_example()
    patches = {(0, 0): "#e8862a", (2, 3): "#3a7dd8"}  # (oh, ow) -> colour
    padded = np.pad(image, ((PT, PT), (PL, PL)))
    fig, (ax_img, ax_cols) = plt.subplots(1, 2, figsize=(14, 5.2),
                                          gridspec_kw={"width_ratios": [1, 3.2]})
    for ax, values in ((ax_img, padded), (ax_cols, cols)):
        ax.set(xlim=(-0.5, values.shape[1] - 0.5), ylim=(values.shape[0] - 0.5, -0.5),
               aspect="equal", xticks=[], yticks=[])
        for (r, c), v in np.ndenumerate(values):
            ax.text(c, r, f"{v:.0f}", ha="center", va="center", fontsize=9,
                    color="0.55" if v == 0 else "black")
    ax_img.add_patch(plt.Rectangle((PL - 0.5, PT - 0.5), image.shape[1], image.shape[0],
                                   fill=False, lw=1.5))
    ax_img.set_title('x: a 5x5 image (pixels 1-25), one channel;\npadding "same" adds a ring '
                     'of zeros (grey)', fontsize=10)
    for k, ((oh, ow), colour) in enumerate(patches.items()):
        ax_img.add_patch(plt.Rectangle((ow - 0.45, oh - 0.45), 2.9, 2.9, fill=False, lw=3,
                                       edgecolor=colour))
        ax_img.text(0.5, -0.05 - 0.08 * k, f"patch of output pixel ({oh}, {ow}) = column "
                    f"{oh * OW + ow} of cols", transform=ax_img.transAxes,
                    ha="center", va="top", color=colour, fontsize=9, fontweight="bold")
        ax_cols.add_patch(plt.Rectangle((oh * OW + ow - 0.45, -0.45), 0.9, cols.shape[0] - 0.1,
                                        facecolor=colour, alpha=0.35))
    ax_cols.set_yticks(range(9), [f"c0 i{i} j{j}" for i in range(3) for j in range(3)],
                      fontsize=8)
    ax_cols.set_xticks(range(OH * OW), [f"{oh},{ow}" for oh in range(OH) for ow in range(OW)],
                       fontsize=7, rotation=90)
    ax_cols.set_xlabel("column (n·OH + oh)·OW + ow, labelled oh,ow (n = 0: one image)")
    ax_cols.set_title("cols = kernels.im2col.im2col(x, 3, 3, 1, 1, 1, 5, 5): "
                      "(C·KH·KW, N·OH·OW) = (9, 25); row (c, i, j) holds x[c, oh+i-1, ow+j-1]",
                      fontsize=10)
    fig.text(0.5, 0.03, "conv2d = one GEMM:  W.reshape(OC, C·KH·KW) @ cols  =  (OC, 9) @ (9, 25)"
             "  ->  (OC, N·OH·OW), reshaped to (N, OC, OH, OW).  Each output pixel is a row of W "
             "times one column.", ha="center", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return save(fig, path)


def nonsaturating(path):
    """Why G maximises log D(G(z)). With D = sigmoid(a), a = D's logit on a fake:
    saturating loss      log(1 - D):  d/da = -D        (vanishes as D -> 0),
    non-saturating loss  -log D:      d/da = -(1 - D)  (largest as D -> 0).
    Early in training D confidently rejects the fakes (D(G(z)) near 0): there the saturating
    loss gives G almost no gradient; the non-saturating one gives nearly the most it can."""
    d = np.linspace(0.0, 1.0, 501)
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.axvspan(0, 0.1, color="#f3c6c6", alpha=0.6)
    ax.text(0.012, 0.55, "D confidently\nrejects the fakes\n(where training\nstarts)", fontsize=9)
    ax.plot(d, d, lw=2.5, label="saturating: G minimises log(1 - D),  |d/da| = D")
    ax.plot(d, 1 - d, lw=2.5, label="non-saturating: G minimises -log D,  |d/da| = 1 - D")
    for value, colour in ((0.02, "C0"), (0.98, "C1")):
        ax.plot([0.02], [value], "o", color=colour)
    ax.annotate("at D(G(z)) = 0.02: the saturating loss passes back 0.02,\n"
                "the non-saturating one 0.98, 49 times more", xy=(0.025, 0.025),
                xytext=(0.3, 0.07), fontsize=9, arrowprops=dict(arrowstyle="->"))
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="D(G(z)) = sigmoid(a), a = D's logit on a fake",
           ylabel="|gradient of G's loss w.r.t. a|",
           title="The generator's loss: gradient reaching D's logit")
    ax.legend(loc="upper center", fontsize=9)
    fig.tight_layout()
    return save(fig, path)


def read_history(run):
    """history.csv of a run folder as {column: list}, numbers as floats (blank: NaN)."""
    path = Path(run) / "history.csv"
    if not path.is_file():
        raise Skipped(f"no {path} (the run has not finished an epoch, or --run is wrong)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise Skipped(f"{path} has no rows yet")
    keys = [k for k in rows[0] if k != "warning"]
    return {k: [float(row[k]) if row[k] else math.nan for row in rows] for k in keys}


def loss_notes(h, recipe):
    """How to read the curves, for the stable recipe, quoting the run's own epoch means."""
    first, last = {k: v[0] for k, v in h.items()}, {k: v[-1] for k, v in h.items()}
    n = f"{last['epoch']:.0f}"
    rise = f", {last['loss_g']:.2f} in epoch {n}" if len(h["epoch"]) > 1 else ""
    notes = [f"G loss: {first['loss_g']:.2f} in epoch {first['epoch']:.0f}{rise}. It "
             f"is -log D(G(z)) plus feature matching (weight {recipe.feature_matching:g}); -log "
             f"of the mean D(G(z)), {last['d_fake']:.3f}, is {-math.log(last['d_fake']):.2f}. A "
             "G loss that climbs while D wins says how sure D is, not that the samples got worse.",
             f"Epoch {n}: D(G(z)) = {last['d_fake']:.3f}, D(x) = {last['d_real']:.3f}. Minibatch "
             f"discrimination ({recipe.minibatch_kernels} kernels) lets D spot a batch whose "
             "samples crowd together, so D rejects nearly every fake: a low D(G(z)) is this "
             f"recipe's normal state. D aims at {recipe.real_label} for real images, not 1 "
             "(one-sided label smoothing)."]
    scores = [(e, f, d) for e, f, d in zip(h["epoch"], h.get("fid", []), h.get("digits", []))
              if not math.isnan(f)]  # epochs the run scored (--eval-every)
    if scores:
        (e0, fid0, _), (e1, fid1, digits) = scores[0], scores[-1]
        better = fid1 < fid0 and last["loss_g"] > first["loss_g"]
        notes.append(f"FID {fid0:.1f} after epoch {e0:.0f}, {fid1:.1f} after epoch {e1:.0f}"
                     + (": the samples improved while the G loss rose. " if better else ". ")
                     + f"Digits with at least 5% of the samples: {digits:.0f} of 10.")
    return [textwrap.fill(note, 62) for note in notes]


def logged_points(run):
    """The means logged every --log-every steps ({iteration, loss_d, loss_g, d_real, d_fake}),
    from a record's points.csv or a run's checkpoint.npz; None when there are neither."""
    path = Path(run) / "points.csv"
    if path.is_file():
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        return {k: [float(row[k]) for row in rows] for k in rows[0]} if rows else None
    path = Path(run) / "checkpoint.npz"
    return train.load_checkpoint(path)["points"] if path.is_file() else None


def frames(run):
    """The fixed-noise grids of a run's sampled epochs, {epoch: uint8 grid}, from a record's
    frames.npz or a run's checkpoint.npz."""
    path = Path(run) / "frames.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as saved:
            return dict(zip(saved["epochs"].tolist(), saved["frames"]))
    if not (Path(run) / "checkpoint.npz").is_file():
        raise Skipped(f"no {path} or checkpoint.npz in {run} (no epoch finished, or --run "
                      "is wrong)")
    saved = train.load_checkpoint(Path(run) / "checkpoint.npz")
    config = TrainConfig(**saved["config"])
    epochs = [e for e in range(1, saved["epoch"] + 1) if config.samples_after(e)]
    return dict(zip(epochs, saved["frames"]))


def score_at(h, epoch):
    """' (FID f, d digits)' from history columns h at `epoch`, or '' when it was not scored."""
    row = h["epoch"].index(epoch)
    if "fid" not in h or math.isnan(h["fid"][row]):
        return ""
    return f"FID {h['fid'][row]:.1f}, {h['digits'][row]:.0f} of 10 digits with >= 5%"


def losses_annotated(path, run):
    """A run's per-epoch means from history.csv against iterations (generator steps): the D and
    G losses, D(x) and D(G(z)), and FID and digits when the run scored them, with notes on how
    to read them for the stable recipe, quoting the run's own numbers."""
    h, recipe = read_history(run), recipes.RECIPES["stable"]
    steps, notes = h["g_steps"], loss_notes(h, recipe)
    fig, axes = plt.subplots(1, len(notes), figsize=(5.6 * len(notes), 6.2))
    axes[0].plot(steps, h["loss_d"], "o-", label="D loss")
    axes[0].plot(steps, h["loss_g"], "o-", label="G loss")
    axes[0].set(ylabel="loss (epoch mean)", ylim=(0, None))
    axes[1].plot(steps, h["d_real"], "o-", color="C2", label="D(x), real")
    axes[1].plot(steps, h["d_fake"], "o-", color="C3", label="D(G(z)), fake")
    axes[1].axhline(recipe.real_label, ls=":", color="0.5", label="real label (smoothed)")
    axes[1].set(ylabel="D's mean output (epoch mean)", ylim=(0, 1))
    points = logged_points(run)
    if points:  # the finer curve under the epoch means, as losses.png draws it
        for ax, key, colour in ((axes[0], "loss_d", "C0"), (axes[0], "loss_g", "C1"),
                                (axes[1], "d_real", "C2"), (axes[1], "d_fake", "C3")):
            ax.plot(points["iteration"], points[key], color=colour, lw=0.7, alpha=0.5)
    handles = [None, None]
    if len(notes) == 3:
        line = axes[2].plot(steps, h["fid"], "o-", color="C4", label="FID")
        axes[2].set(ylabel="FID (LeNet features; lower is better)", ylim=(0, None))
        twin = axes[2].twinx()
        line += twin.plot(steps, h["digits"], "s--", color="C5", label="digits with >= 5%")
        twin.set(ylim=(0, 10.5), ylabel="digits covered")
        handles.append(line)
    for ax, note, lines in zip(axes, notes, handles):
        ax.set(xlabel="iteration (generator step); a point per epoch"
               + (", thin: every --log-every steps" if points else ""),
               xlim=(0, max(steps) * 1.05))
        ax.legend(handles=lines, loc="center right", fontsize=9)
        ax.text(0, -0.14, note, transform=ax.transAxes, va="top", fontsize=9).set_in_layout(False)
    fig.suptitle(f"{Path(run).name}: epoch means from history.csv (stable recipe)"
                 + (", and the logged points (points.csv or checkpoint.npz)" if points else ""))
    fig.tight_layout(rect=(0, 0.2, 1, 1))
    return save(fig, path)


def collapse_vs_stable(path, stable=RECORDS / "default", original=RECORDS / "original"):
    """Like for like: the original recipe and the default recipe after the same first epoch
    (each run's fixed noise, seed 0), and the default recipe at its last epoch; each titled with
    its run's own FID and digit count."""
    first = frames(original)[1], frames(stable)[1]
    last_epoch, last = max(frames(stable).items())
    h_original, h_stable = read_history(original), read_history(stable)
    panels = ((first[0], f"original recipe, epoch 1:\n{score_at(h_original, 1)}"),
              (first[1], f"default recipe ('stable'), epoch 1:\n{score_at(h_stable, 1)}"),
              (last, f"default recipe, epoch {last_epoch}:\n{score_at(h_stable, last_epoch)}"))
    fig, axes = plt.subplots(1, 3, figsize=(14, 5.4))
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.88, wspace=0.04)
    for ax, (grid, title) in zip(axes, panels):
        ax.imshow(grid, cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    return save(fig, path)


def training_gif(path, run):
    """The fixed-noise grid of each sampled epoch of the run, one GIF frame each."""
    visualize.save_gif(path, list(frames(run).values()))
    return path


def grid_at(path, run, epoch=None):
    """The run's fixed-noise grid after `epoch` (default: its last sampled epoch), as the run
    wrote it (8 x 8 samples, each pixel drawn 3 x 3)."""
    grids = frames(run)
    visualize.save_picture(path, grids[max(grids) if epoch is None else epoch])
    return path


def curves(path, run):
    """The run's losses.png: its logged points, with FID and digits per scored epoch."""
    h, points = read_history(run), logged_points(run)
    if points is None:
        raise Skipped(f"no points.csv or checkpoint.npz in {run}")
    scores = [{"epoch": e, "fid": f, "digits": d}
              for e, f, d in zip(h["epoch"], h.get("fid", []), h.get("digits", []))
              if not math.isnan(f)]
    visualize.save_curves(path, points, f"{Path(run).name}: the logged points", scores=scores)
    return path


def save(fig, path):
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=RECORDS / "default",
                        help="record or run folder for the losses and the GIF (default: "
                             "docs/runs/default, the default recipe's 10-epoch run)")
    parser.add_argument("--out", type=Path, default=DOCS / "figures",
                        help="where the figures go (default: docs/figures)")
    parser.add_argument("--only", metavar="NAME", action="append",
                        help="make only this figure (a file name such as graph_sigmoid_dense.png; "
                             "repeat for more); default: all")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    figures = {"architecture.png": architecture, "graph_sigmoid_dense.png": graph_sigmoid_dense,
               "im2col.png": im2col_figure, "nonsaturating.png": nonsaturating,
               "losses_annotated.png": lambda path: losses_annotated(path, args.run),
               "losses_default_epoch10.png": lambda path: curves(path, RECORDS / "default"),
               "grid_default_epoch10.png": lambda path: grid_at(path, RECORDS / "default"),
               "grid_original_epoch1.png": lambda path: grid_at(path, RECORDS / "original", 1),
               "collapse_vs_stable.png": collapse_vs_stable,
               "training.gif": lambda path: training_gif(path, args.run)}
    unknown = sorted(set(args.only or []) - set(figures))
    if unknown:
        parser.error(f"--only: no figure named {', '.join(unknown)}; the figures: "
                     f"{', '.join(figures)}")
    for name, make in figures.items():
        if args.only and name not in args.only:
            continue
        try:
            written.append(Path(make(args.out / name)))
            print(f"wrote {written[-1]}")
        except Skipped as why:
            print(f"skipped {name}: {why}")
    return written


if __name__ == "__main__":
    main()
