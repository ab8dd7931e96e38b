"""Which parts of a minigan training step can be captured in a CUDA graph with this CuPy?

    python benchmarks/graph_probe.py

For each piece (a CuPy elementwise op, a cuBLAS matmul, CuPy's random generators, minigan's own
kernels, a whole D step on a real batch), capture it on a non-default stream, replay the graph,
and print "ok" or the error. Needs a GPU. (A captured D step replays its dropout seeds as
constants: a real use would have to feed seeds through device memory.)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def main():
    import cupy as cp

    import minigan as mg
    from bench_common import minigan_models, minigan_steps
    from minigan import kernels, recipes
    mg.set_device("gpu")
    a = cp.ones((64, 64), cp.float32)
    x = cp.ones((64, 32, 28, 28), cp.float32)
    recipe = recipes.get_recipe("original")
    d_step, _ = minigan_steps(*minigan_models(recipe, "gpu"), recipe)
    real = mg.tensor(np.random.default_rng(0).uniform(-1, 1, (64, 784)), device="gpu")
    generator = cp.random.default_rng(0)
    pieces = {
        "elementwise (a * 2 + 1)": lambda: a * 2 + 1,
        "cuBLAS matmul": lambda: a @ a,
        "cupy.random.default_rng normal": lambda: generator.standard_normal((64, 100)),
        "cupy.random.rand (legacy, cuRAND)": lambda: cp.random.rand(64, 100),
        "minigan im2col kernel": lambda: kernels.im2col.im2col(x, 3, 3, 1, 1, 1, 28, 28),
        "minigan dropout kernel": lambda: kernels.dropout.forward(x, 7, 5_000_000, 1.4, 0.01),
        "minigan D step on a real batch": lambda: d_step(real, 0),
    }
    stream = cp.cuda.Stream(non_blocking=True)
    for name, piece in pieces.items():
        with stream:
            piece()  # warm up: compile kernels, fill the memory pool
            stream.synchronize()
            try:
                stream.begin_capture()
                try:
                    piece()
                finally:
                    graph = stream.end_capture()
                graph.launch()
                stream.synchronize()
                print(f"{name}: ok")
            except Exception as error:  # report every failure, go on with the next piece
                print(f"{name}: FAILED {type(error).__name__}: {str(error)[:160]}")


if __name__ == "__main__":
    main()
