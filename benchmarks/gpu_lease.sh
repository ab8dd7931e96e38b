#!/usr/bin/env bash
# The one script run on a lent GPU machine (the `device` tool): the GPU tests, launch counts, the
# GPU benchmark and a short training, each under its own time limit, logs under $OUT. Expects
# the MNIST training files in $MINIGAN_DATA_DIR (default ./payload, carried) and the image's
# python3 with CuPy, torch (CUDA), numba, pytest, hypothesis and matplotlib.
set -u
OUT=${OUT:-runs/gpu_lease}
mkdir -p "$OUT"
export PYTHONPATH=$PWD NUMBA_CACHE_DIR=/tmp/numba_cache MPLBACKEND=Agg PYTHONUNBUFFERED=1
export MINIGAN_DATA_DIR=${MINIGAN_DATA_DIR:-$PWD/payload}
{ nvidia-smi -L; python3 -c "import sys, cupy, torch, numpy, numba; print(sys.version.split()[0],
  'cupy', cupy.__version__, 'torch', torch.__version__, 'numpy', numpy.__version__,
  'numba', numba.__version__)"; } > "$OUT/env.txt" 2>&1
timeout 85 python3 -m pytest -q -m gpu -p no:cacheprovider tests/ > "$OUT/pytest_gpu.txt" 2>&1
echo "pytest exit $?" >> "$OUT/pytest_gpu.txt"
timeout 20 python3 benchmarks/count_launches.py > "$OUT/launches.txt" 2>&1
timeout 20 python3 benchmarks/graph_probe.py >> "$OUT/launches.txt" 2>&1
timeout 80 python3 benchmarks/gan_bench.py --device gpu --batches 64,256,1024 \
    --output "$OUT/gan_bench_gpu.md" > "$OUT/gan_bench_gpu.log" 2>&1
timeout 40 python3 examples/mnist_gan.py --device gpu --epochs 1 --limit 12800 --log-every 50 \
    --out /tmp/minigan_train > "$OUT/train.log" 2>&1
echo "train exit $?" >> "$OUT/train.log"
cp /tmp/minigan_train/final_grid.png "$OUT/" 2>/dev/null
# data-parallel on the GPU: 2 ranks on one GPU share it, so their sums go through MPI (NCCL needs
# a GPU per rank); where mpi4py is missing this line says so and the rest still runs
timeout 60 mpiexec -n 2 python3 examples/mnist_gan.py --distributed --device gpu --epochs 1 \
    --limit 1280 --log-every 5 --out /tmp/minigan_mpi > "$OUT/train_mpi.log" 2>&1
echo "mpi train exit $?" >> "$OUT/train_mpi.log"
tail -n 3 "$OUT/pytest_gpu.txt" "$OUT/train.log" "$OUT/train_mpi.log"
