"""Each batch-wide layer and step helper on a float64 batch of 8 rows, in one process or split
over the ranks of `mpiexec -n K` (the layers converted by minigan.distributed.convert, the step
helpers a GlobalBatch; per-row results gathered back in rank order): python
tests/distributed_ops_worker.py OUT.npz [--distributed]. The test compares the two files."""
import sys

import numpy as np

import minigan as mg
from minigan import distributed, gan_layers, nn
from minigan.batch import LOCAL_BATCH

N = 8
rng = np.random.default_rng(0)
INPUTS = {"x4": rng.normal(size=(N, 3, 4, 4)), "g_std": rng.normal(size=(N, 4, 4, 4)),
          "g_bn4": rng.normal(size=(N, 3, 4, 4)), "a": rng.normal(size=(N, 4)),
          "g_a": rng.normal(size=(N, 6)), "x2": rng.normal(size=(N, 5)),
          "g_bn2": rng.normal(size=(N, 5)), "f": rng.normal(size=(N, 6)),
          "real_f": rng.normal(size=(N, 6)), "labels": np.array([3, 1, 3, 0, 1, 1, 7, 3])}
GAMMA, BETA, T = rng.normal(size=3), rng.normal(size=3), rng.normal(size=(4, 2 * 3))


class BatchWide(nn.Module):
    """One of each layer whose output depends on the batch, float64 (the dropout layers take
    float32 ones)."""

    def __init__(self):
        self.bn4, self.bn2 = nn.BatchNorm2d(3), nn.BatchNorm1d(5)
        self.std = gan_layers.MinibatchStd()
        self.discrimination = gan_layers.MinibatchDiscrimination(4, 2, kernel_dim=3)
        self.dropout, self.leaky_dropout = nn.Dropout(0.3), nn.LeakyReLUDropout(0.2, 0.3)
        for _, t in self.named_tensors():
            if t.dtype.kind == "f":
                t.data = t.data.astype(np.float64)
        self.bn4.weight.data[:], self.bn4.bias.data[:] = GAMMA, BETA
        self.discrimination.weight.data[:] = T


def run(rows, model, batch):
    """{name: value}: per-row results for these rows, whole-batch ones (parameter gradients)
    that each rank holds in part and the caller sums, and ones every rank holds whole (the
    running statistics)."""
    x = {k: v[rows] for k, v in INPUTS.items()}
    out = {}
    for name, layer, data, g in (("std", model.std, "x4", "g_std"),
                                 ("bn4", model.bn4, "x4", "g_bn4"),
                                 ("bn2", model.bn2, "x2", "g_bn2"),
                                 ("closeness", model.discrimination, "a", "g_a")):
        xt = mg.tensor(x[data], dtype="float64", requires_grad=True)
        y = layer(xt)
        (y * mg.tensor(x[g], dtype="float64")).sum().backward()
        out[name + "_y"], out[name + "_dx"] = y.numpy(), xt.grad.numpy()
    summed = {name: p.grad.numpy() for name, p in model.named_parameters()}
    whole = {name: t.numpy() for name, t in model.named_tensors() if "running" in name}
    # feature matching: w * mean(gap**2), gap per digit (conditional) or over the batch
    f = mg.tensor(x["f"], dtype="float64", requires_grad=True)
    gap = batch.class_mean_gap(x["labels"], f, x["real_f"])
    mean_gap = batch.mean(f) - batch.mean_of(x["real_f"])
    loss = (gap * gap).mean() + (mean_gap * mean_gap).mean()
    loss.backward()
    out["fm_df"] = f.grad.numpy() / (N // len(x["f"]))          # as averaged over the K ranks
    # random draws over a batch: this rank's rows of the global batch's
    mg.manual_seed(1)
    out["noise"] = batch.normal((len(x["f"]), 100)).astype(np.float64)
    ones = mg.tensor(np.ones((len(x["f"]), 2, 3, 3), np.float32))
    out["dropout"], out["leaky_dropout"] = model.dropout(ones).numpy(), \
        model.leaky_dropout(-ones).numpy()
    return out, summed, whole


def main(path, *flags):
    mg.manual_seed(0)
    model = BatchWide()
    if "--distributed" not in flags:
        out, summed, whole = run(slice(None), model, LOCAL_BATCH)
        np.savez(path, **out, **summed, **whole)
        return
    comm = distributed.Communicator()
    n = N // comm.size
    model = distributed.convert(model, comm)
    out, summed, whole = run(slice(comm.rank * n, (comm.rank + 1) * n), model,
                             distributed.GlobalBatch(comm))
    out = {k: comm.gather_rows(np.asarray(v)) for k, v in out.items()}
    summed = {k: comm.sum(v) for k, v in summed.items()}
    if comm.rank == 0:
        np.savez(path, **out, **summed, **whole)


if __name__ == "__main__":
    main(*sys.argv[1:])
