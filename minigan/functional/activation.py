"""Elementwise activations: Tanh, Sigmoid, ReLU, LeakyReLU (and exp/log from the core)."""
from minigan import backend
from minigan.autograd import Exp, Function, Log


class Tanh(Function):
    """y = tanh(x).    dy/dx = 1 - y**2 (backward keeps only y)."""

    def forward(self, x):
        self.y = backend.xp_of(x).tanh(x)
        return self.y

    def backward(self, gy):
        return gy * (1 - self.y * self.y)


class Sigmoid(Function):
    """y = 1 / (1 + exp(-x)).    dy/dx = y * (1 - y)."""

    def forward(self, x):
        # 0.5 * tanh(x / 2) + 0.5 is the same function and never overflows, for any x
        self.y = backend.xp_of(x).tanh(x * 0.5) * 0.5 + 0.5
        return self.y

    def backward(self, gy):
        return gy * self.y * (1 - self.y)


class ReLU(Function):
    """y = max(x, 0).    dy/dx = 1 if x > 0 else 0 (0 at the kink, as PyTorch)."""

    def forward(self, x):
        self.positive = x > 0
        return backend.xp_of(x).maximum(x, 0)

    def backward(self, gy):
        return gy * self.positive


class LeakyReLU(Function):
    """y = x if x > 0 else alpha * x.    dy/dx = 1 if x > 0 else alpha."""

    def __init__(self, alpha):
        self.alpha = alpha

    def forward(self, x):
        self.positive = x > 0  # backward needs only the sign of x
        return backend.xp_of(x).where(self.positive, x, x * self.alpha)

    def backward(self, gy):
        return backend.xp_of(gy).where(self.positive, gy, gy * self.alpha)


def exp(x):
    return Exp()(x)


def log(x):
    return Log()(x)


def tanh(x):
    return Tanh()(x)


def sigmoid(x):
    return Sigmoid()(x)


def relu(x):
    return ReLU()(x)


def leaky_relu(x, alpha=0.01):
    return LeakyReLU(alpha)(x)
