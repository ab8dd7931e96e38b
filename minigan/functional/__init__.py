"""Stateless differentiable ops, used as `import minigan.functional as F`."""
from minigan.functional.activation import exp, leaky_relu, log, relu, sigmoid, tanh
from minigan.functional.linear import dense

__all__ = ["dense", "exp", "leaky_relu", "log", "relu", "sigmoid", "tanh"]
