"""Recipes: the Recipe (how the GAN trains), the named recipes, `--set field=value` overrides and
the command line's rules for making one (recipe_from_flags). How long and how often a run
trains, samples and scores is its TrainConfig (minigan.config).

A Recipe checks its own fields (type and range) when it is made, so one read from a file, a
checkpoint or a command line is valid before anything trains.
"""
import argparse
import dataclasses
import math
import numbers

GENERATORS = ("relu", "batchnorm")       # the MLP generator's hidden layers
MODELS = ("mlp", "dcgan")                 # the generator
DISCRIMINATORS = ("original", "dcgan")    # the discriminator's convolutions
# Names earlier versions used, still read (from checkpoints, recipe.json and the command line).
FIELD_ALIASES = {"generator": {"seed": "relu"}, "discriminator": {"seed": "original"}}
RECIPE_ALIASES = {"seed": "original"}
RECIPE_RANGES = {  # field -> (the test its value must pass, the allowed values in words)
    "generator": (lambda v: v in GENERATORS, f"one of {GENERATORS}"),
    "lr_d": (lambda v: v > 0, "> 0"),
    "lr_g": (lambda v: v > 0, "> 0"),
    "beta1": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "real_label": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "instance_noise": (lambda v: v >= 0, ">= 0"),
    "feature_matching": (lambda v: v >= 0, ">= 0"),
    "pack": (lambda v: v >= 1, ">= 1"),
    "minibatch_kernels": (lambda v: v >= 0, ">= 0"),
    "model": (lambda v: v in MODELS, f"one of {MODELS}"),
    "discriminator": (lambda v: v in DISCRIMINATORS, f"one of {DISCRIMINATORS}"),
    "classifier": (lambda v: v >= 0, ">= 0"),
    "ema": (lambda v: 0 <= v < 1, "in [0, 1) (0: no averaged generator; 0.999 is usual)"),
}
# The auxiliary classifier's weight a conditional run gets unless told otherwise
# (docs/experiments.md: without it the conditional DCGAN drew the asked-for digit 69% of the time).
CONDITIONAL_CLASSIFIER = 1.0


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Everything that decides how the GAN trains, besides the schedule."""

    name: str
    generator: str = "relu"       # "relu": Dense+ReLU; "batchnorm": Dense+BatchNorm+LeakyReLU(0.2)
    minibatch_std: bool = False   # give D the batch's feature spread as one more input feature
    lr_d: float = 1e-4
    lr_g: float = 1e-4
    beta1: float = 0.9
    real_label: float = 1.0       # < 1: one-sided label smoothing of D's real targets
    instance_noise: float = 0.0   # std of Gaussian noise on D's inputs, annealed linearly to 0
    feature_matching: float = 0.0 # weight of ||mean D-features(real) - mean D-features(fake)||^2
    pack: int = 1                 # D judges packs of this many images at once (PacGAN)
    minibatch_kernels: int = 0    # > 0: D also sees how close each sample is to the rest of its
                                  # batch, through this many learned kernels (Salimans 2016)
    model: str = "mlp"            # the generator: "mlp" (the original's; `generator` says its
                                  # hidden layers) or "dcgan" (transposed convolutions)
    discriminator: str = "original"  # two 3x3 convolutions at full size; "dcgan": two
                                  # strided 4x4 convolutions, BatchNorm, LeakyReLU 0.2
    conditional: bool = False     # G and D are told the digit: G(z, y) and D(x, y)
    classifier: float = 0.0       # > 0, conditional only: D also reads the digit of real images
                                  # and G is pulled towards fakes D reads as the asked-for digit,
                                  # with this weight on the cross-entropy (AC-GAN)
    ema: float = 0.0              # > 0: the run samples, scores and keeps an exponential moving
                                  # average of G's weights with this decay (minigan.ema); it
                                  # changes nothing G and D compute

    def __post_init__(self):
        """Refuses a value of the wrong type or out of range: a recipe from a file or a --set is
        checked before it trains (dataclasses.replace runs this too). An old name of a value
        (FIELD_ALIASES) is read as the new one."""
        for name, aliases in FIELD_ALIASES.items():
            value = getattr(self, name)
            if isinstance(value, str) and value in aliases:
                object.__setattr__(self, name, aliases[value])
        for field in dataclasses.fields(self):
            value, kind = getattr(self, field.name), field.type
            if kind is bool:
                ok, wanted = isinstance(value, bool), "True or False"
            elif kind is int:  # bool is an int in Python, but pack=True is a mistake
                ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
                wanted = "a whole number"
            elif kind is float:
                ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
                      and math.isfinite(value))
                wanted = "a finite number"
            else:  # a string field with a range lists its values: that says it all
                ok = isinstance(value, str)
                wanted = "" if field.name in RECIPE_RANGES else "a string"
            test, allowed = RECIPE_RANGES.get(field.name, (lambda v: True, ""))
            if not ok or not test(value):
                raise ValueError(f"recipe field {field.name} must be "
                                 f"{' '.join(w for w in (wanted, allowed) if w)}, got {value!r}")
        if self.conditional and self.pack > 1:  # a pack of images would need a pack of labels
            raise ValueError(f"a conditional recipe judges one image per label: pack must be 1, "
                             f"got {self.pack}")
        if self.classifier > 0 and not self.conditional:
            raise ValueError(f"the auxiliary classifier reads the digit a conditional GAN was "
                             f"asked for: set conditional=True or classifier=0, got "
                             f"classifier={self.classifier} in an unconditional recipe")

    def describe(self):
        return ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(self).items())


RECIPES = {
    # The original Keras script's hyperparameters, exactly. It collapses (see the README).
    "original": Recipe("original"),
    # The default: the original's layer sizes and discriminator, trained so that it does not
    # collapse (each change measured: docs/gan-tricks.md).
    "stable": Recipe("stable", generator="batchnorm", minibatch_std=True, lr_d=2e-4, lr_g=2e-4,
                     beta1=0.5, real_label=0.9, instance_noise=0.3, feature_matching=2000.0,
                     minibatch_kernels=16, ema=0.999),
}
# The DCGAN generator's default: the stable recipe's training with its transposed convolutions
# (docs/experiments.md has the runs that chose the discriminator).
RECIPES["dcgan"] = dataclasses.replace(RECIPES["stable"], name="dcgan", model="dcgan")
DEFAULT = "stable"    # the recipe of the MLP GAN when none is named
# The recipe a run of each model gets when --recipe is not given.
DEFAULT_RECIPE = {"mlp": DEFAULT, "dcgan": "dcgan"}

# The default recipe's tricks, each named by the fields that make it: an ablation removes one by
# setting its fields back to the original recipe's values (docs/gan-tricks.md).
TRICKS = {
    "BatchNorm generator": ("generator",),
    "Adam lr 2e-4 and beta1 0.5": ("lr_d", "lr_g", "beta1"),
    "label smoothing": ("real_label",),
    "instance noise": ("instance_noise",),
    "minibatch std": ("minibatch_std",),
    "feature matching": ("feature_matching",),
    "minibatch discrimination": ("minibatch_kernels",),
}
# The default recipe's fields that are not tricks of the training: they choose which generator
# the run samples and keeps, not what G and D compute, and a run with the averaged generator
# scores the trained G beside it (history.csv's fid_raw), so no ablation run takes them out.
KEPT_GENERATOR = ("ema",)


def without(trick):
    """The `--set` overrides that take one of TRICKS out of a recipe: its fields at the
    original's."""
    if trick not in TRICKS:
        raise ValueError(f"unknown trick {trick!r}: one of {list(TRICKS)}")
    return {field: getattr(RECIPES["original"], field) for field in TRICKS[trick]}


