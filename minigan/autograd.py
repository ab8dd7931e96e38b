"""Tensor, Function and reverse-mode autograd; the array algebra ops (add, mul, matmul, sum...) and
the elementwise functions the Tensor methods name (exp, log, tanh, sigmoid, relu, leaky_relu).

A Tensor wraps an array (`.data`, numpy or cupy). Each op is a Function: `forward` computes on
plain arrays, `backward` maps the output gradient gy to one gradient per input. Calling a Function
on tensors records it as the creator (`_ctx`) of its output when gradients are needed, so the
graph is built as the computation runs; `Tensor.backward` walks it in reverse topological order.
"""
import math

import numpy as np

from minigan import backend, kernels

_grad_enabled = True


class no_grad:
    """Context manager (or decorator) that records no graph: for inference and updates."""

    def __enter__(self):
        global _grad_enabled
        self.previous, _grad_enabled = _grad_enabled, False

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self.previous

    def __call__(self, fn):
        def wrapper(*args, **kwargs):
            with no_grad():
                return fn(*args, **kwargs)
        return wrapper


def is_grad_enabled():
    return _grad_enabled


class Function:
    """One differentiable op. Subclasses write forward(*arrays) and backward(gy) -> one gradient
    per input (None where needs_grad is False). Inputs are tensors: an optional operand that is
    absent, such as a layer's bias, is not passed, and forward's default (bias=None) says so."""

    inputs = None

    def __call__(self, *inputs):
        out = Tensor._wrap(self.forward(*[t.data for t in inputs]))
        if _grad_enabled:
            needs_grad = tuple(t.requires_grad for t in inputs)
            if True in needs_grad:
                self.inputs, self.needs_grad = inputs, needs_grad
                out.requires_grad, out._ctx = True, self
        return out

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, gy):
        raise NotImplementedError


