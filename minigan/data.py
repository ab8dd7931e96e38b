"""MNIST: find (or download) the four IDX files, check them, and serve float32 images in [-1, 1].

A folder the caller names (data_dir, the scripts' --data-dir) must exist and hold the files: it is
the only place looked. Without one: $MINIGAN_DATA_DIR, then the user cache ($XDG_CACHE_HOME or
~/.cache, under minigan/mnist), then the copy shipped in the repository (data/mnist/), then a
download into the cache. Every file must match the canonical MD5 and MNIST's shape.
"""
import gzip
import hashlib
import math
import os
import sys
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np

FILES = {  # name -> (file, MD5 of the .gz as published, MD5 of its uncompressed content, shape)
    "train-images": ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                     "6bbc9ace898e44ae57da46a324031adb", (60000, 28, 28)),
    "train-labels": ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432",
                     "a25bea736e30d166cdddb491f175f624", (60000,)),
    "test-images": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3",
                    "2646ac647ad5339dbf082846283269ea", (10000, 28, 28)),
    "test-labels": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c",
                    "27ae3e4e09519cfbb04c329615203637", (10000,)),
}
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
           "https://storage.googleapis.com/cvdf-datasets/mnist/")
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataError(RuntimeError):
    """A data file is missing, corrupt, or cannot be fetched."""


def read_idx(path, expected_ndim=None):
    """The array stored in an IDX file (gzip-compressed or raw), checked against its header.

    Header: two zero bytes, a dtype code (0x08 = uint8), the number of dimensions, then each
    dimension as a big-endian uint32; then the data, row-major. The file is read as a stream:
    the header is checked before any data is read, and no more than the size it declares (plus
    one byte, to tell a file that is too long) is ever read or decompressed.
    """
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw) if gzipped else raw as f:
                return _read_idx_stream(f, path, expected_ndim)
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: cannot read it as an IDX file ({exc}); delete it and supply a "
                        "good copy") from None


def _read_idx_stream(f, path, expected_ndim):
    """read_idx on an open stream of the uncompressed bytes."""
    magic = f.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in IDX_DTYPES:
        raise DataError(f"{path}: wrong magic number {magic.hex() or 'empty'} (an IDX file "
                        "starts with 0000 then a dtype code such as 08); is it the right file?")
    ndim = magic[3]
    if expected_ndim is not None and ndim != expected_ndim:
        raise DataError(f"{path}: the header says {ndim} dimensions, expected {expected_ndim} "
                        "(images have 3, labels 1); is it the right file?")
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise DataError(f"{path}: truncated header ({4 + len(dims)} bytes)")
    dtype = np.dtype(IDX_DTYPES[magic[2]])
    shape = tuple(int.from_bytes(dims[4 * i:4 * i + 4], "big") for i in range(ndim))
    header, size = 4 + 4 * ndim, math.prod(shape) * dtype.itemsize
    body = bytearray()
    while len(body) < size:  # in blocks: memory follows what is there, not what is declared
        block = f.read(min(1 << 20, size - len(body)))
        if not block:
            raise DataError(f"{path}: {header + len(body)} bytes, but its header {shape} needs "
                            f"{header + size}: the file is truncated; delete it and supply a "
                            "good copy")
        body += block
    if f.read(1):
        raise DataError(f"{path}: longer than the {header + size} bytes its header {shape} "
                        "declares: the file is too long; delete it and supply a good copy")
    return np.frombuffer(body, dtype=dtype).reshape(shape)


def md5_of(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path, expected_md5):
    got = md5_of(path)
    if got != expected_md5:
        raise DataError(f"{path}: MD5 {got} does not match the canonical {expected_md5}; the file "
                        "is corrupt or not the original MNIST file: delete it and supply (or "
                        "re-download) the original")


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "minigan" / "mnist"


# The four files as committed to the repository: a fresh clone trains offline.
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "data" / "mnist"


def candidate_dirs(data_dir=None):
    """The folders looked in, in order: the one named alone, or (none named) $MINIGAN_DATA_DIR,
    the cache and the shipped copy."""
    if data_dir is not None:
        return [Path(data_dir)]
    dirs = []
    if os.environ.get("MINIGAN_DATA_DIR"):
        dirs.append(Path(os.environ["MINIGAN_DATA_DIR"]))
    dirs.append(cache_dir())
    if SHIPPED_DIR.is_dir():
        dirs.append(SHIPPED_DIR)
    return dirs