def get_recipe(name_or_recipe):
    """A Recipe as given, or the named one (an old name, RECIPE_ALIASES, as the new)."""
    if isinstance(name_or_recipe, Recipe):
        return name_or_recipe
    name = RECIPE_ALIASES.get(name_or_recipe, name_or_recipe)
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name_or_recipe!r}: choose one of {sorted(RECIPES)}")
    return RECIPES[name]


def parse_override(text):
    """'field=value' -> (field, value) for `--set`: the value converted by the field's declared
    type and checked by the Recipe's ranges; argparse.ArgumentTypeError (one line) otherwise."""
    key, _, value = text.partition("=")
    fields = {f.name: f.type for f in dataclasses.fields(Recipe)}
    if key not in fields or key == "name":
        raise argparse.ArgumentTypeError(f"unknown recipe field {key!r}: one of "
                                         f"{sorted(set(fields) - {'name'})}")
    kind = fields[key]
    if kind is bool:
        if value not in ("True", "False"):
            raise argparse.ArgumentTypeError(f"{key} is True or False, got {value!r}")
        value = value == "True"
    else:
        try:
            value = kind(value)      # the field's declared type: str, int or float
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{key} must be of type {kind.__name__}, got {value!r}") from None
    try:
        dataclasses.replace(RECIPES[DEFAULT], **{key: value})  # the Recipe's range checks
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return key, value


def recipe_from_flags(name, model=None, discriminator=None, conditional=False, classifier=None,
                      lr=None, ema=None):
    """The named recipe with a command line's changes: the generator (`model`), the
    discriminator, conditional, the auxiliary classifier's weight (a conditional run gets
    CONDITIONAL_CLASSIFIER unless told otherwise; an unconditional one refuses a weight), both
    learning rates (`lr`) and the averaged generator's decay (`ema`, 0: none). None: the
    recipe's own."""
    recipe = get_recipe(name)
    if classifier and not (conditional or recipe.conditional):
        raise ValueError("--classifier reads the digit a conditional GAN was asked for: add "
                         "--conditional, or leave --classifier out")
    if classifier is None and conditional and not recipe.classifier:
        classifier = CONDITIONAL_CLASSIFIER
    changes = {"model": model, "discriminator": discriminator,
               "conditional": conditional or None, "classifier": classifier,
               "lr_d": lr, "lr_g": lr, "ema": ema}
    return dataclasses.replace(recipe, **{k: v for k, v in changes.items() if v is not None})
