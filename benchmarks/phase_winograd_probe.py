"""A probe, not a kernel: how fast and how accurate Winograd's F(4x4, 2x2) would make the DCGAN
discriminator's 4x4 stride-2 convolution 64 -> 128 (14x14 -> 7x7), the product that held the
DCGAN G + D step at 1.5x PyTorch's time (benchmarks/RESULTS.md). The kernel it led to is
minigan/kernels/conv_phases.py, on the points 0, 1, -1, 1/2 (rounding 1.4x less than these).

A 4x4 stride-2 kernel splits into four 2x2 stride-1 kernels, one per phase (r, s) of the input:

    y[o, i, j] = sum over c, a, b, r, s of
                 w[o, c, 2a + r, 2b + s] * xpad[c, 2(i + a) + r, 2(j + b) + s]

so the layer is a 2x2 stride-1 convolution of the phases Z (4C channels, 9x9 with the room the
tiles need) with the phase kernels. F(4x4, 2x2) computes each 4x4 output tile from a 5x5 input
tile with 25 products instead of 64: the 7x7 output is four tiles (8x8, one row and column
wasted), 100 products per (o, c) pair against the direct convolution's 196, the same 1.96x
fewer as for the 14x14 outputs of the transposed convolution 128 -> 64. The transforms use the
points 0, 1, -1, 2 and infinity (A^T, G from them, B^T solved from the identity).

    python benchmarks/phase_winograd_probe.py

It times the 25 GEMMs of the layer (the part no implementation avoids) against PyTorch's whole
convolution, and measures the float32 error of the transforms against a float64 direct
convolution beside PyTorch float32's own. The transforms here are NumPy einsums, far slower
than a kernel would make them, and are not timed as the method's cost.
"""
import time

import numpy as np
import torch

M, R = 4, 2                      # output tile, kernel side
T = M + R - 1                    # input tile
POINTS = [0.0, 1.0, -1.0, 2.0]   # and infinity


def transforms():
    """(A^T, G, B^T) of F(M, R) on POINTS: A^T and G from the points, B^T solved (exactly: its
    entries are small integers) from y = A^T[(G g) * (B^T d)] over random g and d."""
    a_t, g_m = np.zeros((M, T)), np.zeros((T, R))
    for j, p in enumerate(POINTS):
        a_t[:, j] = [p ** i for i in range(M)]
        g_m[j] = [p ** k / np.prod([p - q for q in POINTS if q != p]) for k in range(R)]
    a_t[M - 1, T - 1] = g_m[T - 1, R - 1] = 1
    rng, rows, rhs = np.random.default_rng(0), [], []
    for _ in range(100):
        g, d = rng.standard_normal(R), rng.standard_normal(T)
        for i in range(M):
            rows.append(np.outer(a_t[i] * (g_m @ g), d).ravel())
            rhs.append(g @ d[i:i + R])
    b_t = np.round(np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0], 9)
    return a_t, g_m, b_t.reshape(T, T)


def phase_winograd(x, w, dtype):
    """The 4x4 stride-2 convolution (padding 1) of x (N, C, 14, 14) with w (OC, C, 4, 4), as
    F(4x4, 2x2) on the phases, in `dtype`; and the 25 GEMMs' operands U, V."""
    a_t, g_m, b_t = (m.astype(dtype) for m in transforms())
    n, c = x.shape[:2]
    oc = w.shape[0]
    xp = np.zeros((n, c, 18, 18), dtype)
    xp[:, :, 1:15, 1:15] = x
    z = xp.reshape(n, c, 9, 2, 9, 2).transpose(0, 3, 5, 1, 2, 4).reshape(n, 4 * c, 9, 9)
    w2 = w.astype(dtype).reshape(oc, c, 2, 2, 2, 2).transpose(0, 3, 5, 1, 2, 4)
    w2 = w2.reshape(oc, 4 * c, 2, 2)
    u = np.einsum("ia,ocab,jb->ijoc", g_m, w2, g_m).reshape(T * T, oc, 4 * c)
    tiles = np.stack([z[:, :, 4 * ti:4 * ti + T, 4 * tj:4 * tj + T]
                      for ti in range(2) for tj in range(2)], axis=1)
    v = np.einsum("ia,ntkab,jb->ijknt", b_t, tiles, b_t).reshape(T * T, 4 * c, n * 4)
    products = np.matmul(u, v).reshape(T, T, oc, n, 4)
    y = np.einsum("ia,abont,jb->ijont", a_t, products, a_t)
    y = y.reshape(M, M, oc, n, 2, 2).transpose(3, 2, 4, 0, 5, 1).reshape(n, oc, 8, 8)
    return y[:, :, :7, :7], u, v


def median_ms(fn, repeats=20):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main():
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 64, 14, 14)).astype(np.float32)
    w = (rng.standard_normal((128, 64, 4, 4)) * 0.05).astype(np.float32)
    exact = torch.nn.functional.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(),
                                       stride=2, padding=1).numpy()
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)
    direct = torch.nn.functional.conv2d(tx, tw, stride=2, padding=1).numpy()
    ours, u, v = phase_winograd(x, w, np.float32)
    scale = np.abs(exact).max()
    print(f"max error / max |y| against float64: F(4x4, 2x2) on the phases, float32 "
          f"{np.abs(ours - exact).max() / scale:.1e}; PyTorch float32 "
          f"{np.abs(direct - exact).max() / scale:.1e}")
    gemms = median_ms(lambda: np.matmul(u, v))
    torch_ms = median_ms(lambda: torch.nn.functional.conv2d(tx, tw, stride=2, padding=1))
    flops = 2 * u.shape[0] * u.shape[1] * u.shape[2] * v.shape[2]
    print(f"the 25 GEMMs (NumPy's OpenBLAS, 2 threads): {gemms:.2f} ms, {flops / gemms / 1e6:.0f} "
          f"GFLOP/s; PyTorch's whole convolution (2 threads): {torch_ms:.2f} ms")


if __name__ == "__main__":
    main()