class Tensor:
    """An n-dimensional array with an optional gradient. See `minigan.tensor` to make one.

    Dtype rule (one for every op; minigan never casts silently): a Tensor or a NumPy/CuPy array
    combined with a tensor must have that tensor's dtype, else TypeError (convert first with
    `array.astype(...)` or `minigan.tensor(..., dtype=...)`). Python numbers, NumPy scalars
    (np.float64(2.0) included) and nested lists of them are "weak", as in PyTorch: they take the
    tensor's dtype, except that a float cannot join an integer or bool tensor, nor an int a bool
    one (TypeError: it would be truncated). Where no tensor gives the dtype, arrays keep theirs
    and weak values become float32. Ops defined on real numbers (/, mean, exp, log, the
    activations, dropout, dense, conv2d, batch_norm, the losses) need a floating-point tensor.
    """

    __slots__ = ("__weakref__", "_ctx", "data", "grad", "requires_grad")
    __array_ufunc__ = None  # make `ndarray + tensor` call Tensor.__radd__, not loop over elements
    __array_priority__ = 1000

    def __init__(self, data, requires_grad=False):
        """Tensor(array) wraps a NumPy or CuPy array as it is: shared, not copied, its dtype and
        device kept, no history. Lists and scalars become float32 arrays on the default device,
        as in `minigan.tensor`, which also converts dtype and device."""
        if not (isinstance(data, np.ndarray) or backend.on_gpu(data)):
            data = as_array(data, "float32", None)
        self.data = data
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._ctx = None

    @classmethod
    def _wrap(cls, data):
        """Tensor(data) for the engine's own results: no type check, since forward returns an
        array or a NumPy scalar (a full reduction), which must stay as it is."""
        t = object.__new__(Tensor)
        t.data, t.grad, t.requires_grad, t._ctx = data, None, False, None
        return t

    # Properties and conversions
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    device = property(lambda self: backend.device_of(self.data))
    T = property(lambda self: self.transpose())

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"tensor({backend.to_numpy(self.data)!r}, device={self.device!r}{grad})"

    def numpy(self):
        """A host (NumPy) copy of the data."""
        return backend.to_numpy(self.data)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, not shape {self.shape}")
        return self.data.item()

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor._wrap(self.data)

    def to(self, device):
        """This tensor on `device` (itself when already there); gradients flow back across."""
        device = backend.check_device(device)
        if device == self.device:
            return self
        return ToDevice(device)(self)

    # Backpropagation
    def backward(self, grad=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) * grad into the .grad of every leaf that requires grad.

        grad defaults to 1 for a one-element tensor. The graph is freed on the way (its saved
        arrays released) unless retain_graph=True.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad: no input of "
                               "the computation has requires_grad=True (or it ran under no_grad)")
        grads = {id(self): self._first_grad(grad)}
        for t in reversed(_topological_order(self)):
            g = grads.pop(id(t), None)
            if g is None:
                continue
            fn = t._ctx
            if fn is None:  # a leaf
                t._accumulate_grad(g)
                continue
            for x, gx in _input_grads(fn, g):
                key = id(x)
                grads[key] = grads[key] + gx if key in grads else gx  # used twice, counted twice
            if not retain_graph:
                fn.__dict__.clear()  # drop saved arrays and inputs: frees memory as we go

    def _first_grad(self, grad):
        """The array backward starts from: ones for a one-element tensor, else `grad`, checked."""
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward() on a non-scalar tensor of shape {self.shape} needs "
                                   "an explicit grad of the same shape")
            return backend.xp_of(self.data).ones_like(self.data)
        grad = grad.data if isinstance(grad, Tensor) else grad
        grad = as_tensor(grad, like=self, op="backward(grad)").data
        if grad.shape != self.shape:
            raise ValueError(f"backward(grad): grad has shape {grad.shape}, "
                             f"the tensor {self.shape}")
        return grad

    def _accumulate_grad(self, g):
        """A leaf's .grad += g, out of place: g may be shared with another leaf."""
        g = backend.xp_of(g).ascontiguousarray(g)  # g's own device (graphs may cross)
        self.grad = Tensor._wrap(g if self.grad is None else self.grad.data + g)

    # Operators: Python scalars, arrays and tensors mix on either side (the dtype rule above)
    def _operand(self, other, op):
        if isinstance(other, Tensor):
            if other.data.dtype != self.data.dtype:
                raise TypeError(f"{op}: dtype mismatch: {self.dtype} and {other.dtype} tensors; "
                                "make both the same dtype (minigan never casts silently)")
            return other
        return as_tensor(other, like=self, op=op)

    def __add__(self, other):
        return Add()(self, self._operand(other, "+"))

    def __radd__(self, other):
        return Add()(self._operand(other, "+"), self)

    def __sub__(self, other):
        return Sub()(self, self._operand(other, "-"))

    def __rsub__(self, other):
        return Sub()(self._operand(other, "-"), self)

    def __mul__(self, other):
        return Mul()(self, self._operand(other, "*"))

    def __rmul__(self, other):
        return Mul()(self._operand(other, "*"), self)

    def __truediv__(self, other):
        return Div()(float_tensor("/", self), self._operand(other, "/"))

    def __rtruediv__(self, other):
        return Div()(self._operand(other, "/"), float_tensor("/", self))

    def __matmul__(self, other):
        return MatMul()(self, self._operand(other, "@"))

    def __rmatmul__(self, other):
        return MatMul()(self._operand(other, "@"), self)

    def __neg__(self):
        return Neg()(self)

    def __pow__(self, exponent):
        if isinstance(exponent, Tensor) or np.ndim(exponent) != 0:
            raise TypeError("tensor ** exponent supports a scalar exponent only")
        _check_weak("**", exponent, self.dtype)
        return Pow(exponent)(self)

    def __getitem__(self, index):
        return GetItem(index)(self)

    # Reductions and shape ops (NumPy semantics)
    def sum(self, axis=None, keepdims=False):
        return Sum(axis, keepdims)(self)

    def mean(self, axis=None, keepdims=False):
        return Mean(axis, keepdims)(float_tensor("mean", self))

    def max(self, axis=None, keepdims=False):
        return Max(axis, keepdims)(self)

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return Reshape(tuple(shape))(self)

    def transpose(self, *axes):
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return Transpose(tuple(axes) if axes else None)(self)

    def broadcast_to(self, shape):
        return BroadcastTo(tuple(shape))(self)

    # Elementwise functions (their Functions follow the algebra ops below)
    def exp(self):
        return Exp()(float_tensor("exp", self))

    def log(self):
        return Log()(float_tensor("log", self))

    def tanh(self):
        return Tanh()(float_tensor("tanh", self))

    def sigmoid(self):
        return Sigmoid()(float_tensor("sigmoid", self))

    def relu(self):
        return ReLU()(float_tensor("relu", self))

    def leaky_relu(self, alpha=0.01):
        return LeakyReLU(alpha)(float_tensor("leaky_relu", self))


