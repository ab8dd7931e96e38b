"""The threads minigan computes on, controlled at run time, whatever was imported first.

The rule: minigan computes on Numba's threads only, and no other pool's threads are left
spinning on the cores those need. OpenBLAS's workers spin for about 0.1 s after each GEMM they
share (OPENBLAS_THREAD_TIMEOUT only acts if set before NumPy loads OpenBLAS), so minigan's GEMMs
(kernels/gemm.py) run OpenBLAS on one thread inside Numba's parallel loops (blas_on_one_thread,
entered once by a training loop or by each product), and OpenBLAS's workers never wake for
minigan. minigan's thread count is Numba's (`numba.set_num_threads`, or
NUMBA_NUM_THREADS). Nothing here depends on what was imported first: NumPy's OpenBLAS is found
and set through ctypes at run time (what threadpoolctl does).
"""
import contextlib
import ctypes
import threading

import numba


class OpenBLAS:
    """Every loaded OpenBLAS's thread count through ctypes (what threadpoolctl does).

    Environment variables only act if set before NumPy is imported; in a process that already
    imported NumPy (a test, a notebook), this is what still changes the thread count. NumPy's own
    copy is listed first (other packages, e.g. SciPy, may load a second one).
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


@contextlib.contextmanager
def limited(n):
    """Numba and every loaded OpenBLAS on n threads inside the block, restored after: for tiny
    arrays, waking a second thread costs more than it saves. Inside blas_on_one_thread,
    OpenBLAS stays on one thread."""
    blas = OpenBLAS()
    previous = (numba.get_num_threads(), blas.get())
    numba.set_num_threads(n)
    if not _one_blas_thread.depth:  # inside blas_on_one_thread, OpenBLAS stays on one
        blas.set([n] * len(blas.libs))
    try:
        yield
    finally:
        numba.set_num_threads(previous[0])
        blas.set(previous[1])


_blas = None


def blas():
    """The OpenBLAS libraries of this process, looked up once (NumPy has loaded its own by the
    time minigan is imported). Empty where NumPy uses another BLAS or the OS has no /proc."""
    global _blas
    if _blas is None:
        _blas = OpenBLAS()
    return _blas


class _OneBlasThread:
    """The scope of `blas_on_one_thread`: entering the outermost block reads every OpenBLAS's
    thread count and sets it to one, leaving it restores the counts read; a block entered
    inside another (a product's inside a training step's) only counts its depth. The count is
    process-wide, as OpenBLAS's is, and the lock keeps Python threads from restoring it while
    another one is still inside."""

    def __init__(self):
        self.depth, self.saved, self.lock = 0, [], threading.Lock()

    def __enter__(self):
        with self.lock:
            if self.depth == 0:
                self.saved = blas().get()
                blas().set([1] * len(self.saved))
            self.depth += 1
        return self

    def __exit__(self, *exc_info):
        with self.lock:
            self.depth -= 1
            if self.depth == 0:
                blas().set(self.saved)


_one_blas_thread = _OneBlasThread()


def blas_on_one_thread():
    """Every loaded OpenBLAS on one thread inside the block, its counts restored when the
    outermost such block ends: `with threads.blas_on_one_thread(): ...`.

    minigan's GEMMs (kernels/gemm.py) enter it around each product, so a product made anywhere
    puts OpenBLAS on one thread and back. A training loop may enter it once around all its
    steps: the products inside then only count the depth, and OpenBLAS's threads are read and
    set once for the run. NumPy's own products inside the block (float64, a metric) run on
    one thread too."""
    return _one_blas_thread
