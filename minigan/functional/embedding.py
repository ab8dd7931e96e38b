"""Embedding: a lookup table of learned vectors, one row per class (the conditional GAN's label
input)."""
import numpy as np

from minigan import backend
from minigan.autograd import GetItem, Tensor, float_tensor


def embedding(indices, weight):
    """The rows of weight (num_embeddings, dim) at the integer indices (any shape) -> (*indices'
    shape, dim). Indices must be integers in [0, num_embeddings).

    y[n] = W[i_n] is linear in W with dy[n]/dW[k] = 1 where i_n = k, so dW[k] = the sum of gy[n]
    over every n with i_n = k: a scatter-add, where a class drawn twice in a batch gets both
    gradients. That is the gradient of indexing by an integer array (autograd.GetItem), which
    this is, after checking the indices."""
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
    return GetItem(data)(weight)