def as_array(data, dtype, device):
    """`data` (scalar, list or array) as an array of `dtype` on `device` (None: the default
    device), converting whatever it holds: for explicit conversions only (`tensor`). No copy when
    it already is one."""
    device = backend.get_device() if device is None else device
    if isinstance(data, np.ndarray) or backend.on_gpu(data):
        data = backend.to_device(data, device)
    return backend.xp(device).asarray(data, dtype=dtype)


def tensor(data, requires_grad=False, dtype="float32", device=None):
    """A new leaf tensor on `device` (default: `get_device()`). `data`: scalar, nested list,
    NumPy/CuPy array or Tensor, converted to `dtype` (the one explicit cast); an array of the
    right dtype and device is shared, not copied.

    >>> x = tensor([[1.0, 2.0]], requires_grad=True)
    >>> (x * x).sum().backward(); x.grad
    tensor(array([[2., 4.]], dtype=float32), device='cpu')
    """
    if isinstance(data, Tensor):
        data = data.data
    device = backend.check_device(device) if device is not None else None
    return Tensor(as_array(data, dtype, device), requires_grad=requires_grad)


_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2}  # bool < integers < floats: what a dtype can hold
_SCALAR_KIND = {bool: "b", int: "i", float: "f"}
_FLOAT32 = np.dtype(np.float32)


def _check_weak(op, value, dtype):
    """A weak value (Python/NumPy scalar, nested list) may take `dtype` only if no part of it is
    lost: no float into an integer or bool dtype, no int into bool, nothing non-numeric."""
    kind = _SCALAR_KIND.get(type(value))
    if kind is None:
        kind = value.dtype.kind if isinstance(value, np.generic) else np.asarray(value).dtype.kind
    if kind not in _KIND_RANK or _KIND_RANK[kind] > _KIND_RANK.get(dtype.kind, -1):
        raise TypeError(f"{op}: cannot combine a {type(value).__name__} (kind {kind!r}) with a "
                        f"{dtype} tensor without losing values; make the tensor a float dtype "
                        "(minigan.tensor(..., dtype='float32')) or pass a matching number")


def as_tensor(x, like=None, op="tensor op"):
    """`x` itself if it is a Tensor, else a constant tensor by the dtype rule (see Tensor): an
    array must have like's dtype (when like is None it keeps its own); Python/NumPy scalars and
    nested lists take like's dtype (float32 when like is None). On like's device (else the
    default one); `op` names the operation in errors."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray) or backend.on_gpu(x):
        if x.dtype.kind not in _KIND_RANK:
            raise TypeError(f"{op}: cannot use an array of dtype {x.dtype}; pass numbers")
        if like is not None and x.dtype != like.data.dtype:
            raise TypeError(f"{op}: dtype mismatch: {like.dtype} tensor and {x.dtype} array; "
                            f"convert the array first with .astype('{like.dtype}') or "
                            f"minigan.tensor(..., dtype='{like.dtype}') (minigan never casts "
                            "silently)")
        return Tensor._wrap(backend.to_device(x, like.device if like is not None
                                              else backend.get_device()))
    if like is None:
        _check_weak(op, x, _FLOAT32)
        return Tensor._wrap(as_array(x, _FLOAT32, None))
    _check_weak(op, x, like.data.dtype)
    return Tensor._wrap(as_array(x, like.data.dtype, like.device))


def float_tensor(op, x):
    """`x` as a tensor (arrays and lists by as_tensor), which must have a floating-point dtype:
    `op` is defined on real numbers."""
    x = as_tensor(x, op=op)
    if x.data.dtype.kind != "f":
        raise TypeError(f"{op} needs a floating-point tensor, got {x.dtype}; convert it first, "
                        f"e.g. minigan.tensor(x, dtype='float32')")
    return x


def layer_operands(op, x, weight, bias):
    """(x, weight, bias) as tensors with weight's dtype (floating point) and device; bias must be
    (out,) where out is weight's first axis. Arrays of another dtype are refused, not cast."""
    weight = float_tensor(op, weight)
    x = as_tensor(x, like=weight, op=op)
    bias = None if bias is None else as_tensor(bias, like=weight, op=op)
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"{op}: bias must have shape ({weight.shape[0]},), "
                         f"got {tuple(bias.shape)}")
    check_same_dtype(op, x, weight, bias)
    return x, weight, bias


def check_same_dtype(op, *tensors):
    dtypes = {t.dtype for t in tensors if t is not None}
    if len(dtypes) > 1:
        raise TypeError(f"{op}: inputs have different dtypes {sorted(map(str, dtypes))}; make them "
                        "the same (minigan never casts silently)")


