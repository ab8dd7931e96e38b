"""im2col / col2im: unfold image patches into columns so a convolution becomes one GEMM.

x (N, C, H, W) -> cols (C*KH*KW, N*OH*OW): row (c, i, j), column (n, oh, ow) holds
x[n, c, oh*S - PT + i, ow*S - PL + j] (zero outside the image). With every image side by side,
the whole batch's convolution is one large GEMM with contiguous operands,
W (OC, C*KH*KW) @ cols, which beats one small GEMM per image (measured in benchmarks/).
col2im is the adjoint: it adds every column entry back into the pixel it came from.
"""
import numba
import numpy as np

from minigan import backend
from minigan.kernels import cuda

CUDA_SOURCE = r"""
// im2col: one thread per element of cols (C*KH*KW, N*OH*OW); consecutive threads write
// consecutive columns (coalesced). Row (c, i, j), column (n, oh, ow) holds
// x[n, c, oh*S - PT + i, ow*S - PL + j], or 0 outside the image.
extern "C" __global__ void minigan_im2col_SUFFIX(const scalar_t* x, scalar_t* cols,
        long long N, long long C, long long H, long long W, long long KH, long long KW,
        long long S, long long PT, long long PL, long long OH, long long OW) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long ncols = N * OH * OW;
    if (idx >= C * KH * KW * ncols) return;
    long long row = idx / ncols, col = idx - row * ncols;
    long long j = row % KW, i = (row / KW) % KH, c = row / (KW * KH);
    long long ow = col % OW, oh = (col / OW) % OH, n = col / (OW * OH);
    long long h = oh * S - PT + i, w = ow * S - PL + j;
    cols[idx] = (h >= 0 && h < H && w >= 0 && w < W) ? x[((n * C + c) * H + h) * W + w]
                                                     : (scalar_t)0;
}

// col2im: one thread per pixel of x (N, C, H, W), gathering (no atomics) every column entry
// that im2col copied from it, in the order (i, j) as the Numba loop adds them.
extern "C" __global__ void minigan_col2im_SUFFIX(const scalar_t* cols, scalar_t* x,
        long long N, long long C, long long H, long long W, long long KH, long long KW,
        long long S, long long PT, long long PL, long long OH, long long OW) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= N * C * H * W) return;
    long long w = idx % W, h = (idx / W) % H, c = (idx / (W * H)) % C, n = idx / (W * H * C);
    long long ncols = N * OH * OW;
    scalar_t sum = 0;
    for (long long i = 0; i < KH; ++i) {
        long long hh = h + PT - i;                    // = oh * S for the window that covers h
        if (hh < 0 || hh % S != 0 || hh / S >= OH) continue;
        for (long long j = 0; j < KW; ++j) {
            long long ww = w + PL - j;
            if (ww < 0 || ww % S != 0 || ww / S >= OW) continue;
            sum += cols[((c * KH + i) * KW + j) * ncols + (n * OH + hh / S) * OW + ww / S];
        }
    }
    x[idx] = sum;
}
"""


