"""minigan: a from-scratch deep-learning engine on NumPy (CPU) and CuPy (GPU), built to train a GAN.

>>> import minigan as mg
>>> x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad.numpy()
array([2., 4., 6.], dtype=float32)
"""
import os

# Before anything imports NumPy (and so loads OpenBLAS, which reads this once): idle OpenBLAS
# threads sleep after 2**4 cycles instead of spinning for 2**28 (~0.1 s). Spinning, they took
# the cores from the Numba kernel that runs right after each GEMM: im2col ran in 22 ms instead
# of 11, the 32->64 convolution in 47 ms instead of 35 (2 cores). If NumPy was imported before
# minigan, export OPENBLAS_THREAD_TIMEOUT=4 yourself. A user's own setting wins.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from minigan import functional, nn, optim  # noqa: E402
from minigan.autograd import Tensor, concatenate, is_grad_enabled, no_grad, tensor  # noqa: E402
from minigan.backend import DeviceError, get_device, manual_seed, set_device  # noqa: E402
from minigan.gradcheck import GradcheckError, gradcheck  # noqa: E402

__version__ = "0.1.0"

__all__ = ["DeviceError", "GradcheckError", "Tensor", "concatenate", "functional", "get_device",
           "gradcheck", "is_grad_enabled", "manual_seed", "nn", "no_grad", "optim", "set_device",
           "tensor"]
