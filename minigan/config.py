"""A run's settings besides its recipe: the TrainConfig (how long, how often to sample, log and
score, where to write), the least value of each, the evaluation's sample count and what each
schedule does when not told otherwise. The schedules themselves are minigan.schedules.
"""
import dataclasses
import os

from minigan import backend
from minigan.recipes import DEFAULT, get_recipe
from minigan.run_folder import fresh_run_folder

EVAL_SAMPLES = 5000   # generated images per quality score (FID, coverage)
BATCH_SIZE = 64       # the original's, and every recipe's
# The least value of each whole-number setting (the command line checks its flags by these).
MINIMUMS = {"epochs": 1, "batch_size": 1, "sample_every": 1, "log_every": 1, "seed": 0,
            "eval_every": 0, "eval_samples": 2, "early_stop": 0}
# The original Keras script's schedule: per epoch 64 iterations of one D step on real and one on
# fake images, then one G step; 100 epochs, a 4x4 grid every 10.
ORIGINAL_SCHEDULE = {"epochs": 100, "batch_size": BATCH_SIZE, "iterations": 64,
                     "sample_every": 10, "grid": 4}
# What a run of each schedule does when not told otherwise.
SCHEDULE_DEFAULTS = {"standard": {"epochs": 10, "sample_every": 1, "grid": 8},
                     "original": {key: ORIGINAL_SCHEDULE[key] for key in ("epochs", "sample_every",
                                                                           "grid")}}
SCHEDULE_ALIASES = {"seed": "original"}   # the name earlier versions used


@dataclasses.dataclass
class TrainConfig:
    """How one run trains, besides its recipe. epochs and sample_every default to the
    schedule's (SCHEDULE_DEFAULTS: 10 and 1, or 100 and 10 for "original")."""

    epochs: int = None
    batch_size: int = BATCH_SIZE
    schedule: str = "standard"
    recipe: str = DEFAULT
    sample_every: int = None    # epochs between sample grids
    out: str = None             # default: a new runs/<date-time>
    seed: int = 0
    device: str = "cpu"
    log_every: int = 50         # iterations between progress lines (and host reads of losses)
    eval_every: int = 0         # epochs between quality scores (FID, coverage); 0: never
    eval_samples: int = EVAL_SAMPLES
    early_stop: int = 0         # stop when FID has not improved for this many scores; 0: never
    target_fid: float = 0.0     # stop when a score reaches this FID; 0: never
    stop_on_divergence: bool = False   # stop (and save nothing) at an epoch that diverged

    def __post_init__(self):
        self.schedule = SCHEDULE_ALIASES.get(self.schedule, self.schedule)
        if self.schedule not in SCHEDULE_DEFAULTS:
            raise ValueError(f"schedule must be one of {sorted(SCHEDULE_DEFAULTS)}, got "
                             f"{self.schedule!r}")
        for name in ("epochs", "sample_every"):
            if getattr(self, name) is None:
                setattr(self, name, SCHEDULE_DEFAULTS[self.schedule][name])
        for name, minimum in MINIMUMS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name} must be at least {minimum} (a whole number), got "
                                 f"{value!r}")
        if isinstance(self.target_fid, bool) or not isinstance(self.target_fid, (int, float)) \
                or not self.target_fid >= 0:
            raise ValueError(f"target_fid must be a number >= 0 (0: no target), got "
                             f"{self.target_fid!r}")
        if not isinstance(self.stop_on_divergence, bool):
            raise ValueError(f"stop_on_divergence must be True or False, got "
                             f"{self.stop_on_divergence!r}")
        if (self.early_stop or self.target_fid) and not self.eval_every:
            raise ValueError("early_stop and target_fid stop on FID scores: score the run too "
                             "(eval_every >= 1, --eval-every N)")
        for name in ("recipe", "device"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string, got {getattr(self, name)!r}")
        get_recipe(self.recipe)
        self.device = backend.normalize_device(self.device)
        if self.out is None:
            self.out = fresh_run_folder()
        elif not isinstance(self.out, (str, os.PathLike)):
            raise ValueError(f"out must be a folder path, got {self.out!r}")
        self.out = str(self.out)

    def samples_after(self, epoch):
        """Whether the run draws its fixed-noise grid after `epoch` (1-based): every
        sample_every epochs, and after the last."""
        return epoch % self.sample_every == 0 or epoch == self.epochs


__all__ = ["BATCH_SIZE", "EVAL_SAMPLES", "MINIMUMS", "ORIGINAL_SCHEDULE", "SCHEDULE_ALIASES",
           "SCHEDULE_DEFAULTS", "TrainConfig"]
