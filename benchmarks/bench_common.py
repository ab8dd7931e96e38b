"""Helpers shared by the benchmark scripts: thread pinning, machine description, formatting.

Imports no NumPy at module level: the scripts read --threads and set the thread variables
before NumPy (and its BLAS thread pool) starts.
"""
import contextlib
import ctypes
import platform


def threads_from_argv(argv, default):
    """The --threads value, read before argparse runs (and before NumPy is imported)."""
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return str(default)


class OpenBLAS:
    """Every loaded OpenBLAS's thread count through ctypes (what threadpoolctl does).

    Environment variables only act if set before NumPy is imported; when main() is called from a
    process that already imported NumPy (a test), this is what still fixes the thread count.
    NumPy's own copy is listed first (other packages, e.g. SciPy, may load a second one).
    """

    NAMES = ("scipy_openblas_{}_num_threads64_", "scipy_openblas_{}_num_threads",
             "openblas_{}_num_threads64_", "openblas_{}_num_threads")

    def __init__(self):
        self.libs = []  # (path, get, set)
        try:
            with open("/proc/self/maps") as maps:
                paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
        except OSError:  # not Linux
            return
        for path in sorted(paths, key=lambda p: ("numpy" not in p, p)):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for name in self.NAMES:
                get, set_ = name.format("get"), name.format("set")
                if hasattr(lib, get) and hasattr(lib, set_):
                    getter, setter = getattr(lib, get), getattr(lib, set_)
                    getter.restype, setter.argtypes = ctypes.c_int, [ctypes.c_int]
                    self.libs.append((path, getter, setter))
                    break

    def get(self):
        return [getter() for _, getter, _ in self.libs]

    def set(self, counts):
        for (_, _, setter), n in zip(self.libs, counts):
            setter(n)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def fmt(seconds, unit=None):
    """Format in µs below 1 ms, else in ms; `unit` forces one (to print a range in one unit)."""
    unit = unit or ("µs" if seconds < 1e-3 else "ms")
    value = seconds * (1e6 if unit == "µs" else 1e3)
    return f"{value:.{2 if value < 10 else 1 if value < 100 else 0}f}", unit


def cell(samples):
    import numpy as np
    p25, p50, p75 = np.percentile(samples, [25, 50, 75])
    median, unit = fmt(p50)
    return f"{median} {unit} ({fmt(p25, unit)[0]}–{fmt(p75, unit)[0]})"


@contextlib.contextmanager
def pinned_threads(torch, numba, n):
    """torch, Numba and every loaded OpenBLAS on n threads inside the block, restored after.
    Yields a note saying what NumPy's BLAS got (for the report)."""
    import os
    import sys
    blas = OpenBLAS()
    previous = (torch.get_num_threads(), numba.get_num_threads(), blas.get())
    torch.set_num_threads(n)
    try:
        numba.set_num_threads(n)
    except ValueError:  # above NUMBA_NUM_THREADS, fixed when Numba was imported
        print(f"warning: Numba was started with {numba.config.NUMBA_NUM_THREADS} threads; "
              f"cannot use {n}", file=sys.stderr)
    blas.set([n] * len(blas.libs))
    note = (f"NumPy OpenBLAS {blas.get()[0]}" if blas.libs else "NumPy BLAS by environment "
            f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")
    try:
        yield note
    finally:
        torch.set_num_threads(previous[0])
        try:
            numba.set_num_threads(previous[1])
        except ValueError:
            pass
        blas.set(previous[2])