@numba.njit(cache=True)
def inside(j, S, PL, W, OW):
    """(lo, hi): the outputs ow in [lo, hi) whose window column ow*S - PL + j lies in [0, W)."""
    lo = min(max(0, (PL - j + S - 1) // S), OW)
    return lo, max(min(OW, (W - 1 + PL - j) // S + 1), lo)


def im2col_reference(x, KH, KW, S, PT, PL, OH, OW):
    N, C, H, W = x.shape
    padded = np.zeros((N, C, max(H + PT, (OH - 1) * S + KH), max(W + PL, (OW - 1) * S + KW)),
                      dtype=x.dtype)  # zero padding, wide enough for every window
    padded[:, :, PT:PT + H, PL:PL + W] = x
    cols = np.empty((C, KH, KW, N, OH, OW), dtype=x.dtype)
    for i in range(KH):
        for j in range(KW):
            patch = padded[:, :, i:i + (OH - 1) * S + 1:S, j:j + (OW - 1) * S + 1:S]
            cols[:, i, j] = patch.transpose(1, 0, 2, 3)
    return cols.reshape(C * KH * KW, N * OH * OW)


@numba.njit(parallel=True, cache=True)
def im2col_cpu(x, KH, KW, S, PT, PL, OH, OW):
    N, C, H, W = x.shape
    cols = np.empty((C * KH * KW, N * OH * OW), dtype=x.dtype)
    for n in numba.prange(N):  # each image fills its own block of columns
        for c in range(C):
            for i in range(KH):
                for j in range(KW):
                    row = (c * KH + i) * KW + j
                    ow_lo, ow_hi = inside(j, S, PL, W, OW)   # ow whose column is in the image
                    for oh in range(OH):
                        h = oh * S - PT + i
                        col = (n * OH + oh) * OW
                        if h < 0 or h >= H:
                            for ow in range(OW):
                                cols[row, col + ow] = 0
                            continue
                        for ow in range(ow_lo):
                            cols[row, col + ow] = 0
                        for ow in range(ow_lo, ow_hi):
                            cols[row, col + ow] = x[n, c, h, ow * S - PL + j]
                        for ow in range(ow_hi, OW):
                            cols[row, col + ow] = 0
    return cols


def im2col_gpu(x, KH, KW, S, PT, PL, OH, OW):
    xp = backend.xp_of(x)
    x = xp.ascontiguousarray(x)
    N, C, H, W = x.shape
    cols = xp.empty((C * KH * KW, N * OH * OW), dtype=x.dtype)
    cuda.launch(CUDA_SOURCE, "minigan_im2col_SUFFIX", cols.size, x.dtype,
                x, cols, N, C, H, W, KH, KW, S, PT, PL, OH, OW)
    return cols


def im2col(x, KH, KW, S, PT, PL, OH, OW):
    """x (N, C, H, W) -> cols (C*KH*KW, N*OH*OW)."""
    if backend.on_gpu(x):
        return im2col_gpu(x, KH, KW, S, PT, PL, OH, OW)
    return im2col_cpu(np.ascontiguousarray(x), KH, KW, S, PT, PL, OH, OW)


def col2im_reference(cols, H, W, KH, KW, S, PT, PL, OH, OW):
    CKK, NOHOW = cols.shape
    C, N = CKK // (KH * KW), NOHOW // (OH * OW)
    cols = cols.reshape(C, KH, KW, N, OH, OW).transpose(3, 0, 1, 2, 4, 5)  # (N, C, KH, KW, OH, OW)
    padded = np.zeros((N, C, max(H + PT, (OH - 1) * S + KH), max(W + PL, (OW - 1) * S + KW)),
                      dtype=cols.dtype)
    for i in range(KH):
        for j in range(KW):
            padded[:, :, i:i + (OH - 1) * S + 1:S, j:j + (OW - 1) * S + 1:S] += cols[:, :, i, j]
    return padded[:, :, PT:PT + H, PL:PL + W].copy()


@numba.njit(parallel=True, cache=True)
def col2im_cpu(cols, H, W, KH, KW, S, PT, PL, OH, OW):
    CKK, NOHOW = cols.shape
    C, N = CKK // (KH * KW), NOHOW // (OH * OW)
    x = np.zeros((N, C, H, W), dtype=cols.dtype)
    for n in numba.prange(N):  # images are independent: no two threads add into one pixel
        for c in range(C):
            for i in range(KH):
                for j in range(KW):
                    row = (c * KH + i) * KW + j
                    ow_lo, ow_hi = inside(j, S, PL, W, OW)
                    for oh in range(OH):
                        h = oh * S - PT + i
                        if h < 0 or h >= H:
                            continue
                        col = (n * OH + oh) * OW
                        if S == 1:  # unit stride: contiguous runs, which the compiler vectorizes
                            dst = x[n, c, h, ow_lo - PL + j:ow_hi - PL + j]
                            src = cols[row, col + ow_lo:col + ow_hi]
                            for k in range(ow_hi - ow_lo):
                                dst[k] += src[k]
                        else:
                            for ow in range(ow_lo, ow_hi):
                                x[n, c, h, ow * S - PL + j] += cols[row, col + ow]
    return x


def col2im_gpu(cols, H, W, KH, KW, S, PT, PL, OH, OW):
    xp = backend.xp_of(cols)
    cols = xp.ascontiguousarray(cols)
    C, N = cols.shape[0] // (KH * KW), cols.shape[1] // (OH * OW)
    x = xp.empty((N, C, H, W), dtype=cols.dtype)
    cuda.launch(CUDA_SOURCE, "minigan_col2im_SUFFIX", x.size, cols.dtype,
                cols, x, N, C, H, W, KH, KW, S, PT, PL, OH, OW)
    return x


def col2im(cols, H, W, KH, KW, S, PT, PL, OH, OW):
    """cols (C*KH*KW, N*OH*OW) -> x (N, C, H, W), summing overlapping patches."""
    if backend.on_gpu(cols):
        return col2im_gpu(cols, H, W, KH, KW, S, PT, PL, OH, OW)
    return col2im_cpu(np.ascontiguousarray(cols), H, W, KH, KW, S, PT, PL, OH, OW)
