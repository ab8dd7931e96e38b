"""minigan's threads: its GEMMs run on Numba's threads with OpenBLAS on one thread, so OpenBLAS's
own workers never run for minigan, whatever the script imported first (checked in fresh
processes); a product in blocks is the product within float32 rounding; and the numbers do not
depend on the thread count."""
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



def test_a_block_sets_the_openblas_threads_once_for_every_product_inside(monkeypatch):
    """Inside blas_on_one_thread (a training loop's), the products touch no thread count; the
    outermost block sets them once and restores them; limited() inside leaves OpenBLAS on one."""
    blas = threads.blas()
    if not blas.libs:
        pytest.skip("NumPy uses no OpenBLAS here")
    before = blas.get()
    blas.set([2] * len(before))
    sets, set_counts = [], blas.set
    monkeypatch.setattr(blas, "set", lambda counts: sets.append(list(counts)) or set_counts(counts))
    a = np.ones((64, 300), np.float32)
    try:
        with threads.blas_on_one_thread():
            for _ in range(3):
                gemm.matmul(a, a.T)
                gemm.batched_matmul(a[None], a.T[None])
            with threads.limited(2):
                assert blas.get() == [1] * len(before)
            assert blas.get() == [1] * len(before)
        assert blas.get() == [2] * len(before)
        assert sets == [[1] * len(before), [2] * len(before)]
    finally:
        set_counts(before)

UNIT = 2.0 ** -24   # float32's unit roundoff


def assert_float32_product(got, a, b):
    """got = a @ b as float32 computes it: each element is a K-term dot product, whose float32
    sum in any order and blocking lies within K * u * (|a| @ |b|) of the exact one (the classic
    bound gamma_K, u = 2^-24), plus the last rounding to float32, u * |exact|."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    exact = a64 @ b64
    bound = a.shape[1] * UNIT * (np.abs(a64) @ np.abs(b64)) + UNIT * np.abs(exact)
    assert got.dtype == np.float32 and got.shape == exact.shape
    excess = np.abs(got - exact) - bound
    assert excess.max() <= 0, f"{(excess > 0).sum()} elements beyond float32's rounding"


def operands(a_shape, b_shape, transposed, seed=0):
    """Random float32 a, b; stored column by column where transposed says (the layers pass
    transposed views: W.T, cols.T)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(a_shape).astype(np.float32)
    b = rng.standard_normal(b_shape).astype(np.float32)
    if transposed[0]:
        a = np.ascontiguousarray(a.T).T
    if transposed[1]:
        b = np.ascontiguousarray(b.T).T
    return a, b


SHAPES = [((64, 288), (288, 3000)), ((288, 64), (64, 3000)), ((64, 3000), (3000, 288)),
          ((300, 7), (7, 5)), ((1, 50), (50, 1)), ((64, 5000), (5000, 1))]
TRANSPOSED = [(False, False), (True, False), (False, True), (True, True)]


@pytest.mark.parametrize("a_shape, b_shape", SHAPES)
@pytest.mark.parametrize("transposed", TRANSPOSED)
def test_a_product_in_blocks_is_the_product_within_float32_rounding(a_shape, b_shape,
                                                                    transposed):
    """Every block count and direction computes every element once, at its place: a wrong
    offset or leading dimension would miss the bound by the size of the elements themselves."""
    a, b = operands(a_shape, b_shape, transposed)
    (a2, _, ta, lda), (b2, _, tb, ldb) = gemm.operand(a), gemm.operand(b)
    for columns in (True, False):
        for blocks in (1, 2, 3, 8):
            out = np.full((a.shape[0], b.shape[1]), np.nan, np.float32)
            gemm.on_one_blas_thread(gemm.matmul_cpu, gemm.sgemm(), a2.ctypes.data, ta, lda,
                                    b2.ctypes.data, tb, ldb, out.ctypes.data, *out.shape,
                                    a.shape[1], columns, blocks)
            assert_float32_product(out, a, b)
    assert_float32_product(gemm.matmul(a, b), a, b)


def test_the_blocks_follow_the_shape_alone():
    assert gemm.blocks_for(64, 128, 100) == 1                    # under SPLIT_FLOPS
    assert gemm.blocks_for(64, 1, 50176) == 2                    # a matrix-vector product
    assert gemm.blocks_for(64, 784, 1024) == 2                   # 103 MFLOP: 3.2 blocks' worth
    assert gemm.blocks_for(64, 80, 50960) == 2                   # 80 columns: 2.5 blocks wide
    assert gemm.blocks_for(1024, 3136, 128) == gemm.MAX_BLOCKS   # 822 MFLOP
    for rows, cols, K in [(64, 784, 1024), (32, 50176, 9), (5000, 3, 400), (2, 2, 10 ** 6)]:
        blocks = gemm.blocks_for(rows, cols, K)
        assert blocks & (blocks - 1) == 0 and 1 <= blocks <= gemm.MAX_BLOCKS   # a power of two
        assert blocks <= max(rows, cols)


