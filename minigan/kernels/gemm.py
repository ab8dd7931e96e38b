"""GEMM, C = A @ B of 2-D arrays and of batches of them: every matrix product of minigan's layers
goes through here.

On the CPU, a float32 product runs on Numba's threads, the same threads as minigan's other
kernels. It is split into blocks of columns of C (or of rows, when C is taller than wide), and
a Numba parallel loop calls OpenBLAS's cblas_sgemm once per block:

    C[:, j0:j1] = A @ B[:, j0:j1]

The blocks are a function of the shape alone (`blocks_for`), never of the thread count: the
threads take whole blocks from that fixed list. A BLAS may round a block's elements otherwise
than the same elements of a product of another width (OpenBLAS's Haswell and Zen kernels do;
its SkylakeX kernels do not), so a partition that followed the thread count would make every
number of a training run depend on it. With the partition fixed, 1, 2 or 16 threads give
bit-identical products on any CPU; two CPUs whose BLAS kernels differ still round differently.

OpenBLAS is on one thread during the call (`threads.blas_on_one_thread`: set by the outermost
such block, the product's own or a training loop's around many, and restored when that block
ends). Its own worker threads therefore never run for minigan; if they did, each would spin for
~0.1 s after every product (OPENBLAS_THREAD_TIMEOUT only acts before NumPy loads OpenBLAS) on
the cores that Numba's next kernel needs. cblas_sgemm is found in NumPy's OpenBLAS (the ILP64
build NumPy's wheels ship, `scipy_cblas_sgemm64_`); where it is not (NumPy on another BLAS) and
for float64 (the gradient checks), the product is plain `A @ B`. `blas_gemm` also finds
cblas_dgemm, for the kernels that call a GEMM from inside their own loops (winograd.py's
convolution, in float32 and float64).
"""
import ctypes

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from minigan import backend, threads

SPLIT_FLOPS = 4e6    # below this, waking a second thread costs more than it saves
BLOCK_FLOPS = 32e6   # a block beyond the second has at least this much work: smaller blocks
                     # repack A once more each and run narrower, slower GEMMs
MIN_SIDE = 32        # a block beyond the second has at least this many columns (or rows)
MAX_BLOCKS = 8       # on 2 threads, 8 blocks cost up to 5% more than 2 (16: up to 15%)
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
SIZE = np.dtype(np.float32).itemsize   # bytes per element of the matrices cblas_sgemm reads
SYMBOLS = {np.dtype(np.float32): ("scipy_cblas_sgemm64_", "cblas_sgemm64_"),   # ILP64: 64-bit
           np.dtype(np.float64): ("scipy_cblas_dgemm64_", "cblas_dgemm64_")}   # sizes


