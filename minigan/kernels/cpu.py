"""The CPU side of the kernels: the Numba loops of the elementwise kernels index flat memory.

Each such loop takes 1-D C-contiguous arrays of one size and returns 1-D results (or writes in
place). `run_flat` is how a dispatcher calls one on arrays of any shape and layout.
"""
import numpy as np


def run_flat(kernel, shape, arrays, *args):
    """kernel(*arrays flattened, *args), each result reshaped to `shape`; None for a kernel that
    writes in place. A contiguous array goes in as a view (so in-place writes reach it), any
    other as one contiguous copy."""
    out = kernel(*[np.ascontiguousarray(a).reshape(-1) for a in arrays], *args)
    if out is None:
        return None
    if isinstance(out, tuple):
        return tuple(o.reshape(shape) for o in out)
    return out.reshape(shape)
