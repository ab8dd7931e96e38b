"""Checkpoint files that hold only data: named arrays plus one JSON document, checked by SHA-256.

An uncompressed .npz of .npy arrays read with allow_pickle=False, and a document read within the
limits of minigan.documents: this data-only format is what keeps a crafted file from running code
or hanging a reader. The SHA-256 (of the document and every array) detects damage, not edits:
anyone can recompute it with `save`, so it says nothing about who wrote a file.
"""
import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from minigan.documents import MAX_NAME, has_control_characters, parse_json

FORMAT = "minigan-checkpoint"
VERSION = 2
_RESERVED = ("document", "sha256")


class FormatError(ValueError):
    """A file is not the data file it should be, or was damaged."""


class CheckpointError(FormatError):
    """A file is not a minigan checkpoint, or is one that was damaged."""


def save_atomic(path, write):
    """Call write(file) on a new temporary file beside `path`, then rename it over `path`. So a
    full disk or a crash never leaves a partial file under the name (only a `<name>.tmp*` orphan,
    which remove_orphans deletes; a failed write deletes its own), and a symbolic link planted at
    `path` is replaced, never followed: the temporary file is created with O_EXCL and O_NOFOLLOW
    (tempfile.mkstemp), and rename replaces the name itself. The data reach the disk (fsync)
    before the rename, so a late "no space left" cannot strike after it."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes it private; give it normal rights
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.remove(tmp)
        raise


def remove_orphans(path):
    """Delete the `<name>.tmp*` files that save_atomic leaves behind when killed mid-write."""
    path = Path(path)
    for orphan in path.parent.glob(path.name + ".tmp*"):
        orphan.unlink(missing_ok=True)


def digest(document_bytes, arrays):
    """SHA-256 of the document and of each array's name, dtype, shape and bytes, by name."""
    h = hashlib.sha256(document_bytes)
    for name in sorted(arrays):
        a = np.asarray(arrays[name])
        h.update(f"\n{name}\n{a.dtype.str}\n{a.shape}\n".encode())
        h.update(a.tobytes())
    return h.digest()


def save(path, arrays, document):
    """Write `arrays` ({name: ndarray}) and `document` (JSON-able, no NaN) to `path`, atomically."""
    clash = [name for name in arrays if name in _RESERVED]
    if clash:
        raise ValueError(f"array names {clash} are reserved by the checkpoint format")
    body = {**document, "format": FORMAT, "version": VERSION}
    document_bytes = json.dumps(body, allow_nan=False).encode()
    arrays = {name: np.asarray(a) for name, a in arrays.items()}
    members = dict(arrays, document=np.frombuffer(document_bytes, dtype=np.uint8),
                   sha256=np.frombuffer(digest(document_bytes, arrays), dtype=np.uint8))
    save_atomic(path, lambda f: np.savez(f, **members))


