"""How far both engines are from the hardware: the GEMM FLOPs of the seed GAN's layers and steps
(2*M*N*K per GEMM; elementwise work is not counted), and the machine's own float32 GEMM rate at
the GAN's shapes."""
import numpy as np

from bench_common import Case, measure
from minigan import gan

SIDE, KERNEL = 28, 3  # 28x28 images, 3x3 kernels
# the GAN's GEMM layers, as (kind, inputs, outputs)
GENERATOR_LAYERS = [("dense", a, b) for a, b in zip(gan.GENERATOR_SIZES[:-1],
                                                    gan.GENERATOR_SIZES[1:])]
DISCRIMINATOR_LAYERS = [("conv", 1, 32), ("conv", 32, 64), ("dense", 64 * SIDE * SIDE, 1)]


def layer_flops(layer, n, backward, x_grad, w_grad=True):
    """The forward GEMM, plus (backward) the input-gradient and weight-gradient GEMMs that are
    needed; each of the three has the forward's multiply-adds, in*out or OH*OW*OC*C*KH*KW."""
    kind, c_in, c_out = layer
    macs = c_in * c_out * (SIDE * SIDE * KERNEL * KERNEL if kind == "conv" else 1)
    return 2 * n * macs * (1 + (int(x_grad) + int(w_grad) if backward else 0))


def _net_flops(layers, n, backward, input_grad, weight_grads):
    """A network's GEMMs: every layer but the first gets an input gradient (the first only when
    the network's input needs one); weight gradients only when the weights need them."""
    return sum(layer_flops(layer, n, backward, x_grad=(i > 0 or input_grad),
                            w_grad=weight_grads) for i, layer in enumerate(layers))


def d_step_flops(n):
    """G forward (no grad), then two D forward + backward passes (images need no gradient)."""
    return (_net_flops(GENERATOR_LAYERS, n, False, False, False)
            + 2 * _net_flops(DISCRIMINATOR_LAYERS, n, True, False, True))


def g_step_flops(n):
    """G forward + backward (noise needs no gradient); D forward + backward to its input, with
    no weight gradients (D is frozen)."""
    return (_net_flops(GENERATOR_LAYERS, n, True, False, True)
            + _net_flops(DISCRIMINATOR_LAYERS, n, True, True, False))


def gemm_rates(torch, dev, n, warmup, repeats):
    """The machine's float32 GEMM rate at the benchmark's threads: NumPy (CuPy on the GPU) and
    torch.matmul on the GAN's big GEMM shapes and a square one. Rows: (what, {engine: GFLOP/s
    samples})."""
    cols = n * SIDE * SIDE
    shapes = [(f"conv 32->64 forward: (64x288) @ (288x{cols})", 64, 288, cols),
              (f"conv 32->64 input grad: (288x64) @ (64x{cols})", 288, 64, cols),
              (f"conv 32->64 weight grad: (64x{cols}) @ ({cols}x288)", 64, cols, 288),
              (f"dense 1024->784 forward: ({n}x1024) @ (1024x784)", n, 1024, 784),
              ("square: (1024x1024) @ (1024x1024)", 1024, 1024, 1024)]
    rng = np.random.default_rng(11)
    rows = []
    for what, m, k, p in shapes:  # (m x k) @ (k x p)
        a0 = rng.standard_normal((m, k)).astype(np.float32)
        b0 = rng.standard_normal((k, p)).astype(np.float32)
        am, bm = dev.xp.asarray(a0), dev.xp.asarray(b0)
        at, bt = torch.tensor(a0, device=dev.torch), torch.tensor(b0, device=dev.torch)
        case = Case(engines={"array": lambda a=am, b=bm: a @ b,
                             "torch": lambda a=at, b=bt: torch.matmul(a, b)}, check=None)
        times = measure(case, warmup, repeats, dev.sync)
        rows.append((what, {e: [2 * m * k * p / t / 1e9 for t in ts] for e, ts in times.items()}))
    return rows


def product_macs(fn, shapes, out_shape):
    """The multiply-adds of one product of a minigan Function on inputs of these shapes (and its
    output's), counted
    as a direct evaluation does (a fast algorithm, Winograd's, does fewer): a Dense x @ W.T, a
    2-D MatMul, a convolution's OH*OW*OC*C*KH*KW per image, a transposed convolution's
    H*W*C_in*C_out*KH*KW; None for any other Function."""
    kind = type(fn).__name__
    if kind == "Dense":
        (n, n_in), (n_out, _) = shapes[:2]
        return n * n_in * n_out
    if kind == "MatMul" and len(shapes[0]) == len(shapes[1]) == 2:
        (m, k), (_, n) = shapes
        return m * k * n
    if kind.startswith("Conv2d"):
        (n, c, _, _), (oc, _, kh, kw) = shapes[:2]
        return n * out_shape[2] * out_shape[3] * oc * c * kh * kw
    if kind.startswith("ConvTranspose2d"):
        (n, c, h, w), (_, oc, kh, kw) = shapes[:2]
        return n * h * w * c * oc * kh * kw
    return None


def count_step_flops(run):
    """The product FLOPs (2 per multiply-add) of one call of run(), a minigan step: every
    forward product, and in backward the input- and weight-gradient products each input that
    needs one asks for (each the forward's multiply-adds). Counted by wrapping Function.__call__
    and each Function's backward for the one call."""
    from minigan.autograd import Function
    total, call = [0], Function.__call__

    def counting_call(fn, *inputs):
        out = call(fn, *inputs)
        macs = product_macs(fn, [tuple(t.shape) for t in inputs], out.shape)
        if macs is not None:
            total[0] += 2 * macs
            backward = fn.backward

            def counting_backward(gy):
                total[0] += 2 * macs * sum(fn.needs_grad[:2])   # dx and dW, where needed
                return backward(gy)
            fn.backward = counting_backward
        return out

    Function.__call__ = counting_call
    try:
        run()
    finally:
        Function.__call__ = call
    return total[0]
