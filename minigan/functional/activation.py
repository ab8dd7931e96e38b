"""Elementwise functions: exp, log and the activations tanh, sigmoid, relu, leaky_relu, as the
Tensor methods .exp() ... .leaky_relu() compute them (their Functions live beside the algebra
ops in minigan.autograd). Floating-point tensors only: an int tensor raises TypeError rather
than becoming float64."""
from minigan.autograd import Exp, LeakyReLU, Log, ReLU, Sigmoid, Tanh, float_tensor


def exp(x):
    return Exp()(float_tensor("exp", x))


def log(x):
    return Log()(float_tensor("log", x))


def tanh(x):
    return Tanh()(float_tensor("tanh", x))


def sigmoid(x):
    return Sigmoid()(float_tensor("sigmoid", x))


def relu(x):
    return ReLU()(float_tensor("relu", x))


def leaky_relu(x, alpha=0.01):
    return LeakyReLU(alpha)(float_tensor("leaky_relu", x))