def load(path):
    """(arrays, document) from a file `save` wrote. Raises FileNotFoundError or CheckpointError
    with one line; never unpickles anything. A matching checksum shows the file is whole, not
    who wrote it, so the document is held to documents.parse_json's limits."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a checkpoint file" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"checkpoint {path} {what}")
    arrays = read_npz(path, "a minigan checkpoint (the checkpoint.npz that "
                      "examples/mnist_gan.py writes)", CheckpointError)
    missing = [name for name in _RESERVED if name not in arrays]
    if missing or any(arrays[name].dtype != np.uint8 or arrays[name].ndim != 1
                      for name in _RESERVED if name in arrays):
        raise CheckpointError(f"{path} is not a minigan checkpoint: it lacks the byte arrays "
                              f"{list(_RESERVED)}")
    document_bytes = arrays.pop("document").tobytes()
    stored = arrays.pop("sha256").tobytes()
    if digest(document_bytes, arrays) != stored:
        raise CheckpointError(f"{path} is damaged: its content does not match its SHA-256 "
                              "checksum; resume from an intact copy")
    try:
        document = parse_json(document_bytes)
    except ValueError as exc:
        raise CheckpointError(f"{path} is not a minigan checkpoint: its document has {exc}; "
                              "resume from a checkpoint minigan wrote") from None
    if not isinstance(document, dict) or (document.get("format"), document.get("version")) \
            != (FORMAT, VERSION):
        raise CheckpointError(f"{path} is not a minigan checkpoint of format {FORMAT} version "
                              f"{VERSION}")
    return arrays, document


def read_npz(path, expected, error=FormatError):
    """{name: array} from an .npz as np.savez writes it: uncompressed .npy members (so none can
    expand beyond the file's own size) of plain arrays, read with allow_pickle=False. A pickle,
    or an entry holding Python objects (a pickle inside), is refused unread. Every failure is
    `error` with one line that names the file and says it is not `expected`."""
    with open(path, "rb") as f:
        head = f.read(512)
    if head[:1] == b"\x80":
        raise error(f"{path} is a Python pickle (such as the checkpoint.pkl of earlier minigan "
                    "versions), not " + expected + ": minigan never loads pickles, since loading "
                    "one can run any code")
    if head[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):  # a zip archive (an empty one ends so)
        raise error(f"{path} is not {expected}: it is {file_kind(head)}, not a zip archive of "
                    ".npy arrays")
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = info.filename
                if len(name) > MAX_NAME or has_control_characters(name):
                    raise error(f"{path} is not {expected}: a member's name is longer than "
                                f"{MAX_NAME} characters or holds control characters")
                if info.compress_type != zipfile.ZIP_STORED or not name.endswith(".npy"):
                    raise error(f"{path} is not {expected}: member {name!r} is not an "
                                "uncompressed .npy array")
        with np.load(path, allow_pickle=False) as npz:
            names = npz.files
            if len(set(names)) != len(names):
                raise error(f"{path} is not {expected}: it repeats member names")
            arrays = {}
            for name in names:
                arrays[name] = _read_member(npz, name, path, expected, error)
    except error:
        raise
    except Exception as exc:  # any failure to parse the container means it is damaged
        raise error(f"{path} is not {expected}, or is damaged ({type(exc).__name__}: "
                    f"{_first_line(exc)})") from None
    return arrays


# What a file that is not a zip archive starts with: its kind, in words.
_SIGNATURES = ((b"\x93NUMPY", "a single NumPy array (.npy, as np.save writes)"),
               (b"\x1f\x8b", "gzip-compressed data"), (b"\x89PNG", "a PNG image"),
               (b"GIF8", "a GIF image"), (b"\xff\xd8\xff", "a JPEG image"),
               (b"%PDF", "a PDF document"), (b"\x7fELF", "an executable (ELF)"))


def file_kind(head):
    """The kind of file whose first bytes are `head`, in words ("a text file", "a PNG image",
    ...): what an error says instead of the bytes, which may be private."""
    if not head:
        return "an empty file"
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a character cut at the end of `head` is still text
        text = head[:exc.start].decode("utf-8") if exc.start >= len(head) - 3 else None
    if text is not None and all(c.isprintable() or c in "\t\n\r" for c in text):
        return "a text file"
    return "binary data of an unknown kind"


def _read_member(npz, name, path, expected, error):
    try:
        return npz[name]
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise
        raise error(f"{path} is not {expected}: entry {name!r} holds Python objects (a pickle), "
                    "and minigan never loads pickles") from None


def _first_line(exc):
    return (str(exc).splitlines() or [""])[0][:200]


def flatten(state):
    """(arrays, document) of a trainer's state: every array by a path-like name ("G/0.weight",
    "opt_d/3/m", "points/loss_d", "frames", ...), and the rest as JSON-able values."""
    arrays = {f"{net}/{k}": v for net in ("G", "D", "G_average") if net in state
              for k, v in state[net].items()}
    optimizers = {}
    for name in ("opt_d", "opt_g"):
        plain = []
        for i, per_param in enumerate(state[name]["state"]):
            plain.append({k: v for k, v in per_param.items() if not hasattr(v, "shape")})
            arrays.update({f"{name}/{i}/{k}": v for k, v in per_param.items()
                           if hasattr(v, "shape")})
        optimizers[name] = {"hyper": state[name]["hyper"], "state": plain}
    arrays["fixed_noise"] = state["fixed_noise"]
    arrays.update({f"points/{k}": np.asarray(v, dtype=np.float64)
                   for k, v in state["points"].items()})
    frames = state["frames"]
    arrays["frames"] = np.stack(frames) if frames else np.zeros((0, 0, 0), np.uint8)
    document = {k: state[k] for k in ("config", "recipe", "epoch", "g_steps", "n_images", "rng",
                                      "epochs", "data_parallel", "average_updates") if k in state}
    return arrays, dict(document, optimizers=optimizers)


def unflatten(arrays, document):
    """The trainer's state from what flatten gave; an unknown or malformed entry is refused
    (ValueError, KeyError or TypeError)."""
    state = {k: document[k] for k in ("config", "recipe", "rng", "epochs")}
    if "data_parallel" in document:   # older checkpoints lack it (train.load_checkpoint)
        state["data_parallel"] = document["data_parallel"]
    if "average_updates" in document:   # a run with the averaged generator (minigan.ema)
        updates = document["average_updates"]
        if isinstance(updates, bool) or not isinstance(updates, int) or updates < 0:
            raise ValueError(f"average_updates must be a whole number >= 0, got {updates!r}")
        state["average_updates"], state["G_average"] = updates, {}
    for key in ("epoch", "g_steps", "n_images"):
        if isinstance(document[key], bool) or not isinstance(document[key], int) or \
                document[key] < 0:
            raise ValueError(f"{key} must be a whole number >= 0, got {document[key]!r}")
        state[key] = document[key]
    if not isinstance(state["epochs"], list) or len(state["epochs"]) != state["epoch"] or \
            not all(isinstance(row, dict) for row in state["epochs"]):
        raise ValueError("the epoch history does not match the epoch count")
    state["G"], state["D"] = {}, {}
    state["points"] = {}
    for prefix in ("opt_d", "opt_g"):
        saved = document["optimizers"][prefix]
        state[prefix] = {"hyper": {k: tuple(v) if isinstance(v, list) else v
                                   for k, v in saved["hyper"].items()},
                         "state": [dict(per_param) for per_param in saved["state"]]}
    for name, value in arrays.items():
        head, _, rest = name.partition("/")
        if head in ("G", "D") and rest or head == "G_average" and rest and head in state:
            state[head][rest] = value
        elif head in ("opt_d", "opt_g") and rest.count("/") == 1 and rest[0].isdigit():
            index, key = rest.split("/")
            state[head]["state"][int(index)][key] = value
        elif head == "points" and rest in ("iteration", "loss_d", "loss_g", "d_real", "d_fake"):
            state["points"][rest] = [int(v) for v in value] if rest == "iteration" \
                else value.tolist()
        elif name == "fixed_noise":
            state[name] = value
        elif name == "frames" and value.dtype == np.uint8 and value.ndim == 3:
            state["frames"] = list(value)
        else:
            raise ValueError(f"unexpected array {name!r} {value.dtype} {value.shape}")
    if len(state["points"]) != 5 or len({len(v) for v in state["points"].values()}) != 1:
        raise ValueError("the logged points are incomplete")
    for key in ("fixed_noise", "frames"):
        if key not in state:
            raise ValueError(f"no {key!r} array")
    return state