# A fresh process with 8 of Numba's threads computes products of the layers' shapes and a
# Winograd convolution's gradients, the direct convolution, im2col's products image by image and
# Winograd on the phases (forward and gradients) on 1, 2, 3 and 8 threads, and reports for each
# the block counts matmul used and a digest of every number.
THREAD_COUNTS = r"""
import hashlib, json
import numba
import numpy as np
from minigan.kernels import conv_direct, conv_per_image, conv_phases, gemm, winograd

rng = np.random.default_rng(0)
def array(*shape):
    return rng.standard_normal(shape).astype(np.float32)
products = [(array(64, 1024), array(784, 1024).T), (array(64, 784).T, array(64, 1024)),
            (array(1024, 128).T.copy().T, array(128, 3136)), (array(64, 80), array(80, 50960)),
            (array(32, 50176), array(9, 50176).T), (array(64, 50176), array(50176, 1))]
x, gy, U = array(16, 32, 14, 14), array(16, 64, 14, 14), array(36, 64, 32)
xp, w1, b1, gy1 = array(16, 1, 30, 30), array(32, 1, 3, 3), array(32), array(16, 32, 28, 28)
w4, gy4 = array(64, 32 * 16), array(16, 64, 7, 7)
U4 = array(25, 64, 4 * 32)
blocks_used, real = [], gemm.matmul_cpu
def matmul_cpu(*args):
    blocks_used.append(int(args[-1]))
    return real(*args)
gemm.matmul_cpu = matmul_cpu
report = {}
for threads in (1, 2, 3, 8):
    numba.set_num_threads(threads)
    blocks_used.clear()
    digest = hashlib.sha256()
    for a, b in products:
        digest.update(gemm.matmul(a, b).tobytes())
    for grad in winograd.convolve_grads(x, gy, U, 1, 1):
        digest.update(grad.tobytes())
    for out in (conv_direct.forward(xp, w1, b1, 1, 28, 28),
                conv_direct.input_grad(gy1, w1, 28, 28, 1, 1, 1),
                conv_direct.weight_grad(xp, gy1, 3, 3, 1),
                conv_per_image.forward(x, w4, b1[:1].repeat(64), 4, 4, 2, 1, 1, 7, 7),
                conv_per_image.input_grad(gy4, w4, 14, 14, 4, 4, 2, 1, 1),
                conv_per_image.weight_grad(x, gy4, 4, 4, 2, 1, 1),
                conv_phases.forward(x, U4.transpose(0, 2, 1), b1[:1].repeat(64), 1, 1, 7, 7),
                *conv_phases.grads(x, gy4, U4, 14, 14, 1, 1)):
        digest.update(out.tobytes())
    report[threads] = {"blocks": list(blocks_used), "digest": digest.hexdigest()}
print(json.dumps(report))
"""


def test_the_numbers_do_not_depend_on_the_thread_count():
    """The partition of a product into blocks, and of a batch into the runs whose weight
    gradients are summed apart, follow the shape alone: any thread count gives the same bits
    (on a BLAS that rounds a block otherwise than the whole, the digest would show a thread
    count that changed the partition; on any BLAS, the block counts do)."""
    env = dict(os.environ, PYTHONPATH=REPO, NUMBA_NUM_THREADS="8")
    out = subprocess.run([sys.executable, "-c", THREAD_COUNTS], capture_output=True, text=True,
                         env=env, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["1"]["blocks"] == [2, 2, 8, 8, 2, 2], report["1"]
    for count in ("2", "3", "8"):
        assert report[count] == report["1"], count


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
    np.testing.assert_array_equal(got, gemm.matmul_reference(a, b))
    u = rng.standard_normal((5, 1)).astype(np.float32)
    v = rng.standard_normal((1, 7)).astype(np.float32)
    np.testing.assert_allclose(gemm.matmul(u, v), u @ v, rtol=1e-6)


def test_layout_reads_rows_or_columns_and_refuses_anything_else():
    m = np.zeros((4, 6), np.float32)
    assert gemm.layout(m) == (gemm.NO_TRANS, 6)
    assert gemm.layout(m.T) == (gemm.TRANS, 6)
    assert gemm.layout(m[:, 1:4]) == (gemm.NO_TRANS, 6)
    assert gemm.layout(m[:, ::2]) is None
