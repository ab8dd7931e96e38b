"""The CUDA side of the kernels: source specialisation, compilation (memoized) and launch shapes.

Each kernel file keeps its CUDA C beside its Numba loop, as one string `CUDA_SOURCE` written for
a type `scalar_t` with kernel names ending in `_SUFFIX`; `specialize` turns it into the float32
(`_f32`) or float64 (`_f64`) source. Every kernel is named `minigan_*` so it shows up as such in
profilers. Kernels use one thread per output element (consecutive threads write consecutive
elements: coalesced), a 64-bit element index, and the launch shape from `grid`.

Nothing here needs CuPy to import: the sources, `specialize`, `grid` and `launch_args` are plain
Python, and the tests compile-check every source with `nvcc -arch=sm_90 -cubin` on machines
without a GPU. Only `function` (compile and fetch a kernel) and `launch` need CuPy and a GPU.
"""
import functools
import re

import numpy as np

from minigan import backend

BLOCK = 256
# NVRTC options (the tests' nvcc compile check uses the same): no fused multiply-add contraction,
# so a*b + c rounds twice, as NumPy's separate operations do (e.g. tanh's 1 - y*y near |y| = 1
# would otherwise differ from the CPU's by far more than its rounding). The kernels are
# memory-bound: FMA saves nothing measurable here.
COMPILE_OPTIONS = ("--std=c++14", "--fmad=false")
SUFFIXES = {np.dtype(np.float32): ("float", "_f32"), np.dtype(np.float64): ("double", "_f64")}


def specialize(source, dtype):
    """The CUDA source for one element type: scalar_t -> float/double, _SUFFIX -> _f32/_f64."""
    dtype = np.dtype(dtype)
    if dtype not in SUFFIXES:
        raise TypeError(f"GPU kernels take float32 or float64 arrays, got {dtype}")
    c_type, suffix = SUFFIXES[dtype]
    return source.replace("scalar_t", c_type).replace("_SUFFIX", suffix)


def kernel_names(source):
    """The __global__ kernels a source defines, in order (with _SUFFIX still in their names)."""
    return re.findall(r"__global__\s+void\s+(\w+)\s*\(", source)


def parameters(source, name):
    """The C parameter declarations of kernel `name`, e.g. ['const scalar_t* x', ...]."""
    match = re.search(r"__global__\s+void\s+" + name + r"\s*\(([^)]*)\)", source)
    if match is None:
        raise KeyError(f"no kernel {name} in this source")
    return [p.strip() for p in match.group(1).split(",")]


def grid(n, block=BLOCK):
    """(grid, block) shapes for one thread per element of n: ceil(n / block) blocks."""
    if n < 1:
        raise ValueError(f"nothing to launch: {n} elements")
    return ((n + block - 1) // block,), (block,)


_SCALARS = {"long long": np.int64, "unsigned int": np.uint32, "int": np.int32}
_POINTEES = {"scalar_t*": None, "bool*": np.dtype(bool), "long long*": np.dtype(np.int64)}


@functools.cache
def _signature(source, name):
    """[(declaration, C type without const)] of kernel `name`, parsed once per kernel (the
    regex costs tens of microseconds: too much to pay on every launch)."""
    signature = []
    for param in parameters(source, name):
        ctype = param.rsplit(" ", 1)[0].replace("const ", "").strip()
        if ctype not in _SCALARS and ctype not in _POINTEES and ctype != "scalar_t":
            raise TypeError(f"{name}: unsupported parameter type in '{param}'")
        signature.append((param, ctype))
    return tuple(signature)


def launch_args(source, name, dtype, args):
    """`args` converted to what kernel `name` declares, in its order: arrays stay arrays (and
    must have the kernel's element type: scalar_t, bool or long long), `long long` -> np.int64,
    `unsigned int` -> np.uint32, `int` -> np.int32, `scalar_t` -> the element type. Raises on a
    count or type mismatch: the kernel would otherwise read garbage silently."""
    signature = _signature(source, name)
    if len(signature) != len(args):
        raise TypeError(f"{name}: {len(args)} arguments for {len(signature)} parameters "
                        f"{[param for param, _ in signature]}")
    dtype = np.dtype(dtype)
    converted = []
    for (param, ctype), arg in zip(signature, args):
        if ctype in _POINTEES:
            if not hasattr(arg, "dtype"):
                raise TypeError(f"{name}: parameter '{param}' needs an array, got {type(arg)}")
            expected = _POINTEES[ctype] or dtype
            if arg.dtype != expected:
                raise TypeError(f"{name}: parameter '{param}' needs {expected}, got {arg.dtype}")
            if not arg.flags.c_contiguous:  # the kernel indexes flat memory
                raise TypeError(f"{name}: parameter '{param}' needs a C-contiguous array")
            converted.append(arg)
        elif ctype == "scalar_t":
            converted.append(dtype.type(arg))
        else:
            converted.append(_SCALARS[ctype](arg))
    return tuple(converted)


@functools.cache
def _module(source, dtype):
    cupy = backend._cupy_or_error()
    return cupy.RawModule(code=specialize(source, dtype), options=COMPILE_OPTIONS)


@functools.cache
def function(source, name, dtype):
    """The compiled kernel `name` (with _SUFFIX) of `source` for `dtype`; compiled and looked up
    once."""
    return _module(source, np.dtype(dtype)).get_function(
        name.replace("_SUFFIX", SUFFIXES[np.dtype(dtype)][1]))


def launch(source, name, n, dtype, *args):
    """Run kernel `name` with one thread per element of n (n >= 1; nothing runs for n == 0)."""
    if n == 0:
        return
    grid_shape, block_shape = grid(n)
    function(source, name, dtype)(grid_shape, block_shape, launch_args(source, name, dtype, args))
