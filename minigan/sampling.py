"""A trained generator: read it back from a run folder (its generator.npz and recipe.json, both
checked: files are data, never code), or the pretrained one shipped in the package, and draw
images from it."""
import dataclasses
from pathlib import Path

import numpy as np

from minigan import backend, checkpoint, documents, nn
from minigan.autograd import no_grad
from minigan.build import build_generator
from minigan.conditional import DIGITS, ConditionalGenerator, draw
from minigan.gan import sample_noise
from minigan.recipes import DEFAULT, RECIPES, Recipe


# The default recipe's generator, shipped as float16 arrays with a JSON of its recipe and
# provenance (command, seed, commit, scores): minigan/weights/README.md.
PRETRAINED = Path(__file__).with_name("weights") / "generator_pretrained.npz"


class GeneratorError(ValueError):
    """A generator file cannot be used, or a generator draws non-finite images."""


def read_json(path, holds):
    """The JSON value in the file at `path`, read within the limits of minigan.documents (a
    crafted file can neither hang nor crash the reader); GeneratorError (one line) otherwise.
    `holds` says what the file should be, for the message."""
    try:
        return documents.read_json(path)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise GeneratorError(f"{path}: cannot read it as JSON ({reason}); it should be "
                             f"{holds}") from None


def read_recipe(path):
    """The Recipe in a run's recipe.json (a JSON object of Recipe fields), checked."""
    fields = read_json(path, "the recipe.json written by examples/mnist_gan.py")
    if not isinstance(fields, dict):
        raise GeneratorError(f"{path}: holds a JSON {type(fields).__name__}, not an object of "
                             "recipe fields such as examples/mnist_gan.py writes")
    known = [f.name for f in dataclasses.fields(Recipe)]
    unknown = sorted(set(fields) - set(known))
    if unknown or "name" not in fields:
        shown = unknown[:3] + (["..."] if len(unknown) > 3 else [])
        problem = f"unknown fields {shown}" if unknown else "no 'name' field"
        raise GeneratorError(f"{path}: {problem}; a recipe has the fields {known}")
    try:
        return Recipe(**fields)
    except ValueError as exc:
        raise GeneratorError(f"{path}: {exc}") from None


def read_arrays(path):
    """{name: array} from an .npz of plain numeric arrays. Files we read are data, never code:
    pickles (and .npz entries holding Python objects, which are pickles) are refused unread."""
    expected = "a minigan generator file (.npz of arrays)"
    arrays = checkpoint.read_npz(path, expected, GeneratorError)
    for key, value in arrays.items():
        if value.dtype.kind not in "biuf":
            raise GeneratorError(f"{path} is not {expected}: entry {key!r} is not an array of "
                                 "numbers")
    return arrays


# In a run folder: the final generator, the best-scored epoch's, and with an averaged generator
# (the recipe's ema; then "last" and "best" are the average) the trained one
GENERATORS = {"last": "generator.npz", "best": "generator_best.npz", "raw": "generator_raw.npz"}


def load_generator(path, which="last"):
    """A generator in eval mode from a run folder or a generator.npz (with recipe.json beside it;
    without one, the default recipe's architecture). In a run folder, `which` picks the
    generator: "last" (the final one, generator.npz) or "best" (the best-scored epoch's,
    generator_best.npz; best.json says which). Every weight and running statistic must be
    finite: a NaN there would only show as blank samples. A training checkpoint, or weights that
    do not fit the recipe, get one line saying what to give instead."""
    if which not in GENERATORS:
        raise ValueError(f"which must be one of {sorted(GENERATORS)}, got {which!r}")
    path = Path(path)
    npz = path / GENERATORS[which] if path.is_dir() else path
    if which == "best" and path.is_dir() and not npz.is_file():
        raise FileNotFoundError(f"no best generator in {path}: the run scored no epoch (train "
                                "with --eval-every K to keep the best-scored generator), or "
                                "give which='last'")
    if not npz.is_file():
        raise FileNotFoundError(f"no generator weights at {npz} (expected a run folder or a "
                                "generator.npz written by examples/mnist_gan.py)")
    recipe_file = npz.parent / "recipe.json"
    recipe = read_recipe(recipe_file) if recipe_file.is_file() else RECIPES[DEFAULT]
    state = read_arrays(npz)
    if {"document", "sha256"} <= set(state) and any(k.startswith("G/") for k in state):
        raise GeneratorError(f"{npz} is a training checkpoint, not a generator: give the run "
                             f"folder {npz.parent}, or the generator.npz that "
                             "examples/mnist_gan.py writes beside its checkpoint")
    hint = (f"is {recipe_file} from another run? Give the folder the run wrote"
            if recipe_file.is_file() else "there is no recipe.json beside it to say which "
            "recipe made it: put the run's recipe.json beside it, or give the run folder")
    return generator_from(recipe, state, npz, hint)


