"""Hot loops. One file per op family, each with four functions per kernel, in this order:
*_reference (plain NumPy, the definition the tests use as oracle), *_cpu (Numba), *_gpu (CuPy),
and the dispatcher, the only place that branches on the device. Two exceptions: where the NumPy
expression is already the fastest CPU path (sigmoid_tanh), or the CPU takes a path only where
its fast kernel cannot run (winograd_batch: without an ILP64 OpenBLAS), the reference is the
CPU path, so the kernel has three functions; conv_per_image's *_gpu functions are whole-batch
compositions of im2col's CUDA kernels and cuBLAS, not kernels of their own; a kernel for one
device only (adam.step_many on the GPU, bce's first_outside_domain and batch_norm's three on the
CPU; conv_phases, whose oracle is conv_per_image's references) has that twin and the
dispatcher, which says what runs on the other device. cpu.py and
cuda.py hold what the *_cpu and *_gpu functions of every file share; winograd_tiles.py the tile
transforms both Winograd paths share."""
from minigan.kernels import (adam, batch_norm, bce, conv_direct, conv_per_image, conv_phases,
                             dropout, gemm, im2col, layout, leaky_relu, minibatch_std, rows,
                             sigmoid_tanh, winograd, winograd_batch)

__all__ = ["adam", "batch_norm", "bce", "conv_direct", "conv_per_image", "conv_phases", "dropout",
           "gemm", "im2col", "layout", "leaky_relu", "minibatch_std", "rows", "sigmoid_tanh",
           "winograd", "winograd_batch"]
