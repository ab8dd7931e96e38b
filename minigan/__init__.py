"""minigan: a from-scratch deep-learning engine on NumPy (CPU) and CuPy (GPU), built to train a GAN.

>>> import minigan as mg
>>> x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad.numpy()
array([2., 4., 6.], dtype=float32)
"""
import os

# Idle OpenBLAS threads must sleep (after 2**4 cycles), not spin for 2**28 (~0.1 s): spinning,
# they take the cores from the Numba kernel that runs right after each GEMM (on 2 cores im2col
# takes 22 ms instead of 11, the 32->64 convolution 47 ms instead of 35). OpenBLAS reads this
# when NumPy loads it, so it is set before anything imports NumPy; where NumPy is imported
# before minigan, export OPENBLAS_THREAD_TIMEOUT=4 yourself. A user's own setting wins.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from minigan import functional, nn, optim  # noqa: E402
from minigan.autograd import Tensor, concatenate, is_grad_enabled, no_grad, tensor  # noqa: E402
from minigan.backend import DeviceError, get_device, manual_seed, set_device  # noqa: E402
from minigan.gradcheck import GradcheckError, gradcheck  # noqa: E402

__version__ = "0.1.0"

__all__ = ["DeviceError", "GradcheckError", "Tensor", "concatenate", "functional", "get_device",
           "gradcheck", "is_grad_enabled", "manual_seed", "nn", "no_grad", "optim", "set_device",
           "tensor"]
