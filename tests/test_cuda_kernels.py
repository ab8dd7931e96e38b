"""The GPU kernels, tested on machines without a GPU: every CUDA source compiles with nvcc, every
GPU dispatcher launches with arguments that match its kernel's C signature, and the index
arithmetic of im2col/col2im and the layout moves runs right in numba.cuda twins under the CUDA
simulator. The kernels' results on a real GPU are checked by test_gpu.py (marked gpu)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minigan.kernels import (adam, bce, conv_direct, cuda, dropout, im2col, layout, leaky_relu,
                             minibatch_std, rows, sigmoid_tanh)

MODULES = [im2col, layout, dropout, leaky_relu, bce, adam, sigmoid_tanh, conv_direct, rows,
           minibatch_std]
NVCC = shutil.which("nvcc") or next((str(p) for p in Path("/usr/local").glob("cuda*/bin/nvcc")),
                                    None)
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc not found (install the CUDA toolkit "
                                "to compile-check the GPU kernels)")


def nvcc_compile(source, tmp_path, name="kernel"):
    path = tmp_path / f"{name}.cu"
    path.write_text(source)
    return subprocess.run([NVCC, "-arch=sm_90", "-cubin", *cuda.COMPILE_OPTIONS,
                           "-o", str(tmp_path / f"{name}.cubin"), str(path)],
                          capture_output=True, text=True)


@needs_nvcc
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_every_cuda_source_compiles_with_nvcc(module, dtype, tmp_path):
    result = nvcc_compile(cuda.specialize(module.CUDA_SOURCE, dtype), tmp_path)
    assert result.returncode == 0, result.stderr
    names = cuda.kernel_names(module.CUDA_SOURCE)
    assert names and all(n.startswith("minigan_") and n.endswith("_SUFFIX") for n in names)


@needs_nvcc
@pytest.mark.parametrize("breakage", [(";\n", "\n"), ("long long idx", "long long idy"),
                                      ("float* cols", "float cols")])
def test_a_broken_kernel_fails_the_compile_check(breakage, tmp_path):
    old, new = breakage
    broken = cuda.specialize(im2col.CUDA_SOURCE, np.float32).replace(old, new, 1)
    assert broken != cuda.specialize(im2col.CUDA_SOURCE, np.float32)
    assert nvcc_compile(broken, tmp_path).returncode != 0


def test_specialize_and_grid():
    src = cuda.specialize(adam.CUDA_SOURCE, np.float32)
    assert "minigan_adam_f32(float* p" in src and "scalar_t" not in src and "_SUFFIX" not in src
    assert "double" in cuda.specialize(adam.CUDA_SOURCE, np.float64)
    with pytest.raises(TypeError, match="float32 or float64"):
        cuda.specialize(adam.CUDA_SOURCE, np.int32)
    assert cuda.grid(1) == ((1,), (256,))
    assert cuda.grid(256) == ((1,), (256,))
    assert cuda.grid(257) == ((2,), (256,))
    with pytest.raises(ValueError):
        cuda.grid(0)


def test_launch_args_check_the_signature():
    src = leaky_relu.CUDA_SOURCE
    name = "minigan_leaky_relu_forward_SUFFIX"
    x = np.zeros(4, np.float32)
    args = cuda.launch_args(src, name, np.float32, (x, x, 4, 0.2))
    assert type(args[2]) is np.int64 and type(args[3]) is np.float32
    with pytest.raises(TypeError, match="3 arguments for 4"):
        cuda.launch_args(src, name, np.float32, (x, x, 4))
    with pytest.raises(TypeError, match="needs float32"):
        cuda.launch_args(src, name, np.float32, (x.astype(np.float64), x, 4, 0.2))
    with pytest.raises(TypeError, match="needs an array"):
        cuda.launch_args(src, name, np.float32, (x, 1.0, 4, 0.2))
    many = "minigan_adam_many_SUFFIX"
    args = cuda.launch_args(adam.CUDA_SOURCE, many, np.float32,
                            (np.zeros(5, np.int64), 1, 1, 1e-3, 0.1, 0.999, 1e-3, 1.0, 1e-8))
    assert type(args[1]) is np.int32 and type(args[2]) is np.int64
    with pytest.raises(TypeError, match="needs int64"):
        cuda.launch_args(adam.CUDA_SOURCE, many, np.float32,
                         (np.zeros(5, np.int32), 1, 1, 1e-3, 0.1, 0.999, 1e-3, 1.0, 1e-8))


class Recorder:
    """Stands in for kernels.cuda.function: records each launch instead of running it."""

    def __init__(self):
        self.launches = []

    def __call__(self, source, name, dtype):
        def kernel(grid, block, args):
            self.launches.append((name, grid, block, args))
        return kernel


def test_every_gpu_dispatcher_launches_with_matching_arguments(monkeypatch):
    """Each *_gpu function, given NumPy arrays, builds its launch: the argument count and types
    must match the kernel's C signature (launch_args raises otherwise) and the grid must cover
    the output."""
    recorder = Recorder()
    monkeypatch.setattr(cuda, "function", recorder)
    x = np.ones((2, 3, 5, 4), np.float32)
    cols = im2col.im2col_gpu(x, 3, 3, 1, 1, 1, 5, 4)
    assert cols.shape == (27, 40)
    im2col.col2im_gpu(cols, 5, 4, 3, 3, 1, 1, 1, 5, 4)
    layout.to_nchw_gpu(np.ones((3, 10), np.float32), np.ones(3, np.float32), 2)
    layout.from_nchw_gpu(np.ones((2, 3, 5), np.float32))
    flat = np.ones(300, np.float32)
    dropout.forward_gpu(flat, 1, 2, 3, 1.5, 0.01)
    dropout.apply_gpu(flat, flat, np.ones(300, bool), 1.5, 0.01)
    leaky_relu.forward_gpu(flat, 0.01)
    leaky_relu.backward_gpu(flat, flat, 0.01)
    bce.forward_gpu(flat, flat)
    bce.backward_gpu(flat, flat, np.float32(1.0))
    adam.step_gpu(flat.copy(), flat, flat.copy(), flat.copy(), 1e-3, 0.9, 0.999, 1e-8, 1)
    tensors = [[np.ones(size, np.float32) for size in (200, 0, 100)] for _ in range(4)]
    adam.step_many_gpu(*tensors, 1e-3, 0.9, 0.999, 1e-8, 1)
    sigmoid_tanh.sigmoid_gpu(flat)
    sigmoid_tanh.sigmoid_backward_gpu(flat, flat)
    sigmoid_tanh.tanh_backward_gpu(flat, flat)
    names = [name for name, *_ in recorder.launches]
    assert names == ["minigan_im2col_SUFFIX", "minigan_col2im_SUFFIX", "minigan_to_nchw_SUFFIX",
                     "minigan_from_nchw_SUFFIX", "minigan_dropout_forward_SUFFIX",
                     "minigan_dropout_apply_SUFFIX", "minigan_leaky_relu_forward_SUFFIX",
                     "minigan_leaky_relu_backward_SUFFIX", "minigan_bce_forward_SUFFIX",
                     "minigan_bce_backward_SUFFIX", "minigan_adam_SUFFIX",
                     "minigan_adam_many_SUFFIX", "minigan_sigmoid_forward_SUFFIX",
                     "minigan_sigmoid_backward_SUFFIX", "minigan_tanh_backward_SUFFIX"]
    sizes = [27 * 40, 2 * 3 * 5 * 4, 30, 30] + [300] * 11
    for (name, grid, block, _args), size in zip(recorder.launches, sizes):
        assert grid[0] * block[0] >= size > (grid[0] - 1) * block[0], name


def test_adam_many_table_holds_each_tensors_addresses_and_offset(monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr(cuda, "function", recorder)
    p, g, m, v = ([np.zeros(size, np.float32) for size in (3, 0, 5)] for _ in range(4))
    adam.step_many_gpu(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 2)
    (_name, _grid, _block, args), = recorder.launches
    table, count, n = args[:3]
    assert (count, n) == (3, 8) and table.dtype == np.int64
    for k in range(3):
        assert list(table[4 * k:4 * k + 4]) == [a[k].ctypes.data for a in (p, g, m, v)]
    assert list(table[12:]) == [0, 3, 3]
    assert args[3] == np.float32(1e-3 / (1 - 0.9 ** 2))


def test_adam_many_falls_back_to_checked_launches_on_a_mismatched_gradient(monkeypatch):
    """The address table hides g from launch_args' dtype check: step_many must check it, and a
    float64 gradient for a float32 parameter must raise, not be read as float32 garbage."""
    recorder = Recorder()
    monkeypatch.setattr(cuda, "function", recorder)
    monkeypatch.setattr(adam.backend, "on_gpu", lambda a: True)  # NumPy arrays pose as CuPy's
    monkeypatch.setattr(adam.backend, "xp_of", lambda a: np)
    p, m, v = (np.zeros(4, np.float32) for _ in range(3))
    adam.step_many([p], [np.zeros(4, np.float32)], [m], [v], 1e-3, 0.9, 0.999, 1e-8, 1)
    assert [name for name, *_ in recorder.launches] == ["minigan_adam_many_SUFFIX"]
    with pytest.raises(TypeError, match="needs float32"):
        adam.step_many([p], [np.zeros(4, np.float64)], [m], [v], 1e-3, 0.9, 0.999, 1e-8, 1)
    assert len(recorder.launches) == 1


def test_fused_activations_keep_a_scalars_shape(monkeypatch):
    monkeypatch.setattr(cuda, "function", Recorder())
    x = np.ones((), np.float32)
    assert sigmoid_tanh.sigmoid_gpu(x).shape == ()
    assert sigmoid_tanh.sigmoid_backward_gpu(x, x).shape == ()
    assert sigmoid_tanh.tanh_backward_gpu(x, x).shape == ()
    with pytest.raises(ValueError, match="gradient of shape"):
        sigmoid_tanh.tanh_backward_gpu(np.ones(3, np.float32), np.ones(2, np.float32))


def test_adam_groups_parameters_by_step_number(monkeypatch):
    """Adam.step hands each group of parameters at one step number to step_many together."""
    import minigan as mg
    calls = []
    monkeypatch.setattr(adam, "step_many", lambda params, *rest: calls.append((len(params),
                                                                                rest[-1])))
    a, b, c = (mg.tensor(np.ones(3, np.float32), requires_grad=True) for _ in range(3))
    opt = mg.optim.Adam([a, b, c])
    a.grad = b.grad = mg.tensor(np.ones(3, np.float32))
    opt.step()                                  # a, b at step 1; c has no gradient
    a.grad = b.grad = c.grad = mg.tensor(np.ones(3, np.float32))
    opt.step()                                  # a, b at step 2; c at step 1
    assert calls == [(2, 1), (2, 2), (1, 1)]


def test_index_arithmetic_in_the_cuda_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    script = Path(__file__).with_name("cuda_sim_twins.py")
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok" in result.stdout