def check_folder(data_dir, names=tuple(FILES)):
    """A folder the caller names (data_dir; None names none) must exist and hold the files
    `names` (keys of FILES), each gzip-compressed or not: otherwise DataError, one line with the
    folder, what is missing and how to get the files. Nothing falls back to another folder."""
    if data_dir is None:
        return
    folder = Path(data_dir)
    others = ("or leave --data-dir out to use $MINIGAN_DATA_DIR, the cache or the copy shipped "
              "with minigan")
    if str(data_dir) == "":
        raise DataError(f"the MNIST folder given is an empty name: name the folder that holds "
                        f"the MNIST files, {others}")
    if not folder.exists():
        raise DataError(f"MNIST folder {folder} does not exist: create it and download the "
                        f"MNIST files from {MIRRORS[0]} into it, {others}")
    if not folder.is_dir():
        raise DataError(f"MNIST folder {folder} is a file, not a folder: name the folder that "
                        f"holds the MNIST files (from {MIRRORS[0]}), {others}")
    missing = [FILES[n][0] for n in names
               if not ((folder / FILES[n][0]).is_file() or (folder / FILES[n][0][:-3]).is_file())]
    if missing:
        them = "it" if len(missing) == 1 else "them"
        raise DataError(f"MNIST folder {folder} holds no {' or '.join(missing)} (gzip-compressed "
                        f"or not): download {them} from {MIRRORS[0]} into it, {others}")


def find_file(name, data_dir=None, download=True):
    """The path of one of the four files (a key of FILES), its MD5 verified (that of the .gz or
    of the uncompressed file, whichever is there). In a folder named by data_dir, or (none named)
    in candidate_dirs, then downloaded into the cache if allowed."""
    check_folder(data_dir, (name,))
    filename, md5, raw_md5, _ = FILES[name]
    dirs = candidate_dirs(data_dir)
    for d in dirs:
        for candidate, expected in ((d / filename, md5), (d / filename[:-3], raw_md5)):
            if candidate.is_file():  # the .gz, or the file already uncompressed
                verify(candidate, expected)
                return candidate
    looked = ", ".join(str(d) for d in dirs)
    if not download:
        raise DataError(f"MNIST file {filename} not found (looked in: {looked}); put the four "
                        "MNIST files in one of them, or pass --data-dir / set MINIGAN_DATA_DIR")
    return _download(filename, md5, cache_dir(), looked)


def _download(filename, md5, target_dir, looked):
    errors = []
    for mirror in MIRRORS:
        try:
            target_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target_dir, prefix=filename + ".part")
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(mirror + filename,
                                                                    timeout=30) as response:
                total = int(response.headers.get("Content-Length") or 0)
                done = 0
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    done += len(block)
                    if total:
                        print(f"\rdownloading {filename}: {100 * done // total:3d}% of "
                              f"{total / 1e6:.1f} MB", end="", file=sys.stderr)
                print(file=sys.stderr)
            verify(tmp, md5)
            path = target_dir / filename
            os.replace(tmp, path)  # atomic: a half-written file never has the final name
            return path
        except (OSError, urllib.error.URLError, DataError) as exc:
            errors.append(f"{mirror}: {exc}")
            if "tmp" in locals() and os.path.exists(tmp):
                os.remove(tmp)
    raise DataError(f"MNIST file {filename} not found (looked in: {looked}) and the download "
                    f"failed ({'; '.join(errors)}). Offline? Copy the four MNIST .gz files into "
                    "one of those folders, or pass --data-dir / set MINIGAN_DATA_DIR")


def read_file(name, data_dir=None, download=True):
    """One of the four arrays (a key of FILES), from a verified file of the shape MNIST has."""
    path = find_file(name, data_dir, download)
    shape = FILES[name][3]
    array = read_idx(path, expected_ndim=len(shape))
    if array.shape != shape:
        raise DataError(f"{path}: holds an array of shape {array.shape}, but MNIST's {name} has "
                        f"{shape}; is it the right file (train and test swapped?)")
    return array


def load_mnist(split="train", data_dir=None, download=True):
    """(images, labels): images float32 (N, 784) scaled to [-1, 1], labels uint8 (N,). A named
    data_dir must hold the split's two files (check_folder)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    check_folder(data_dir, (f"{split}-images", f"{split}-labels"))  # both missing, one line
    images = read_file(f"{split}-images", data_dir, download)
    labels = read_file(f"{split}-labels", data_dir, download)
    scaled = images.reshape(len(images), 784).astype(np.float32)
    scaled *= 2.0 / 255.0
    scaled -= 1.0
    return scaled, np.asarray(labels, dtype=np.uint8)


def batches(data, batch_size, rng, drop_last=True):
    """Shuffled minibatches of the rows of `data` (one pass), each (batch_size, ...)."""
    order = rng.permutation(len(data))
    stop = len(data) - len(data) % batch_size if drop_last else len(data)
    for start in range(0, stop, batch_size):
        yield data[order[start:start + batch_size]]


def save_idx(path, array):
    """Write `array` (uint8) as an IDX file, gzip-compressed when path ends in .gz (for tests)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())
