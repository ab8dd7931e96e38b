"""Elementwise functions: Exp, Log and the activations Tanh, Sigmoid, ReLU, LeakyReLU (also the
Tensor methods .exp() ... .leaky_relu()). Floating-point tensors only: an int tensor raises
TypeError rather than becoming float64."""
from minigan import backend, kernels
from minigan.autograd import Function, float_tensor


def stable_sigmoid(x):
    """1 / (1 + exp(-x)) on an array, for any x: with e = exp(-|x|) <= 1 nothing overflows, and
    for x < 0 the form e / (1 + e) keeps full relative precision in the tail (1 - 1 / (1 + e)
    would round to 0 near x = -17). One fused kernel on the GPU."""
    return kernels.sigmoid_tanh.sigmoid(x)


class Exp(Function):
    """y = exp(x).    dy/dx = y (backward keeps only y)."""

    def forward(self, x):
        self.y = backend.xp_of(x).exp(x)
        return self.y

    def backward(self, gy):
        return gy * self.y


class Log(Function):
    """y = log(x).    dy/dx = 1 / x."""

    def forward(self, x):
        self.x = x
        return backend.xp_of(x).log(x)

    def backward(self, gy):
        return gy / self.x


class Tanh(Function):
    """y = tanh(x).    dy/dx = 1 - y**2 (backward keeps only y)."""

    def forward(self, x):
        self.y = backend.xp_of(x).tanh(x)
        return self.y

    def backward(self, gy):
        return kernels.sigmoid_tanh.tanh_backward(self.y, gy)


class Sigmoid(Function):
    """y = 1 / (1 + exp(-x)).    dy/dx = y * (1 - y)."""

    def forward(self, x):
        self.y = stable_sigmoid(x)
        return self.y

    def backward(self, gy):
        return kernels.sigmoid_tanh.sigmoid_backward(self.y, gy)


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
        self.x = x  # backward needs only the sign of x
        return kernels.leaky_relu.forward(x, self.alpha)

    def backward(self, gy):
        return kernels.leaky_relu.backward(self.x, gy, self.alpha)


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
