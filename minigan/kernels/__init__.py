"""Hot loops. One file per op family, each with four functions per kernel, in this order:
*_reference (plain NumPy, the definition the tests use as oracle), *_cpu (Numba), *_gpu (CuPy),
and the dispatcher, the only place that branches on the device."""
from minigan.kernels import bce, dropout, im2col, leaky_relu

__all__ = ["bce", "dropout", "im2col", "leaky_relu"]
