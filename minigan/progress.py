"""Training progress: running means of the losses (kept on the device, read every log_every
iterations), the NaN check, divergence warnings, and where the lines go (a terminal or a log)."""
import math
import sys
import time

KEYS = ("loss_d", "loss_g", "d_real", "d_fake")
# D(x) and D(G(z)) both within this of 0 (or of 1) for a whole logging window: D has saturated.
SATURATION = 1e-3
# A loss beyond this means the run has diverged: BCE is clamped at 100 per term.
LOSS_LIMIT = 1e4


class TrainingDiverged(RuntimeError):
    """A loss, a weight or a running statistic became NaN or infinite."""


class Log:
    """Where progress goes: `line(text)` for a line of its own, `progress(text, last)` for the
    progress line of an epoch (`last` at the end of the epoch). Here, both call `write(text)`."""

    def __init__(self, write=print):
        self.write = write

    def line(self, text):
        self.write(text)

    def progress(self, text, last):
        self.write(text)


class TerminalLog(Log):
    """On a terminal the progress lines of an epoch overwrite each other; elsewhere they stack up
    (a log file keeps them all). A line of its own always starts on a fresh line."""

    def __init__(self, stream=None):
        stream = sys.stdout if stream is None else stream  # the one current now, not at import
        self.stream, self.interactive, self.open_line = stream, stream.isatty(), False

    def write(self, text):
        self.stream.write(text)
        self.stream.flush()

    def line(self, text):
        self.write(("\n" if self.open_line else "") + text + "\n")
        self.open_line = False

    def progress(self, text, last):
        if not self.interactive:
            return self.line(text)
        self.write("\r" + text[:150].ljust(150) + ("\n" if last else ""))
        self.open_line = not last


def as_log(log):
    """A Log from a Log or from any callable that takes a line of text (print, list.append)."""
    return log if isinstance(log, Log) else Log(log)


def divergence_warning(means):
    """A sentence when the logged means show a run that failed without a NaN: losses beyond any
    meaningful range, or D's outputs pinned at 0 or at 1 for real and fake alike (D has
    saturated: its gradients vanish and neither network learns). None when all looks sane."""
    huge = [f"loss {k[-1].upper()} {means[k]:.3g}" for k in ("loss_d", "loss_g")
            if k in means and abs(means[k]) > LOSS_LIMIT]
    if huge:
        return (f"{', '.join(huge)} is beyond any meaningful range: the run has diverged "
                "(a lower --lr may help)")
    d_real, d_fake = means.get("d_real"), means.get("d_fake")
    if d_real is None or d_fake is None:
        return None
    for value, pinned in ((0, max(d_real, d_fake) < SATURATION),
                          (1, min(d_real, d_fake) > 1 - SATURATION)):
        if pinned:
            return (f"D(x) {d_real:.4f} and D(G(z)) {d_fake:.4f} are both pinned at {value}: the "
                    "discriminator has saturated and neither network learns (a lower --lr may "
                    "help)")
    return None


class ProgressMeter:
    """Sums the step results of an epoch on the device; every `log_every` iterations it reads
    their means back (one host round trip), checks them, logs a line and a point of the curves."""

    def __init__(self, log, log_every, batch_size, epochs):
        self.log, self.log_every = as_log(log), log_every
        self.batch_size, self.epochs = batch_size, epochs
        self.points = {k: [] for k in ("iteration",) + KEYS}   # the loss curves, one per line
        self.start_epoch(0, 1)

    def start_epoch(self, epoch, iterations):
        """Epoch `epoch` (0-based) of `iterations` iterations begins."""
        self.epoch, self.iterations = epoch, iterations
        self.window = {}            # device sums since the last line, and their counts
        self.epoch_sums = {}        # host sums of the epoch, weighted by count
        self.warning = None         # the epoch's first divergence warning
        self.started = time.perf_counter()

    def add(self, **values):
        """Step results (device scalars; None where a step gave none) into the window."""
        for key, value in values.items():
            if value is not None:
                self.window[key] = self.window.get(key, 0) + value
                self.window["n_" + key] = self.window.get("n_" + key, 0) + 1

    def done(self, i, g_steps):
        """Iteration i (1-based) of the epoch is done: at a logging point, read and check."""
        if i % self.log_every and i != self.iterations:
            return
        means = {k: float(self.window[k]) / self.window["n_" + k] for k in KEYS
                 if k in self.window}
        for key, value in means.items():
            if not math.isfinite(value):
                raise TrainingDiverged(f"{key} became {value} at epoch {self.epoch + 1}, "
                                       f"iteration {i}; training stopped.")
        self.points["iteration"].append(g_steps)
        for key in KEYS:
            self.points[key].append(means.get(key, float("nan")))
            if key in means:
                count = self.window["n_" + key]
                self.epoch_sums[key] = self.epoch_sums.get(key, 0.0) + means[key] * count
                self.epoch_sums["n_" + key] = self.epoch_sums.get("n_" + key, 0) + count
        self.window = {}
        self.report(i, means)

    def report(self, i, means):
        elapsed = time.perf_counter() - self.started
        eta = (self.iterations - i) / max(i, 1) * elapsed
        bar = "#" * int(20 * i / self.iterations)
        self.log.progress(f"epoch {self.epoch + 1}/{self.epochs} [{bar:<20}] "
                          f"{i}/{self.iterations}  loss D {means['loss_d']:.3f} "
                          f"G {means['loss_g']:.3f}  D(x) {means['d_real']:.3f} "
                          f"D(G(z)) {means['d_fake']:.3f}  "
                          f"{i * self.batch_size / elapsed:.0f} img/s  ETA {eta:.0f}s",
                          last=i == self.iterations)
        warning = divergence_warning(means)
        if warning:
            self.warning = self.warning or warning
            self.log.line(f"warning: epoch {self.epoch + 1}, iteration {i}: {warning}")

    def summary(self):
        """The epoch's means, its duration, and its warning if it had one."""
        row = {k: self.epoch_sums[k] / self.epoch_sums["n_" + k] for k in KEYS}
        row = {"seconds": round(time.perf_counter() - self.started, 2), **row}
        return dict(row, warning=self.warning) if self.warning else row