@intrinsic
def call_gemm(typingctx, address, order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c,
              ldc):
    """Calls the C function at `address` as cblas_?gemm(order, transA, transB, M, N, K, alpha,
    A, lda, B, ldb, beta, C, ldc): ints and pointers as int32/int64, alpha and beta as float32
    for sgemm, float64 for dgemm. The address is an argument, not a constant, so the kernels
    that call it can be cached."""
    signature = types.void(address, order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

    def codegen(context, builder, sig, args):
        argument_types = [context.get_value_type(t) for t in sig.args[1:]]
        function = ir.FunctionType(ir.VoidType(), argument_types)
        builder.call(builder.inttoptr(args[0], function.as_pointer()), args[1:])
        return context.get_dummy_value()

    return signature, codegen


_addresses = {}


def blas_gemm(dtype):
    """The address of NumPy's ILP64 cblas_sgemm (float32) or cblas_dgemm (float64), or 0 where
    it has none (or for another dtype); looked up once."""
    dtype = np.dtype(dtype)
    if dtype not in _addresses:
        _addresses[dtype] = 0
        for path, _, _ in threads.blas().libs[:1]:   # NumPy's own OpenBLAS is listed first
            lib = ctypes.CDLL(path)
            for name in SYMBOLS.get(dtype, ()):
                if hasattr(lib, name):
                    _addresses[dtype] = ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
                    break
    return _addresses[dtype]


def sgemm():
    """The address of NumPy's ILP64 cblas_sgemm, or 0 where it has none."""
    return blas_gemm(np.float32)


def layout(m):
    """(transposed flag, leading dimension) of the matrices of a 2-D or 3-D float32 array for
    row-major cblas (rows contiguous: not transposed; columns contiguous: transposed), or None
    when its matrices lie neither way."""
    item, (rows, cols), (s_row, s_col) = m.itemsize, m.shape[-2:], m.strides[-2:]
    if s_col == item and s_row % item == 0 and s_row >= cols * item:
        return NO_TRANS, max(s_row // item, 1)
    if s_row == item and s_col % item == 0 and s_col >= rows * item:
        return TRANS, max(s_col // item, 1)
    return None


def operand(m):
    """(m, or a contiguous copy of it, batch stride in elements (0 for one matrix), transposed
    flag, leading dimension)."""
    found = layout(m)
    if found is None or (m.ndim == 3 and m.strides[0] % m.itemsize):
        m = np.ascontiguousarray(m)
        found = layout(m)
    return (m, m.strides[0] // m.itemsize if m.ndim == 3 else 0) + found


def threaded_sgemm(a, b):
    """The cblas_sgemm address to run a @ b with, or 0 for NumPy's own call: no ILP64 OpenBLAS
    found, not float32 on both sides, or an empty axis."""
    fn = sgemm()
    if not fn or a.dtype != np.float32 or b.dtype != np.float32 or 0 in a.shape + b.shape:
        return 0
    return fn


def matmul_reference(a, b):
    return a @ b


@numba.njit(parallel=True, cache=True)
def matmul_cpu(fn, a0, ta, lda, b0, tb, ldb, c0, M, N, K, split_columns, blocks):
    """C (M, N) = A (M, K) @ B (K, N) in float32, in `blocks` blocks of columns (or rows), one
    cblas_sgemm (at address fn) each; Numba's threads share out the blocks. a0, b0, c0: the
    addresses of the first elements (addresses, not arrays: one compiled signature whatever the
    arrays' layouts); ta, tb and lda, ldb say how A and B lie in memory (see `operand`)."""
    length = N if split_columns else M
    for k in numba.prange(blocks):
        lo, hi = length * k // blocks, length * (k + 1) // blocks
        if hi == lo:
            continue
        if split_columns:      # C[:, lo:hi] = A @ B[:, lo:hi]
            rows, cols, pa = M, hi - lo, a0
            pb = b0 + SIZE * (lo if tb == NO_TRANS else lo * ldb)
            pc = c0 + SIZE * lo
        else:                  # C[lo:hi] = A[lo:hi] @ B
            rows, cols, pb = hi - lo, N, b0
            pa = a0 + SIZE * (lo * lda if ta == NO_TRANS else lo)
            pc = c0 + SIZE * lo * N
        call_gemm(fn, np.int32(ROW_MAJOR), np.int32(ta), np.int32(tb), np.int64(rows),
                   np.int64(cols), np.int64(K), np.float32(1), pa, np.int64(lda), pb,
                   np.int64(ldb), np.float32(0), pc, np.int64(N))


def matmul_gpu(a, b):
    return a @ b  # cuBLAS


def blocks_for(rows, cols, K):
    """How many blocks C (rows, cols) = A (rows, K) @ B (K, cols) is computed in: 1 below
    SPLIT_FLOPS, else the largest power of two up to MAX_BLOCKS that leaves each block at least
    BLOCK_FLOPS and MIN_SIDE columns (rows, if C is taller than wide), and at least 2. A function
    of the shape alone, so the numbers do not depend on the thread count (the module docstring);
    a power of two, so the blocks share out evenly over 1, 2, 4 or 8 threads."""
    flops = 2.0 * rows * cols * K
    if flops < SPLIT_FLOPS or max(rows, cols) < 2:
        return 1
    most = min(MAX_BLOCKS, flops / BLOCK_FLOPS, max(rows, cols) / MIN_SIDE)
    blocks = 2
    while 2 * blocks <= most:
        blocks *= 2
    return blocks


def pieces_for(flops):
    """Numba's threads for a batch of products that each run as one call (whichever thread
    runs an item, its numbers are the same), or 1 for a small batch."""
    return numba.get_num_threads() if flops >= SPLIT_FLOPS else 1


def on_one_blas_thread(compute, *args):
    """compute(*args) with every OpenBLAS of the process on one thread: inside
    threads.blas_on_one_thread, which reads and sets the thread counts only where no
    enclosing block (a training loop's) has already."""
    with threads.blas_on_one_thread():
        return compute(*args)


def matmul(a, b):
    """a @ b for 2-D arrays a (M, K) and b (K, N). An outer product (K = 1) is a broadcast
    multiply, which OpenBLAS would run as a GEMM about 7x slower."""
    if a.shape[1] == 1 and b.shape[0] == 1:
        return a * b
    if backend.on_gpu(a):
        return matmul_gpu(a, b)
    fn = threaded_sgemm(a, b)
    if not fn:
        return a @ b
    rows, K, cols = a.shape[0], a.shape[1], b.shape[1]
    blocks = blocks_for(rows, cols, K)
    if blocks == 1:  # too small to split: NumPy's call, on one OpenBLAS thread
        return on_one_blas_thread(np.matmul, a, b)
    (a, _, ta, lda), (b, _, tb, ldb) = operand(a), operand(b)
    out = np.empty((rows, cols), dtype=np.float32)
    on_one_blas_thread(matmul_cpu, fn, a.ctypes.data, ta, lda, b.ctypes.data, tb, ldb,
                       out.ctypes.data, rows, cols, K, cols >= rows, blocks)
    return out


def batched_matmul_reference(a, b):
    return np.matmul(a, b)


@numba.njit(parallel=True, cache=True)
def batched_matmul_cpu(fn, a0, sa, ta, lda, b0, sb, tb, ldb, c0, batch, M, N, K, pieces):
    """C[i] = A[i] @ B[i] for i < batch, C (batch, M, N), one cblas_sgemm each, the batch in
    `pieces`; a0, b0, c0 the addresses of the first elements (as matmul_cpu); sa, sb: the
    elements from one matrix of a batch to the next (0: one matrix for all)."""
    for k in numba.prange(pieces):
        for i in range(batch * k // pieces, batch * (k + 1) // pieces):
            call_gemm(fn, np.int32(ROW_MAJOR), np.int32(ta), np.int32(tb), np.int64(M),
                       np.int64(N), np.int64(K), np.float32(1), a0 + SIZE * i * sa, np.int64(lda),
                       b0 + SIZE * i * sb, np.int64(ldb), np.float32(0), c0 + SIZE * i * M * N,
                       np.int64(N))


def batched_matmul_gpu(a, b):
    return backend.xp_of(a).matmul(a, b)  # cuBLAS, batched


def batched_matmul(a, b):
    """np.matmul of a batch of matrices: a (B, M, K) or (M, K), b (B, K, N) or (K, N)."""
    if backend.on_gpu(a) or backend.on_gpu(b):
        return batched_matmul_gpu(a, b)
    fn = threaded_sgemm(a, b)
    if not fn:
        return np.matmul(a, b)
    batch = a.shape[0] if a.ndim == 3 else b.shape[0]
    M, K, N = a.shape[-2], a.shape[-1], b.shape[-1]
    (a, sa, ta, lda), (b, sb, tb, ldb) = operand(a), operand(b)
    out = np.empty((batch, M, N), dtype=np.float32)
    pieces = min(pieces_for(2.0 * batch * M * N * K), batch)
    on_one_blas_thread(batched_matmul_cpu, fn, a.ctypes.data, sa, ta, lda, b.ctypes.data, sb, tb,
                       ldb, out.ctypes.data, batch, M, N, K, pieces)
    return out
