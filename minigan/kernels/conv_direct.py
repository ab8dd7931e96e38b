"""The direct convolution, for inputs of few channels (the discriminator's first layer reads one):
every output is its C*KH*KW multiply-adds, written out, with no im2col and no GEMM.

    y[n, o, oh, ow] = sum over c, i, j of W[o, c, i, j] * xp[n, c, oh*S + i, ow*S + j]  (+ b[o])

xp is x zero padded to (Hp, Wp) = ((OH - 1)*S + KH, (OW - 1)*S + KW), x at offset (PT, PL)
(`pad`, made once by the forward pass and kept for the weight gradient). im2col would turn a
1-channel image into a GEMM of depth C*KH*KW = 9, where a BLAS spends its time packing, not
multiplying. Backward, with gy (N, OC, OH, OW):

    dW[o, c, i, j] = sum over n, oh, ow of gy[n, o, oh, ow] * xp[n, c, oh*S + i, ow*S + j]
    dxp[n, c, oh*S + i, ow*S + j] += W[o, c, i, j] * gy[n, o, oh, ow]   (dx: dxp's x window)

The CPU kernels take the batch image by image, a thread taking whole images: an image's
columns (its im2col, C*KH*KW rows of OH*OW) are made in a buffer that stays in the core's cache,
and every loop that multiplies runs along a contiguous row of OH*OW values, which the compiler
vectorizes. Each sum has one fixed order whatever the thread count: y and dx within an image,
dW one dot product per image and weight, then over the images in order.
"""
import numba
import numpy as np

from minigan import backend
from minigan.kernels import cuda

CUDA_SOURCE = r"""
// Forward: one thread per output y[n, o, oh, ow], summing over (c, i, j) in order, then + b[o].
extern "C" __global__ void minigan_conv_direct_SUFFIX(const scalar_t* xp, const scalar_t* w,
        const scalar_t* b, scalar_t* y, long long N, long long C, long long Hp, long long Wp,
        long long OC, long long KH, long long KW, long long S, long long OH, long long OW) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= N * OC * OH * OW) return;
    long long ow = idx % OW, oh = (idx / OW) % OH, o = (idx / (OW * OH)) % OC;
    long long n = idx / (OW * OH * OC);
    scalar_t sum = 0;
    for (long long c = 0; c < C; ++c)
        for (long long i = 0; i < KH; ++i)
            for (long long j = 0; j < KW; ++j)
                sum += w[((o * C + c) * KH + i) * KW + j]
                     * xp[((n * C + c) * Hp + oh * S + i) * Wp + ow * S + j];
    y[idx] = sum + b[o];
}

// dx: one thread per pixel x[n, c, h, w], gathering every output its padded pixel
// (h + PT, w + PL) fed: oh*S + i = h + PT, ow*S + j = w + PL; o, i, j in order.
extern "C" __global__ void minigan_conv_direct_input_grad_SUFFIX(const scalar_t* gy,
        const scalar_t* w, scalar_t* gx, long long N, long long C, long long H, long long W,
        long long OC, long long KH, long long KW, long long S, long long PT, long long PL,
        long long OH, long long OW) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= N * C * H * W) return;
    long long x_w = idx % W, x_h = (idx / W) % H, c = (idx / (W * H)) % C, n = idx / (W * H * C);
    long long hp = x_h + PT, wp = x_w + PL;
    scalar_t sum = 0;
    for (long long o = 0; o < OC; ++o)
        for (long long i = 0; i < KH; ++i) {
            long long hh = hp - i;
            if (hh < 0 || hh % S != 0 || hh / S >= OH) continue;
            for (long long j = 0; j < KW; ++j) {
                long long ww = wp - j;
                if (ww < 0 || ww % S != 0 || ww / S >= OW) continue;
                sum += w[((o * C + c) * KH + i) * KW + j]
                     * gy[((n * OC + o) * OH + hh / S) * OW + ww / S];
            }
        }
    gx[idx] = sum;
}

// dW: one thread per weight W[o, c, i, j], summing over (n, oh, ow) in order.
extern "C" __global__ void minigan_conv_direct_weight_grad_SUFFIX(const scalar_t* xp,
        const scalar_t* gy, scalar_t* gw, long long N, long long C, long long Hp, long long Wp,
        long long OC, long long KH, long long KW, long long S, long long OH, long long OW) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= OC * C * KH * KW) return;
    long long j = idx % KW, i = (idx / KW) % KH, c = (idx / (KW * KH)) % C, o = idx / (KW * KH * C);
    scalar_t sum = 0;
    for (long long n = 0; n < N; ++n)
        for (long long oh = 0; oh < OH; ++oh)
            for (long long ow = 0; ow < OW; ++ow)
                sum += gy[((n * OC + o) * OH + oh) * OW + ow]
                     * xp[((n * C + c) * Hp + oh * S + i) * Wp + ow * S + j];
    gw[idx] = sum;
}
"""


