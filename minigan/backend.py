"""The one place that chooses the array library: NumPy for "cpu", CuPy for "gpu".

Everything else asks this module for `xp` (the array module of a device or of an array) and never
imports cupy itself, so the package imports and runs on machines without CuPy or without a GPU.
"""
import ctypes
import functools
import sys

import numpy as np

DEVICE_NAMES = {"cpu": "cpu", "gpu": "gpu", "cuda": "gpu"}

_default_device = "cpu"
_seed = None
_rngs = {}
_heap_kept = None   # keep_freed_memory_in_heap's answer, once asked


class DeviceError(RuntimeError):
    """The requested device cannot be used on this machine."""


def keep_freed_memory_in_heap():
    """Ask glibc to keep freed memory in the heap for reuse, rather than hand it back to the OS.

    Why it speeds training: a step allocates and frees the same large arrays (im2col columns,
    activations, gradients) again and again. By default glibc gives a large array (from 128 kB;
    the threshold adapts, up to 32 MB) fresh mmap'd pages and returns them to the OS when it is
    freed, so each step touches new pages, and faulting and zeroing each 4 kB page costs about
    as much as the work itself (measured: writing a 58 MB array takes 19 ms fresh, 9 ms reused).
    With freed memory kept in the heap, the next step's arrays reuse warm pages.

    What it changes, for the whole process and for good: every later malloc below 1 GiB comes
    from the heap (M_MMAP_THRESHOLD), and freed heap memory is never trimmed (M_TRIM_THRESHOLD),
    so the process's resident size stays near its peak instead of shrinking after a large
    step; C extensions and other libraries share the setting. So importing minigan does not
    do it: the code that owns the process's training loop (the trainer, the command line, a
    benchmark) calls it once before the loop. Idempotent; Linux with glibc only, elsewhere
    (macOS, musl) a no-op. Returns True when the setting is in force.
    """
    global _heap_kept
    if _heap_kept is None:
        _heap_kept = _mallopt_keep_heap()
    return _heap_kept


def _mallopt_keep_heap():
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        from_heap = libc.mallopt(M_MMAP_THRESHOLD, 1 << 30)      # blocks below 1 GiB
        kept = libc.mallopt(M_TRIM_THRESHOLD, (1 << 31) - 1)     # freed heap memory stays
        return bool(from_heap and kept)                          # (mallopt: 1 on success)
    except (OSError, AttributeError):  # not glibc (e.g. musl): keep the defaults
        return False


def normalize_device(name):
    """'cpu' -> 'cpu'; 'gpu' and 'cuda' -> 'gpu'; anything else is a clear error."""
    if name is None:
        return _default_device
    key = str(name).lower()
    if key not in DEVICE_NAMES:
        raise ValueError(f"unknown device {name!r}: use 'cpu' or 'gpu' (or its synonym 'cuda')")
    return DEVICE_NAMES[key]


@functools.cache
def _cupy_or_error():
    """Import CuPy and check that a GPU is visible; the error says which part is missing."""
    try:
        import cupy
    except ImportError as exc:
        raise DeviceError(
            "device 'gpu' needs CuPy, which is not installed: install the gpu extra "
            "(pip install -e \".[gpu]\") on a machine with an NVIDIA GPU, or use device 'cpu'"
        ) from exc
    try:
        available = cupy.is_available()
    except Exception:  # noqa: BLE001  (a broken CUDA install raises instead of returning False)
        available = False
    if not available:
        raise DeviceError(
            "device 'gpu' needs a CUDA GPU, but CuPy sees none on this machine (no device, or no "
            "working driver): run on a machine with an NVIDIA GPU, or use device 'cpu'"
        )
    return cupy


def check_device(name):
    """Normalize `name` and make sure it is usable here; returns 'cpu' or 'gpu'."""
    device = normalize_device(name)
    if device == "gpu":
        _cupy_or_error()
    return device


def set_device(name):
    """Make `name` the default device for new tensors and parameters."""
    global _default_device
    _default_device = check_device(name)


def get_device():
    """The default device: 'cpu' or 'gpu'."""
    return _default_device


def xp(device=None):
    """The array module (numpy or cupy) of a device; the default device when None."""
    return _cupy_or_error() if normalize_device(device) == "gpu" else np


def on_gpu(array):
    return type(array).__module__.startswith("cupy")


def device_of(array):
    return "gpu" if on_gpu(array) else "cpu"


def xp_of(array):
    """The array module that owns `array`."""
    return _cupy_or_error() if on_gpu(array) else np


def to_device(array, device):
    """`array` on `device`, without a copy when it is there already."""
    device = check_device(device)
    if device == device_of(array):
        return array
    if device == "cpu":
        return array.get()
    return _cupy_or_error().asarray(array)


def to_numpy(array):
    """A host copy of `array` (always a copy, so callers may keep or modify it)."""
    return array.get() if on_gpu(array) else np.array(array, copy=True)


def manual_seed(seed):
    """Seed every random draw of minigan (initialisation, dropout masks, noise)."""
    global _seed
    _seed = int(seed)
    _rngs.clear()


def rng(device=None):
    """The seeded random generator of a device (numpy.random.Generator on the CPU)."""
    device = normalize_device(device)
    if device not in _rngs:
        if device == "cpu":
            _rngs[device] = np.random.default_rng(_seed)
        else:
            _rngs[device] = _cupy_or_error().random.default_rng(_seed)
    return _rngs[device]


class RunState:
    """A run's default device and seeded random generators, current only inside `with`: what
    set_device and manual_seed set for the whole process, kept for one run. A trainer enters
    its own while it builds, trains and samples, so making or running one leaves the caller's
    device and random stream as they were, and two trainers do not draw from each other's
    stream. A manual_seed inside the block reseeds this state."""

    def __init__(self, device="cpu", seed=None):
        self.device, self.seed, self.rngs = check_device(device), seed, {}
        self._outer = []

    def __enter__(self):
        global _default_device, _seed, _rngs
        self._outer.append((_default_device, _seed, _rngs))
        _default_device, _seed, _rngs = self.device, self.seed, self.rngs
        return self

    def __exit__(self, *exc_info):
        global _default_device, _seed, _rngs
        self.device, self.seed, self.rngs = _default_device, _seed, _rngs
        _default_device, _seed, _rngs = self._outer.pop()
