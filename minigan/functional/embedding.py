"""Embedding: a lookup table of learned vectors, one row per class (the conditional GAN's label
input)."""
import numpy as np

from minigan import backend
from minigan.autograd import Function, Tensor, float_tensor


class Embedding(Function):
    """y[n] = W[i_n]: indices (N,) -> rows (N, dim) of W (num_embeddings, dim).

    y is linear in W with dy[n]/dW[k] = 1 where i_n = k, so dW[k] = the sum of gy[n] over every
    n with i_n = k: a scatter-add, where a class drawn twice in a batch gets both gradients."""

    def __init__(self, indices):
        self.indices = indices

    def forward(self, weight):
        self.weight_shape = weight.shape
        return weight[self.indices]

    def backward(self, gy):
        xp = backend.xp_of(gy)
        gw = xp.zeros(self.weight_shape, dtype=gy.dtype)
        xp.add.at(gw, self.indices, gy)      # repeated indices add up (gw[i] += would not)
        return gw


def embedding(indices, weight):
    """The rows of weight (num_embeddings, dim) at the integer indices (any shape) -> (*indices'
    shape, dim). Indices must be integers in [0, num_embeddings)."""
    weight = float_tensor("embedding", weight)
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be (num_embeddings, dim), got "
                         f"{tuple(weight.shape)}")
    data = indices.data if isinstance(indices, Tensor) else indices
    xp = backend.xp_of(weight.data)
    if not hasattr(data, "dtype"):
        data = np.asarray(data)
    if data.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers (class labels), got dtype "
                        f"{data.dtype}; convert with .astype(int)")
    data = xp.asarray(data)
    if data.size and (int(data.min()) < 0 or int(data.max()) >= weight.shape[0]):
        raise ValueError(f"embedding: indices must lie in [0, {weight.shape[0]}), got values from "
                         f"{int(data.min())} to {int(data.max())}")
    return Embedding(data)(weight)
