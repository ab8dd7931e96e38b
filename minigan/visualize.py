"""Pictures of training: sample grids (PNG), the grids over time (GIF), loss curves (PNG).
Each is written whole (checkpoint.save_atomic: a temporary file renamed over the name, so a full
disk leaves no partial picture and a symbolic link at the name is replaced, not followed).
The picture of an autograd graph, draw_graph, lives in minigan.graph_picture."""
import numpy as np

from minigan import checkpoint


def grid(images, rows, cols, pad=2):
    """images (n, 784) or (n, 28, 28) in [-1, 1] -> one uint8 image of rows x cols digits."""
    images = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28)[:rows * cols]
    canvas = np.zeros((rows * (28 + pad) + pad, cols * (28 + pad) + pad), dtype=np.uint8)
    pixels = np.clip((images + 1) * 127.5, 0, 255).round().astype(np.uint8)
    for k, image in enumerate(pixels):
        r, c = divmod(k, cols)
        canvas[pad + r * (28 + pad):pad + r * (28 + pad) + 28,
               pad + c * (28 + pad):pad + c * (28 + pad) + 28] = image
    return canvas


def cells(picture, rows, cols, pad=2):
    """The inverse of grid: a uint8 grid of rows x cols digits -> the images (rows * cols, 28,
    28) in [-1, 1], to within grid's rounding (half a grey level)."""
    return np.stack([picture[pad + r * (28 + pad):pad + r * (28 + pad) + 28,
                             pad + c * (28 + pad):pad + c * (28 + pad) + 28]
                     for r in range(rows) for c in range(cols)]).astype(np.float32) / 127.5 - 1


def save_grid(path, images, rows, cols, scale=3):
    """Write a grid as a PNG, each pixel drawn as scale x scale."""
    save_picture(path, grid(images, rows, cols), scale)


def save_picture(path, picture, scale=3):
    """Write a uint8 picture (a grid) as a PNG, each pixel drawn as scale x scale."""
    from PIL import Image
    image = Image.fromarray(picture).resize((picture.shape[1] * scale, picture.shape[0] * scale),
                                            Image.NEAREST)
    checkpoint.save_atomic(path, lambda f: image.save(f, format="PNG"))


def save_gif(path, grids, scale=3, milliseconds=400):
    """Write uint8 grids (all one size) as an animated GIF, one frame per grid."""
    from PIL import Image
    if not grids:
        return
    frames = [Image.fromarray(g).resize((g.shape[1] * scale, g.shape[0] * scale), Image.NEAREST)
              for g in grids]
    checkpoint.save_atomic(path, lambda f: frames[0].save(
        f, format="GIF", save_all=True, append_images=frames[1:], duration=milliseconds, loop=0))


def save_curves(path, history, title="", scores=()):
    """Loss and D-output curves from the logged points: a dict of equal-length lists with keys
    iteration, loss_d, loss_g, d_real, d_fake; with `scores` (history rows that have "epoch",
    "fid" and "digits"), a third panel with the FID and the digits covered per epoch."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 3 if scores else 2, figsize=(16 if scores else 11, 4))
    ax_loss, ax_d = axes[0], axes[1]
    it = history["iteration"]
    ax_loss.plot(it, history["loss_d"], label="D loss")
    ax_loss.plot(it, history["loss_g"], label="G loss")
    ax_loss.set_xlabel("generator step")
    ax_loss.set_ylabel("binary cross-entropy")
    ax_loss.legend()
    ax_d.plot(it, history["d_real"], label="D(x), real")
    ax_d.plot(it, history["d_fake"], label="D(G(z)), fake")
    ax_d.set_ylim(0, 1)
    ax_d.set_xlabel("generator step")
    ax_d.legend()
    if scores:
        epochs = [row["epoch"] for row in scores]
        axes[2].plot(epochs, [row["fid"] for row in scores], "o-", label="FID (classifier)")
        axes[2].set_xlabel("epoch")
        axes[2].set_ylabel("FID")
        twin = axes[2].twinx()
        twin.plot(epochs, [row["digits"] for row in scores], "s--", color="C2",
                  label="digits covered")
        twin.set_ylim(0, 10.5)
        twin.set_ylabel("digits with >= 5% of samples")
        axes[2].xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        lines = axes[2].get_lines() + twin.get_lines()
        axes[2].legend(lines, [line.get_label() for line in lines], loc="lower left")
    fig.suptitle(title)
    fig.tight_layout()
    try:  # savefig: the original's fig.save does not exist
        checkpoint.save_atomic(path, lambda f: fig.savefig(f, format="png", dpi=90))
    finally:
        plt.close(fig)