def generator_from(recipe, state, where, hint="was it saved from this recipe's generator?"):
    """The recipe's generator holding `state`, in eval mode. Every weight and running statistic
    must be finite: a NaN there would only show as blank samples. Arrays that do not fit the
    generator are counted in one line, ending with `hint`: what to give instead."""
    broken = [key for key, value in state.items() if not np.isfinite(value).all()]
    if broken:
        shown = broken[:5] + (["..."] if len(broken) > 5 else [])
        raise GeneratorError(f"{where}: non-finite values (NaN or inf) in {shown}: the weights "
                             "or running statistics are broken; use an earlier generator")
    G = build_generator(recipe)
    try:
        G.load_state_dict(state)
    except nn.StateDictError:
        raise GeneratorError(f"{where}: its arrays do not fit the generator of recipe "
                             f"{recipe.name} ({state_misfit(G.state_dict(), state)}); "
                             f"{hint}") from None
    return G.eval()


def state_misfit(own, state):
    """How the arrays `state` differ from a model's state dict `own`, in a few words: counts
    (and one example when only shapes or dtypes differ), never the whole list."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and (np.shape(state[k]) != np.shape(own[k]) or
                                               state[k].dtype != own[k].dtype)]
    if not (missing or unexpected) and wrong:
        k = wrong[0]
        return (f"{len(wrong)} of its {len(own)} arrays of another shape or dtype, such as {k}: "
                f"{state[k].dtype} {np.shape(state[k])}, expected {own[k].dtype} "
                f"{np.shape(own[k])}")
    parts = [f"{len(missing)} of its {len(own)} arrays missing" if missing else "",
             f"{len(unexpected)} unexpected" if unexpected else "",
             f"{len(wrong)} of another shape or dtype" if wrong else ""]
    return ", ".join(p for p in parts if p) or "values it cannot hold"


def load_pretrained(path=PRETRAINED):
    """The pretrained generator shipped with minigan, in eval mode: no training, no MNIST files.
    Its weights are stored as float16 (half the size) and widened to float32 here; the JSON
    beside them holds the recipe and where they came from (`pretrained_info()`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no pretrained generator at {path}: the package was installed "
                                "without its data files; reinstall minigan (pip install -e .)")
    state = widened(read_arrays(path))
    return generator_from(_recipe_of(pretrained_info(path), path), state, path)


def widened(arrays):
    """float16 arrays as float32 (the generator's dtype); the others as they are."""
    return {key: value.astype(np.float32) if value.dtype == np.float16 else value
            for key, value in arrays.items()}


def pretrained_info(path=PRETRAINED):
    """The JSON beside the pretrained weights: {"recipe": {...}, "provenance": {...}}."""
    json_path = Path(path).with_suffix(".json")
    info = read_json(json_path, "the pretrained generator's recipe and provenance")
    if not isinstance(info, dict) or not isinstance(info.get("recipe"), dict):
        raise GeneratorError(f"{json_path}: expected an object with a 'recipe' object")
    return info


def _recipe_of(info, path):
    try:
        return Recipe(**info["recipe"])
    except (TypeError, ValueError) as exc:
        raise GeneratorError(f"{Path(path).with_suffix('.json')}: bad recipe ({exc})") from None


def is_conditional(G):
    """Whether G draws the digit it is told: G(z, labels)."""
    return isinstance(G, ConditionalGenerator)


def digit_labels(n, digit=None):
    """n labels for a conditional generator: all `digit`, or (None) 0, 1, ..., 9, 0, 1, ..."""
    if digit is None:
        return np.arange(n) % DIGITS
    if isinstance(digit, bool) or not isinstance(digit, (int, np.integer)) or \
            not 0 <= digit < DIGITS:
        raise ValueError(f"digit must be a whole number from 0 to {DIGITS - 1}, got {digit!r}")
    return np.full(n, digit)


def generate(G, n, seed=0, batch_size=1000, labels=None):
    """n images (n, 28, 28) in [-1, 1] from G, with noise from seed (manual_seed(seed)). A
    conditional G draws the digits `labels` (n integers; default digit_labels(n): each digit in
    turn); an unconditional G takes none. Refuses to return non-finite images, which broken
    weights or running statistics draw."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    if is_conditional(G):
        labels = digit_labels(n) if labels is None else np.asarray(labels)
        if labels.shape != (n,):
            raise ValueError(f"labels must be {n} digits, one per image, got shape "
                             f"{labels.shape}")
    elif labels is not None:
        raise ValueError("this generator is unconditional: it cannot be told which digit to "
                         "draw (train one with --conditional)")
    backend.manual_seed(seed)
    out = []
    with no_grad():
        for start in range(0, n, batch_size):
            z = sample_noise(min(batch_size, n - start), G.device)
            part = None if labels is None else labels[start:start + len(z)]
            images = draw(G, z, part).numpy()             # (batch, 784)
            if not np.isfinite(images).all():
                raise GeneratorError("the generator draws non-finite images (NaN or inf): its "
                                     "weights or running statistics are broken; use an earlier "
                                     "generator")
            out.append(images)
    return np.concatenate(out).reshape(n, 28, 28)
