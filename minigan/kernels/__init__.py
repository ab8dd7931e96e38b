"""Hot loops. One file per op family, each with four functions per kernel, in this order:
*_reference (plain NumPy, the definition the tests use as oracle), *_cpu (Numba), *_gpu (CuPy),
and the dispatcher, the only place that branches on the device."""
from minigan.kernels import adam, bce, dropout, im2col, layout, leaky_relu, sigmoid_tanh

__all__ = ["adam", "bce", "dropout", "im2col", "layout", "leaky_relu", "sigmoid_tanh"]
