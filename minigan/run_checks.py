"""What a run is given, checked before it trains (minigan.train calls these): the training
images (an array of the right shape, every pixel), their labels, the batch size against the
images, the ranks, the packs and the recipe's batch statistics, and a checkpoint's data-parallel
settings against the processes that resume it. Each refusal is one ValueError
that names the fix in the command line's words.
"""
import numpy as np

from minigan import conditional, distributed, gan


def check_pixels(images):
    """Every pixel finite and in [-1, 1] (two passes over the array: its min and its max)."""
    low, high = images.min(), images.max()
    if not (np.isfinite(low) and np.isfinite(high)):
        row, column = np.argwhere(~np.isfinite(images))[0]
        raise ValueError(f"images must be finite, but image {row} holds "
                         f"{images[row, column]}: check how they were read or scaled "
                         "(data.load_mnist gives float32 in [-1, 1])")
    if low < -1 or high > 1:
        raise ValueError(f"images must lie in [-1, 1], the range of the generator's tanh, but "
                         f"they run from {low:g} to {high:g}: scale them (0-255 pixels: "
                         "images / 127.5 - 1)")


def statistics_layers(module, prefix):
    """(name, layer) of each layer of `module` that takes statistics over its batch's rows
    (BatchNorm, minibatch std, minibatch discrimination), in order."""
    if isinstance(module, tuple(distributed.layers.STATISTICS)):
        yield prefix, module
    for name, child in module.named_children():
        yield from statistics_layers(child, f"{prefix}.{name}")


def check_batch_statistics(G, D, config, recipe, comm):
    """A batch with at least 2 rows at each layer that takes statistics over the batch (the
    statistics of one row are its own: a variance of 0). D's rows are packs of recipe.pack
    images; with per-process statistics (comm.sync_statistics False) each process's share."""
    local = comm is not None and not comm.sync_statistics
    processes = comm.size if local else 1
    for net, pack in ((G, 1), (D, recipe.pack)):
        layers = list(statistics_layers(net, "G" if net is G else "D"))
        rows = config.batch_size // processes // pack
        if layers and rows < 2:
            name, layer = layers[0]
            here = [f"{rows} here"] + ([f"packs of {pack} images"] if pack > 1 else []) + \
                ([f"each of the {processes} processes takes its own, --local-statistics"]
                 if local else [])
            raise ValueError(f"batch size {config.batch_size} is too small for recipe "
                             f"{recipe.name}: {name} ({type(layer).__name__}) takes statistics "
                             f"over the rows of a batch ({'; '.join(here)}) and needs at least "
                             f"2; use --batch-size {2 * processes * pack} or more")


def data_parallel_settings(saved):
    """A checkpoint's data-parallel settings (Trainer.data_parallel); those of a checkpoint
    written before they were saved read as statistics over the global batch."""
    if saved is None:
        return {"processes": 1, "local_statistics": False}
    if not isinstance(saved, dict) or set(saved) != {"processes", "local_statistics"} or \
            isinstance(saved["processes"], bool) or not isinstance(saved["processes"], int) or \
            saved["processes"] < 1 or not isinstance(saved["local_statistics"], bool):
        raise ValueError("data_parallel must be {'processes': a whole number >= 1, "
                         "'local_statistics': true or false}")
    return saved


def check_data_parallel(state, comm, where):
    """A run resumed with the batch statistics it was trained with: per process
    (--local-statistics) only over as many processes as before, else over the global batch."""
    saved = data_parallel_settings(state.get("data_parallel"))
    local = comm is not None and not comm.sync_statistics
    processes = saved["processes"]
    if saved["local_statistics"] and (not local or comm.size != processes):
        raise ValueError(f"{where} was trained with --local-statistics over {processes} "
                         "processes (batch statistics per process): a resumed run keeps its "
                         f"own; resume it with mpiexec -n {processes} and --distributed "
                         "--local-statistics, or start a new run")
    if local and not saved["local_statistics"]:
        raise ValueError(f"--local-statistics conflicts with {where}, which was trained with "
                         "batch statistics over the global batch: a resumed run keeps its "
                         "own; leave --local-statistics out, or start a new run")


def check_labels(labels, images, recipe):
    """A conditional recipe's labels: one digit 0-9 per training image."""
    if not recipe.conditional:
        return None
    if labels is None:
        raise ValueError(f"recipe {recipe.name} is conditional: give the training labels (the "
                         "second array data.load_mnist returns)")
    if not isinstance(labels, np.ndarray) or labels.shape != (len(images),) or \
            labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be an integer NumPy array ({len(images)},), one digit per "
                         "image, as data.load_mnist returns")
    if labels.size and (labels.min() < 0 or labels.max() >= conditional.DIGITS):
        raise ValueError(f"labels must be digits 0-{conditional.DIGITS - 1}, got values from "
                         f"{labels.min()} to {labels.max()}")
    return labels


def check_ranks(comm, config, recipe):
    """The global batch must split evenly over the ranks, and each rank's share into packs."""
    if config.batch_size % comm.size:
        raise ValueError(f"batch size {config.batch_size} cannot be split over {comm.size} "
                         f"processes: use a batch size divisible by {comm.size} (each process "
                         "takes batch size / processes images of every batch)")
    if (config.batch_size // comm.size) % recipe.pack:
        raise ValueError(f"each of the {comm.size} processes takes "
                         f"{config.batch_size // comm.size} images per batch, not a multiple "
                         f"of the recipe's pack ({recipe.pack}): use a batch size divisible by "
                         f"{comm.size * recipe.pack}")


def check_images(images, config, recipe):
    """The training images as the trainer needs them, and a batch size that fits them. Their
    values are checked once, all of them, before anything trains: finite, and in [-1, 1], the
    range of the generator's tanh (D must not tell real from fake by the range alone)."""
    if not isinstance(images, np.ndarray) or images.ndim != 2 or \
            images.shape[1] != gan.IMAGE_SIZE or images.dtype != np.float32:
        raise ValueError("images must be a float32 NumPy array (N, 784) in [-1, 1], as "
                         "data.load_mnist returns")
    if config.batch_size > len(images):
        raise ValueError(f"batch size {config.batch_size} is larger than the {len(images)} "
                         "training images: use a smaller --batch-size (or more images)")
    if config.batch_size % recipe.pack:
        raise ValueError(f"batch size {config.batch_size} is not a multiple of the recipe's "
                         f"pack ({recipe.pack}: D judges that many images at once): use a "
                         f"batch size divisible by {recipe.pack}")
    check_pixels(images)
