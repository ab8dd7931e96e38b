"""minigan's threads: its GEMMs run on Numba's threads with OpenBLAS on one thread, so OpenBLAS's
own workers never run for minigan, whatever the script imported first (checked in fresh
processes); and a product in blocks equals the product in one piece."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from minigan import threads
from minigan.kernels import gemm

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A fresh process imports in the order given, wakes OpenBLAS's workers with GEMMs of its own
# (the threads besides the main one that work during them are OpenBLAS's), lets them sleep,
# trains a convolution through minigan, and reports the CPU time those workers used meanwhile.
# A last plain NumPy GEMM shows that the measurement sees them work when they do.
CHILD = r"""
import json, os, sys, time
for name in sys.argv[1].split(","):
    __import__(name)
import numpy as np

def cpu_ticks():
    ticks = {}
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks[tid] = int(fields[11]) + int(fields[12])
    return ticks

big = np.ones((1500, 1500), np.float32)
before = cpu_ticks()
for _ in range(5):
    big @ big
after = cpu_ticks()
workers = {t for t in after if t != str(os.getpid()) and after[t] - before.get(t, 0) >= 2}
time.sleep(0.5)
import minigan as mg
from minigan.kernels import gemm
start = cpu_ticks()
x = mg.tensor(np.ones((32, 16, 28, 28), np.float32), requires_grad=True)
w = mg.tensor(np.ones((32, 16, 3, 3), np.float32), requires_grad=True)
d = mg.tensor(np.ones((32 * 28 * 28, 8), np.float32), requires_grad=True)
for _ in range(5):
    for algorithm in ("im2col", "winograd"):
        y = mg.functional.conv2d(x, w, algorithm=algorithm)
        (y.reshape(32, -1) @ d).sum().backward()
minigan_ticks = cpu_ticks()
for _ in range(5):
    big @ big
numpy_ticks = cpu_ticks()
print(json.dumps({
    "workers": len(workers), "sgemm": gemm.sgemm() is not None,
    "during_minigan": sum(minigan_ticks[t] - start[t] for t in workers),
    "minigan_total": sum(minigan_ticks.values()) - sum(start.values()),
    "during_numpy": sum(numpy_ticks[t] - minigan_ticks[t] for t in workers)}))
"""


def child(order):
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop("OPENBLAS_NUM_THREADS", None)
    out = subprocess.run([sys.executable, "-c", CHILD, order], capture_output=True, text=True,
                         env=env, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif((os.cpu_count() or 1) < 2 or not os.path.isdir("/proc/self/task"),
                    reason="needs 2 cores and Linux's per-thread CPU times")
@pytest.mark.parametrize("order", ["numpy,torch", "numpy"])
def test_openblas_workers_never_run_for_minigan_whatever_was_imported_first(order):
    if "torch" in order:
        pytest.importorskip("torch")
    got = child(order)
    assert got["sgemm"], "NumPy's cblas_sgemm was not found: minigan's GEMMs ran as plain a @ b"
    assert got["workers"] >= 1, got
    assert got["minigan_total"] >= 20, got           # minigan did work (ticks of 10 ms)
    assert got["during_minigan"] <= 2, got           # ... and OpenBLAS's workers none of it
    assert got["during_numpy"] >= 5, got             # they do run (and spin) for NumPy's @


def test_the_openblas_thread_count_is_restored_after_a_product():
    blas = threads.blas()
    before = blas.get()
    a = np.ones((64, 300), np.float32)
    gemm.matmul(a, a.T)
    assert blas.get() == before


@pytest.mark.parametrize("a_shape, b_shape", [((64, 288), (288, 3000)), ((288, 64), (64, 3000)),
                                              ((64, 3000), (3000, 288)), ((300, 7), (7, 5)),
                                              ((1, 50), (50, 1)), ((64, 5000), (5000, 1))])
@pytest.mark.parametrize("transposed", [(False, False), (True, False), (False, True),
                                        (True, True)])
@pytest.mark.parametrize("pieces", [1, 2, 3])
def test_a_product_in_blocks_is_bit_identical_to_one_product(a_shape, b_shape, transposed,
                                                             pieces):
    """Each block computes its elements as cblas_sgemm does for the whole product, so the
    split changes no number, except where C has one column or row: OpenBLAS then runs a
    matrix-vector product whose rounding may depend on the block (within float32 rounding, as
    NumPy's a @ b, which may take another routine or split a sum over threads)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal(a_shape).astype(np.float32)
    b = rng.standard_normal(b_shape).astype(np.float32)
    if transposed[0]:  # the layers pass transposed views (W.T, cols.T)
        a = np.ascontiguousarray(a.T).T
    if transposed[1]:
        b = np.ascontiguousarray(b.T).T
    (a2, _, ta, lda), (b2, _, tb, ldb) = gemm.operand(a), gemm.operand(b)

    def blocks(columns, pieces):
        out = np.empty((a.shape[0], b.shape[1]), np.float32)
        gemm.on_one_blas_thread(gemm.matmul_cpu, gemm.sgemm(), a2, ta, lda, b2, tb, ldb, out,
                                columns, pieces)
        return out

    whole = blocks(True, 1)
    same = np.testing.assert_array_equal if min(whole.shape) > 1 else \
        lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-4)
    for columns in (True, False):
        same(blocks(columns, pieces), whole)
    same(gemm.matmul(a, b), whole)
    np.testing.assert_allclose(whole, a @ b, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("a_shape, b_shape", [((6, 4, 5), (6, 5, 7)), ((4, 5), (6, 5, 7)),
                                              ((6, 4, 5), (5, 7)), ((36, 16, 8), (36, 8, 300))])
@pytest.mark.parametrize("view", ["contiguous", "transposed", "strided"])
def test_batched_products_equal_numpys(a_shape, b_shape, view):
    rng = np.random.default_rng(1)
    a = rng.standard_normal(a_shape).astype(np.float32)
    b = rng.standard_normal(b_shape).astype(np.float32)
    if view == "transposed" and b.ndim == 3:      # each matrix stored column by column
        b = np.ascontiguousarray(b.transpose(0, 2, 1)).transpose(0, 2, 1)
    if view == "strided" and b.ndim == 3:         # the batch axis not outermost in memory
        b = np.ascontiguousarray(b.transpose(1, 0, 2)).transpose(1, 0, 2)
    expected = gemm.on_one_blas_thread(gemm.batched_matmul_reference, a, b)
    got = gemm.batched_matmul(a, b)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_float64_and_outer_products_take_numpys_path():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((40, 30)), rng.standard_normal((30, 20))
    got = gemm.matmul(a, b)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, a @ b)
    u = rng.standard_normal((5, 1)).astype(np.float32)
    v = rng.standard_normal((1, 7)).astype(np.float32)
    np.testing.assert_allclose(gemm.matmul(u, v), u @ v, rtol=1e-6)


def test_layout_reads_rows_or_columns_and_refuses_anything_else():
    m = np.zeros((4, 6), np.float32)
    assert gemm.layout(m) == (gemm.NO_TRANS, 6)
    assert gemm.layout(m.T) == (gemm.TRANS, 6)
    assert gemm.layout(m[:, 1:4]) == (gemm.NO_TRANS, 6)
    assert gemm.layout(m[:, ::2]) is None