def padded_size(KH, KW, S, OH, OW):
    """(Hp, Wp): the padded input every output window lies in."""
    return (OH - 1) * S + KH, (OW - 1) * S + KW


# pad: x (N, C, H, W) -> xp (N, C, Hp, Wp), x at (PT, PL), zeros around it (rows or columns of x
# past Hp, Wp, which no window reads, are left out).

def pad_reference(x, Hp, Wp, PT, PL):
    N, C, H, W = x.shape
    xp = np.zeros((N, C, Hp, Wp), dtype=x.dtype)
    h, w = min(H, Hp - PT), min(W, Wp - PL)
    xp[:, :, PT:PT + h, PL:PL + w] = x[:, :, :h, :w]
    return xp


@numba.njit(parallel=True, cache=True)
def pad_cpu(x, Hp, Wp, PT, PL):
    N, C, H, W = x.shape
    xp = np.zeros((N, C, Hp, Wp), dtype=x.dtype)
    h, w = min(H, Hp - PT), min(W, Wp - PL)
    for n in numba.prange(N):
        for c in range(C):
            for r in range(h):
                xp[n, c, PT + r, PL:PL + w] = x[n, c, r, :w]
    return xp


def pad_gpu(x, Hp, Wp, PT, PL):
    xp_ = backend.xp_of(x)
    N, C, H, W = x.shape
    out = xp_.zeros((N, C, Hp, Wp), dtype=x.dtype)
    h, w = min(H, Hp - PT), min(W, Wp - PL)
    out[:, :, PT:PT + h, PL:PL + w] = x[:, :, :h, :w]
    return out


def pad(x, Hp, Wp, PT, PL):
    """x (N, C, H, W) zero padded to (N, C, Hp, Wp), x's pixel (h, w) at (h + PT, w + PL)."""
    if backend.on_gpu(x):
        return pad_gpu(x, Hp, Wp, PT, PL)
    return pad_cpu(np.ascontiguousarray(x), Hp, Wp, PT, PL)


# forward: y = the convolution of the padded input xp with w, + bias

def forward_reference(xp, w, bias, S, OH, OW):
    N = xp.shape[0]
    OC, C, KH, KW = w.shape
    y = np.zeros((N, OC, OH, OW), dtype=xp.dtype)
    for c in range(C):
        for i in range(KH):
            for j in range(KW):
                window = xp[:, c, i:i + (OH - 1) * S + 1:S, j:j + (OW - 1) * S + 1:S]
                y += w[None, :, c, i, j, None, None] * window[:, None]
    return y + bias[None, :, None, None]


@numba.njit(cache=True)
def image_columns(xp, n, KH, KW, S, OH, OW, cols):
    """cols (C*KH*KW, OH*OW) of image n: row (c, i, j), column (oh, ow) holds
    xp[n, c, oh*S + i, ow*S + j]. One image's columns (28 kB for a 1-channel 28x28 image and a
    3x3 kernel) stay in the core's cache while the multiply-adds read them."""
    C = xp.shape[1]
    for c in range(C):
        for i in range(KH):
            for j in range(KW):
                k = (c * KH + i) * KW + j
                for oh in range(OH):
                    src = xp[n, c, oh * S + i]
                    for ow in range(OW):
                        cols[k, oh * OW + ow] = src[np.uint64(ow * S + j)]   # no wraparound