def _topological_order(root):
    """Tensors of the graph that need a gradient, every tensor after the tensors it depends on."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:  # iterative depth-first search: deep graphs must not hit the recursion limit
        t, children_done = stack.pop()
        if children_done:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        fn = t._ctx
        if fn is not None and fn.inputs is not None:
            stack.extend((x, False) for x in fn.inputs if x.requires_grad and id(x) not in seen)
    return order


def _input_grads(fn, gy):
    """[(x, gx)]: fn.backward(gy)'s gradient for each input x of fn that requires one, its shape
    checked against x's."""
    if fn.inputs is None:
        raise RuntimeError("backward through a graph that was already freed: pass "
                           "retain_graph=True to the first backward() to keep it")
    gxs = fn.backward(gy)
    if not isinstance(gxs, tuple):
        gxs = (gxs,)
    pairs = []
    for x, gx in zip(fn.inputs, gxs):
        if gx is None or not x.requires_grad:
            continue
        if gx.shape != x.shape:
            raise RuntimeError(f"{type(fn).__name__}.backward returned a gradient of shape "
                               f"{gx.shape} for an input of shape {x.shape}")
        pairs.append((x, gx))
    return pairs


def unbroadcast(g, shape):
    """Sum g over the axes that broadcasting added or stretched, giving an array of `shape`."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if stretched:
        g = g.sum(axis=stretched, keepdims=True)
    return g


def _normalize_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(a % ndim if ndim else a for a in axes)


def _expand_reduced(gy, axis, keepdims, ndim):
    """Put back the axes a reduction removed, so gy broadcasts against its input."""
    if keepdims or axis is None:
        return gy.reshape((1,) * ndim) if gy.ndim != ndim else gy
    return backend.xp_of(gy).expand_dims(gy, _normalize_axes(axis, ndim))


class Add(Function):
    """y = a + b.    da = gy, db = gy (summed over broadcast axes)."""

    def forward(self, a, b):
        self.a_shape, self.b_shape = a.shape, b.shape
        return a + b

    def backward(self, gy):
        return unbroadcast(gy, self.a_shape), unbroadcast(gy, self.b_shape)


class Sub(Function):
    """y = a - b.    da = gy, db = -gy."""

    def forward(self, a, b):
        self.a_shape, self.b_shape = a.shape, b.shape
        return a - b

    def backward(self, gy):
        gb = unbroadcast(-gy, self.b_shape) if self.needs_grad[1] else None
        return unbroadcast(gy, self.a_shape), gb


class Mul(Function):
    """y = a * b.    da = gy * b, db = gy * a."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, gy):
        ga = unbroadcast(gy * self.b, self.a.shape) if self.needs_grad[0] else None
        gb = unbroadcast(gy * self.a, self.b.shape) if self.needs_grad[1] else None
        return ga, gb


class Div(Function):
    """y = a / b.    da = gy / b, db = -gy * a / b**2."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, gy):
        ga = unbroadcast(gy / self.b, self.a.shape) if self.needs_grad[0] else None
        gb = unbroadcast(-gy * self.a / (self.b * self.b), self.b.shape) if self.needs_grad[1] \
            else None
        return ga, gb


class Neg(Function):
    """y = -x.    dx = -gy."""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Pow(Function):
    """y = x ** c (c a scalar).    dx = gy * c * x ** (c - 1)."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        self.x = x
        return x ** self.c

    def backward(self, gy):
        return gy * self.c * self.x ** (self.c - 1)


