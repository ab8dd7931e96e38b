"""gradcheck: compare autograd against float64 central differences."""
import numpy as np

from minigan import backend
from minigan.autograd import Tensor, no_grad


class GradcheckError(AssertionError):
    """Autograd and finite differences disagree."""


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check d(sum(gy * fn(*inputs)))/d(input) for every input tensor that requires grad.

    The inputs are promoted to float64 for the check (their data is restored afterwards), gy is
    a random upstream gradient (an all-ones gy would pass a backward that forgets to multiply by
    it), and each element is perturbed by +-eps. Raises GradcheckError naming the input, the
    worst element and both values. Returns True.
    """
    tensors = [x for x in inputs if isinstance(x, Tensor)]
    if not any(t.requires_grad for t in tensors):
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")
    saved = [(t.data, t.grad) for t in tensors]
    try:
        for t in tensors:
            t.data = backend.xp_of(t.data).array(t.data, dtype=np.float64)
            t.grad = None
        out = fn(*inputs)
        xp = backend.xp_of(out.data)
        gy = xp.asarray(np.random.default_rng(seed).standard_normal(out.shape))
        out.backward(gy)

        def objective():
            with no_grad():
                return float((fn(*inputs).data * gy).sum())

        for position, t in enumerate(inputs):
            if not (isinstance(t, Tensor) and t.requires_grad):
                continue
            analytic = backend.to_numpy(t.grad.data) if t.grad is not None else np.zeros(t.shape)
            numeric = _central_differences(objective, t.data, eps)
            _check_close(position, analytic, numeric, atol, rtol)
    finally:
        for t, (data, grad) in zip(tensors, saved):
            t.data, t.grad = data, grad
    return True


def _central_differences(objective, data, eps):
    """d objective / d data, element by element: (f(x + eps) - f(x - eps)) / (2 eps), with
    objective() reading `data` (perturbed in place and restored) and returning a float."""
    numeric = np.empty(data.shape)
    flat = data.reshape(-1)  # a view: perturbing it perturbs the input
    for i in range(flat.size):
        original = float(flat[i])
        flat[i] = original + eps
        f_plus = objective()
        flat[i] = original - eps
        f_minus = objective()
        flat[i] = original
        numeric.flat[i] = (f_plus - f_minus) / (2 * eps)
    return numeric


def _check_close(position, analytic, numeric, atol, rtol):
    """GradcheckError naming input `position`, its worst element and both values unless
    |analytic - numeric| <= atol + rtol |numeric| everywhere."""
    excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
    if excess.size and excess.max() > 0:
        worst = tuple(int(i) for i in np.unravel_index(int(excess.argmax()), numeric.shape))
        raise GradcheckError(
            f"gradcheck: input {position} (shape {numeric.shape}) at index {worst}: autograd "
            f"gives {analytic[worst]:.8g}, finite differences {numeric[worst]:.8g} "
            f"(atol={atol}, rtol={rtol}; {int((excess > 0).sum())} of {excess.size} "
            "elements off)")