@numba.njit(parallel=True, cache=True)
def forward_cpu(xp, w, bias, S, OH, OW):
    N = xp.shape[0]
    OC, C, KH, KW = w.shape
    K, P = C * KH * KW, OH * OW
    w2 = w.reshape(OC, K)
    y = np.empty((N, OC, P), dtype=xp.dtype)
    for n in numba.prange(N):
        cols = np.empty((K, P), dtype=xp.dtype)
        image_columns(xp, n, KH, KW, S, OH, OW, cols)
        for o0 in range(0, OC, 4):   # y[n, o] = sum over k of w2[o, k] * cols[k], k in order,
            o1 = min(o0 + 4, OC)     # + bias; four channels at a time read each column once
            for o in range(o0, o1):
                row, weight = y[n, o], w2[o, 0]
                for p in range(P):
                    row[p] = weight * cols[0, p]
            if o1 - o0 == 4:
                r0, r1, r2, r3 = y[n, o0], y[n, o0 + 1], y[n, o0 + 2], y[n, o0 + 3]
                for k in range(1, K):
                    src = cols[k]
                    w0, w1, w2_, w3 = w2[o0, k], w2[o0 + 1, k], w2[o0 + 2, k], w2[o0 + 3, k]
                    for p in range(P):
                        v = src[p]
                        r0[p] += w0 * v
                        r1[p] += w1 * v
                        r2[p] += w2_ * v
                        r3[p] += w3 * v
            else:
                for o in range(o0, o1):
                    row = y[n, o]
                    for k in range(1, K):
                        weight, src = w2[o, k], cols[k]
                        for p in range(P):
                            row[p] += weight * src[p]
            for o in range(o0, o1):
                row, b = y[n, o], bias[o]
                for p in range(P):
                    row[p] += b
    return y.reshape(N, OC, OH, OW)


def forward_gpu(xp, w, bias, S, OH, OW):
    xp_ = backend.xp_of(xp)
    xp, w, bias = (xp_.ascontiguousarray(a) for a in (xp, w, bias))
    N, C, Hp, Wp = xp.shape
    OC, _, KH, KW = w.shape
    y = xp_.empty((N, OC, OH, OW), dtype=xp.dtype)
    cuda.launch(CUDA_SOURCE, "minigan_conv_direct_SUFFIX", y.size, xp.dtype,
                xp, w, bias, y, N, C, Hp, Wp, OC, KH, KW, S, OH, OW)
    return y


def forward(xp, w, bias, S, OH, OW):
    """y (N, OC, OH, OW) from the padded input xp (N, C, Hp, Wp), w (OC, C, KH, KW), bias (OC,)
    (zeros for none), stride S."""
    if backend.on_gpu(xp):
        return forward_gpu(xp, w, bias, S, OH, OW)
    return forward_cpu(np.ascontiguousarray(xp), np.ascontiguousarray(w), bias, S, OH, OW)


# input_grad: dx (N, C, H, W) from gy (N, OC, OH, OW)

def input_grad_reference(gy, w, H, W, S, PT, PL):
    N, OC, OH, OW = gy.shape
    _, C, KH, KW = w.shape
    Hp, Wp = padded_size(KH, KW, S, OH, OW)
    gxp = np.zeros((N, C, max(Hp, PT + H), max(Wp, PL + W)), dtype=gy.dtype)
    for i in range(KH):
        for j in range(KW):
            window = gxp[:, :, i:i + (OH - 1) * S + 1:S, j:j + (OW - 1) * S + 1:S]
            window += np.einsum("noyx,oc->ncyx", gy, w[:, :, i, j])
    return gxp[:, :, PT:PT + H, PL:PL + W].copy()


@numba.njit(parallel=True, cache=True)
def input_grad_cpu(gy, w, H, W, S, PT, PL):
    N, OC, OH, OW = gy.shape
    _, C, KH, KW = w.shape
    K, P = C * KH * KW, OH * OW
    Hp, Wp = (OH - 1) * S + KH, (OW - 1) * S + KW
    w2 = w.reshape(OC, K)
    g = gy.reshape(N, OC, P)
    gx = np.zeros((N, C, H, W), dtype=gy.dtype)
    h, w_ = min(H, Hp - PT), min(W, Wp - PL)     # x's pixels that some window reads
    for n in numba.prange(N):
        gcols = np.zeros((K, P), dtype=gy.dtype)  # gcols[k] = sum over o of w2[o, k] * gy[n, o]
        for o in range(OC):
            src = g[n, o]
            for k in range(K):
                weight, dst = w2[o, k], gcols[k]
                for p in range(P):
                    dst[p] += weight * src[p]
        gxp = np.zeros((C, Hp, Wp), dtype=gy.dtype)   # then back to the pixels: col2im
        for c in range(C):
            for i in range(KH):
                for j in range(KW):
                    k = (c * KH + i) * KW + j
                    for oh in range(OH):
                        dst = gxp[c, oh * S + i]
                        for ow in range(OW):
                            dst[np.uint64(ow * S + j)] += gcols[k, oh * OW + ow]
        for c in range(C):
            for r in range(h):
                gx[n, c, r, :w_] = gxp[c, PT + r, PL:PL + w_]
    return gx