class MatMul(Function):
    """y = a @ b (NumPy matmul, batched over leading axes).    da = gy @ b^T, db = a^T @ gy."""

    def forward(self, a, b):
        self.a, self.b = a, b
        if a.ndim == 2 and b.ndim == 2:
            return kernels.gemm.matmul(a, b)
        return a @ b

    def backward(self, gy):
        a, b = self.a, self.b
        if a.ndim == 2 and b.ndim == 2:
            ga = kernels.gemm.matmul(gy, b.T) if self.needs_grad[0] else None
            gb = kernels.gemm.matmul(a.T, gy) if self.needs_grad[1] else None
            return ga, gb
        xp = backend.xp_of(gy)
        # 1-D operands act as a row (a) or column (b) vector; give gy those unit axes back
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if b.ndim == 1:
            gy = xp.expand_dims(gy, -1)
        if a.ndim == 1:
            gy = xp.expand_dims(gy, -2)
        ga = gb = None
        if self.needs_grad[0]:
            ga = unbroadcast(gy @ xp.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if self.needs_grad[1]:
            gb = unbroadcast(xp.swapaxes(a2, -1, -2) @ gy, b2.shape).reshape(b.shape)
        return ga, gb


class Sum(Function):
    """y = sum of x over `axis`.    dx = gy broadcast back over the summed axes."""

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.x_shape = x.shape
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        gy = _expand_reduced(gy, self.axis, self.keepdims, len(self.x_shape))
        return backend.xp_of(gy).broadcast_to(gy, self.x_shape)


class Mean(Sum):
    """y = mean of x over `axis` (n elements each).    dx = gy / n, broadcast back (Sum's dx)."""

    def forward(self, x):
        self.x_shape = x.shape
        return x.mean(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        n = math.prod(self.x_shape[a] for a in _normalize_axes(self.axis, len(self.x_shape)))
        return super().backward(gy / gy.dtype.type(n))


class Max(Function):
    """y = max of x over `axis`.    dx = gy at the maxima (shared equally between ties), else 0."""

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        y = x.max(axis=self.axis, keepdims=True)
        self.is_max = x == y
        return y if self.keepdims else y.reshape(
            tuple(n for i, n in enumerate(x.shape) if i not in _normalize_axes(self.axis, x.ndim)))

    def backward(self, gy):
        gy = _expand_reduced(gy, self.axis, self.keepdims, self.is_max.ndim)
        ties = self.is_max.sum(axis=self.axis, keepdims=True).astype(gy.dtype)
        return self.is_max * (gy / ties)


class Reshape(Function):
    """y = x viewed with a new shape.    dx = gy reshaped back."""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        return gy.reshape(self.x_shape)


class Transpose(Function):
    """y = x with axes permuted (reversed when None).    dx = gy with the inverse permutation."""

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        if self.axes is None:
            return gy.transpose()
        inverse = sorted(range(len(self.axes)), key=lambda i: self.axes[i] % len(self.axes))
        return gy.transpose(inverse)


class BroadcastTo(Function):
    """y = x broadcast to `shape`.    dx = gy summed over the broadcast axes."""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return backend.xp_of(x).broadcast_to(x, self.shape)

    def backward(self, gy):
        return unbroadcast(gy, self.x_shape)


def _is_basic_index(index):
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis
               for p in parts)


class GetItem(Function):
    """y = x[index].    dx = zeros with gy added at the indexed places (repeats add up)."""

    def __init__(self, index):
        if isinstance(index, Tensor):
            index = index.data
        elif isinstance(index, tuple):
            index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
        self.index = index

    def forward(self, x):
        self.x_shape = x.shape
        return x[self.index]

    def backward(self, gy):
        if _is_row_index(self.index):  # rows picked by an integer array, as an embedding does
            return kernels.rows.add_rows(self.x_shape[0], self.index, gy)
        xp = backend.xp_of(gy)
        gx = xp.zeros(self.x_shape, dtype=gy.dtype)
        if _is_basic_index(self.index):
            gx[self.index] = gy
        else:  # advanced indexing may pick an element twice
            xp.add.at(gx, self.index, gy)
        return gx


def _is_row_index(index):
    """A 1-D integer array picking rows (axis 0), as an embedding lookup does."""
    return hasattr(index, "dtype") and not isinstance(index, Tensor) and index.ndim == 1 \
        and index.dtype.kind in "iu" and index.size > 0


# Elementwise functions: exp, log and the activations.

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


class Concatenate(Function):
    """y = [x1, x2, ...] joined along `axis`.    dx_i = the slice of gy that x_i became."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return backend.xp_of(xs[0]).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        bounds = np.cumsum(self.sizes)[:-1].tolist()
        return tuple(backend.xp_of(gy).split(gy, bounds, axis=self.axis))


def concatenate(tensors, axis=0):
    """Join tensors along an existing axis (all must share dtype and device)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate needs at least one tensor")
    like = next((t for t in tensors if isinstance(t, Tensor)), None)
    tensors = [as_tensor(t, like=like, op="concatenate") for t in tensors]
    check_same_dtype("concatenate", *tensors)
    return Concatenate(axis)(*tensors)


class ToDevice(Function):
    """y = x copied to another device.    dx = gy copied back."""

    def __init__(self, device):
        self.device = device

    def forward(self, x):
        self.source = backend.device_of(x)
        return backend.to_device(x, self.device)

    def backward(self, gy):
        return backend.to_device(gy, self.source)

