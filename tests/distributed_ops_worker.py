"""Each batch-wide op on a float64 batch of 8 rows, in one process or split over the ranks of
`mpiexec -n K` (gathered back in rank order): python tests/distributed_ops_worker.py OUT.npz
[--distributed]. The test compares the two files."""
import sys

import numpy as np

import minigan as mg
from minigan import distributed, gan
from minigan.functional import global_batch
from minigan.functional import batch_stats
from minigan.functional.dropout import Dropout
from minigan.functional.normalization import BatchNorm

N = 8
rng = np.random.default_rng(0)
INPUTS = {"x4": rng.normal(size=(N, 3, 4, 4)), "g_std": rng.normal(size=(N, 4, 4, 4)),
          "g_bn4": rng.normal(size=(N, 3, 4, 4)), "m": rng.normal(size=(N, 2, 3)),
          "g_m": rng.normal(size=(N, 2)), "x2": rng.normal(size=(N, 5)),
          "g_bn2": rng.normal(size=(N, 5)), "f": rng.normal(size=(N, 6)),
          "real_f": rng.normal(size=(N, 6)), "labels": np.array([3, 1, 3, 0, 1, 1, 7, 3])}
GAMMA, BETA = rng.normal(size=3), rng.normal(size=3)


def run(rows):
    """{name: value}: per-row results for these rows, and whole-batch ones (parameter
    gradients, statistics) that each rank holds in part and the caller sums."""
    x = {k: v[rows] for k, v in INPUTS.items()}
    out, summed = {}, {}
    op = batch_stats.MinibatchStd()
    out["std_y"], out["std_dx"] = op.forward(x["x4"]), op.backward(x["g_std"])
    op = batch_stats.BatchCloseness()
    out["closeness_y"], out["closeness_dm"] = op.forward(x["m"]), op.backward(x["g_m"])
    for name, data, g, gamma, beta in (("bn4", x["x4"], x["g_bn4"], GAMMA, BETA),
                                       ("bn2", x["x2"], x["g_bn2"], np.ones(5), np.zeros(5))):
        op = BatchNorm(1e-5)
        out[name + "_y"] = op.forward(data, gamma, beta)
        out[name + "_dx"], summed[name + "_dgamma"], summed[name + "_dbeta"] = op.backward(g)
    # feature matching: w * mean(gap**2), gap per digit (conditional) or over the batch
    f = mg.tensor(x["f"], dtype="float64", requires_grad=True)
    gap = gan.class_mean_gap(x["labels"], f, x["real_f"])
    whole = global_batch.batch_mean(f) - global_batch.batch_mean_array(x["real_f"])
    loss = (gap * gap).mean() + (whole * whole).mean()
    loss.backward()
    out["fm_df"] = f.grad.numpy() / global_batch.share(1)[1]   # as averaged over the K ranks
    # random draws over a batch: this rank's rows of the global batch's
    mg.manual_seed(1)
    out["noise"] = gan.sample_noise(len(x["f"])).numpy().astype(np.float64)
    out["dropout"] = Dropout(0.3).forward(np.ones((len(x["f"]), 2, 3, 3), np.float32))
    return out, summed


def main(path, *flags):
    if "--distributed" not in flags:
        out, summed = run(slice(None))
        np.savez(path, **out, **summed)
        return
    comm = distributed.Communicator()
    n = N // comm.size
    with comm.active():
        out, summed = run(slice(comm.rank * n, (comm.rank + 1) * n))
    out = {k: comm.gather_rows(np.asarray(v)) for k, v in out.items()}
    summed = {k: comm.sum(v) for k, v in summed.items()}
    if comm.rank == 0:
        np.savez(path, **out, **summed)


if __name__ == "__main__":
    main(*sys.argv[1:])