def input_grad_gpu(gy, w, H, W, S, PT, PL):
    xp_ = backend.xp_of(gy)
    gy, w = xp_.ascontiguousarray(gy), xp_.ascontiguousarray(w)
    N, OC, OH, OW = gy.shape
    _, C, KH, KW = w.shape
    gx = xp_.empty((N, C, H, W), dtype=gy.dtype)
    cuda.launch(CUDA_SOURCE, "minigan_conv_direct_input_grad_SUFFIX", gx.size, gy.dtype,
                gy, w, gx, N, C, H, W, OC, KH, KW, S, PT, PL, OH, OW)
    return gx


def input_grad(gy, w, H, W, S, PT, PL):
    """dx (N, C, H, W) of the convolution, from gy (N, OC, OH, OW) and w (OC, C, KH, KW)."""
    if backend.on_gpu(gy):
        return input_grad_gpu(gy, w, H, W, S, PT, PL)
    return input_grad_cpu(np.ascontiguousarray(gy), np.ascontiguousarray(w), H, W, S, PT, PL)


# weight_grad: dW (OC, C, KH, KW) from the padded input xp and gy

def weight_grad_reference(xp, gy, KH, KW, S):
    N, C = xp.shape[:2]
    OC, OH, OW = gy.shape[1:]
    gw = np.empty((OC, C, KH, KW), dtype=gy.dtype)
    for i in range(KH):
        for j in range(KW):
            window = xp[:, :, i:i + (OH - 1) * S + 1:S, j:j + (OW - 1) * S + 1:S]
            gw[:, :, i, j] = np.einsum("noyx,ncyx->oc", gy, window)
    return gw


@numba.njit(cache=True, fastmath={"reassoc"})
def dot(a, b):
    """sum of a * b, reassociated into SIMD lanes (a fixed order for a given length)."""
    total = a.dtype.type(0)
    for p in range(a.shape[0]):
        total += a[p] * b[p]
    return total


@numba.njit(parallel=True, cache=True)
def weight_grad_cpu(xp, gy, KH, KW, S):
    N, C = xp.shape[:2]
    OC, OH, OW = gy.shape[1:]
    K, P = C * KH * KW, OH * OW
    g = gy.reshape(N, OC, P)
    per_image = np.empty((N, OC, K), dtype=gy.dtype)   # each image's share of dW
    for n in numba.prange(N):
        cols = np.empty((K, P), dtype=gy.dtype)
        image_columns(xp, n, KH, KW, S, OH, OW, cols)
        for o in range(OC):
            for k in range(K):
                per_image[n, o, k] = dot(g[n, o], cols[k])
    gw = np.zeros((OC, K), dtype=gy.dtype)
    for n in range(N):                                 # the images in order
        gw += per_image[n]
    return gw.reshape(OC, C, KH, KW)


def weight_grad_gpu(xp, gy, KH, KW, S):
    xp_ = backend.xp_of(gy)
    xp, gy = xp_.ascontiguousarray(xp), xp_.ascontiguousarray(gy)
    N, C, Hp, Wp = xp.shape
    OC, OH, OW = gy.shape[1:]
    gw = xp_.empty((OC, C, KH, KW), dtype=gy.dtype)
    cuda.launch(CUDA_SOURCE, "minigan_conv_direct_weight_grad_SUFFIX", gw.size, gy.dtype,
                xp, gy, gw, N, C, Hp, Wp, OC, KH, KW, S, OH, OW)
    return gw


def weight_grad(xp, gy, KH, KW, S):
    """dW (OC, C, KH, KW) of the convolution, from the padded input xp and gy (N, OC, OH, OW)."""
    if backend.on_gpu(gy):
        return weight_grad_gpu(xp, gy, KH, KW, S)
    return weight_grad_cpu(np.ascontiguousarray(xp), np.ascontiguousarray(gy), KH, KW, S)
