"""minigan: a from-scratch deep-learning engine on NumPy (CPU) and CuPy (GPU), built to train a GAN.

>>> import minigan as mg
>>> x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad.numpy()
array([2., 4., 6.], dtype=float32)
"""
from minigan import functional, nn, optim
from minigan.autograd import Tensor, concatenate, is_grad_enabled, no_grad, tensor
from minigan.backend import DeviceError, get_device, manual_seed, set_device
from minigan.gradcheck import GradcheckError, gradcheck

__version__ = "0.1.0"

__all__ = ["DeviceError", "GradcheckError", "Tensor", "concatenate", "functional", "get_device",
           "gradcheck", "is_grad_enabled", "manual_seed", "nn", "no_grad", "optim", "set_device",
           "tensor"]
