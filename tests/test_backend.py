import ast
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import minigan as mg
from minigan import backend
from conftest import gpu_available


def test_device_names():
    assert backend.normalize_device("cpu") == "cpu"
    assert backend.normalize_device("GPU") == "gpu"
    assert backend.normalize_device("cuda") == "gpu"
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        backend.normalize_device("tpu")


def test_cpu_device_is_numpy():
    mg.set_device("cpu")
    assert mg.get_device() == "cpu"
    assert backend.xp("cpu") is np
    x = mg.tensor([1.0, 2.0])
    assert x.device == "cpu" and isinstance(x.data, np.ndarray) and x.dtype == np.float32


@pytest.mark.skipif(gpu_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("name", ["gpu", "cuda"])
def test_gpu_without_gpu_is_one_clear_error(name):
    with pytest.raises(mg.DeviceError) as info:
        mg.set_device(name)
    message = str(info.value)
    if importlib.util.find_spec("cupy") is None:
        assert "CuPy, which is not installed" in message and "[gpu]" in message
    else:
        assert "no working driver" in message or "sees none" in message
    assert "use device 'cpu'" in message
    assert mg.get_device() == "cpu"  # the failed switch changed nothing
    with pytest.raises(mg.DeviceError):
        mg.tensor([1.0], device=name)
    with pytest.raises(mg.DeviceError):
        mg.nn.Dense(2, 3).to(name)


def test_gpu_error_when_cupy_is_missing(monkeypatch):
    """Simulate a machine without CuPy: the import fails and the error says how to fix it."""
    import builtins
    real_import = builtins.__import__

    def no_cupy(name, *args, **kwargs):
        if name == "cupy" or name.startswith("cupy."):
            raise ImportError("No module named 'cupy'")
        return real_import(name, *args, **kwargs)

    backend._cupy_or_error.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_cupy)
    try:
        with pytest.raises(mg.DeviceError, match=r"CuPy, which is not installed.*\[gpu\]"):
            mg.set_device("gpu")
    finally:
        monkeypatch.undo()
        backend._cupy_or_error.cache_clear()


def test_package_does_not_import_cupy_or_torch():
    """The package imports without CuPy; torch is never imported by minigan itself."""
    import subprocess
    import sys
    code = ("import sys, minigan, minigan.nn, minigan.optim, minigan.functional; "
            "bad = [m for m in ('cupy', 'torch') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# A fresh process records every mallopt asked for through ctypes while it imports every module
# of minigan, then once more while keep_freed_memory_in_heap is called twice.
MALLOPT_CHILD = r"""
import ctypes, importlib, json, pkgutil
calls = []
class Recording(ctypes.CDLL):
    def __getattr__(self, name):
        function = super().__getattr__(name)     # which CDLL keeps as an attribute: wrap that
        if name == "mallopt":
            function = lambda *args, f=function: calls.append(args) or f(*args)
            setattr(self, name, function)
        return function
ctypes.CDLL = Recording
import minigan
for module in pkgutil.walk_packages(minigan.__path__, "minigan."):
    importlib.import_module(module.name)
at_import = list(calls)
from minigan import backend
answers = [backend.keep_freed_memory_in_heap(), backend.keep_freed_memory_in_heap()]
print(json.dumps({"at_import": at_import, "asked": calls[len(at_import):], "answers": answers}))
"""


def test_importing_minigan_leaves_malloc_alone_until_asked():
    """No process-wide setting changes at import: keep_freed_memory_in_heap is an explicit call,
    and a second call changes nothing more."""
    import json
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", MALLOPT_CHILD], capture_output=True, text=True,
                         check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["at_import"] == []
    if sys.platform.startswith("linux") and report["asked"]:   # glibc
        assert report["asked"] == [[-3, 1 << 30], [-1, (1 << 31) - 1]]
        assert report["answers"] == [True, True]
    else:                                                       # no mallopt to call: a no-op
        assert report["answers"] == [False, False]


def test_manual_seed_makes_init_reproducible():
    mg.manual_seed(123)
    a = mg.nn.Dense(4, 3).weight.numpy()
    mg.manual_seed(123)
    b = mg.nn.Dense(4, 3).weight.numpy()
    c = mg.nn.Dense(4, 3).weight.numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


def test_to_numpy_is_a_copy():
    x = mg.tensor([1.0, 2.0])
    host = x.numpy()
    host[0] = 5.0
    assert x.data[0] == 1.0


PACKAGE = Path(mg.__file__).parent


def _module_name(path):
    """minigan/functional/conv.py -> minigan.functional.conv; a package's __init__.py -> the
    package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path) for path in PACKAGE.rglob("*.py")}


def _imports(path):
    """The minigan modules a file imports anywhere: when it loads, inside functions and in a
    module __getattr__ alike (an import deferred into a function still makes a cycle)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:   # `from minigan import gan` imports minigan.gan
                name = f"{node.module}.{alias.name}"
                found.add(name if name in MODULES else node.module)
    modules = set()
    for name in found:
        while name and name not in MODULES:   # minigan.kernels.gemm.matmul -> ...gemm
            name = name.rpartition(".")[0]
        if name and name != _module_name(path):
            modules.add(name)
    return modules


def _import_cycles():
    """The groups of minigan modules that import each other, directly or round a loop (the
    strongly connected components of the import graph with more than one module)."""
    graph = {_module_name(path): _imports(path) for path in PACKAGE.rglob("*.py")}
    reaches = {module: set(targets) for module, targets in graph.items()}
    changed = True
    while changed:                       # transitive closure: the graph is small
        changed = False
        for targets in reaches.values():
            more = set().union(*(reaches.get(t, set()) for t in targets)) - targets
            if more:
                targets |= more
                changed = True
    return sorted({tuple(sorted(m for m in reaches if m in reaches[module] and
                                module in reaches[m]))
                   for module in graph if module in reaches[module]})


def test_no_module_imports_its_way_back_to_itself():
    assert _import_cycles() == []


LAYERS = {  # each layer of the engine imports only the layers below it
    "backend.py": set(),
    "threads.py": set(),
    "kernels": {"minigan.backend", "minigan.threads", "minigan.kernels"},
    "autograd.py": {"minigan.backend", "minigan.kernels"},
    "functional": {"minigan.backend", "minigan.kernels", "minigan.autograd",
                   "minigan.functional"},
}


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_the_engine_imports_downward_only(layer):
    """Each layer imports, anywhere in its files, only the layers below it: autograd no
    functional op, kernels no Tensor."""
    root = PACKAGE / layer
    allowed = LAYERS[layer]
    for path in sorted(root.glob("*.py")) if root.is_dir() else [root]:
        for name in _imports(path):
            assert any(name == a or name.startswith(a + ".") for a in allowed), \
                f"{path.name} imports {name}"


def test_functional_ops_know_nothing_of_a_data_parallel_run():
    """No op of minigan.functional, and nothing in gan.py, imports minigan.distributed: a
    data-parallel model gets the ops' global-batch subclasses from distributed.convert, and the
    steps their draws and means from the Rules' batch (distributed.GlobalBatch)."""
    for path in [*sorted((PACKAGE / "functional").glob("*.py")), PACKAGE / "gan.py"]:
        for name in _imports(path):
            assert not name.startswith("minigan.distributed"), f"{path.name} imports {name}"
            assert "global_batch" not in name, f"{path.name} imports {name}"
