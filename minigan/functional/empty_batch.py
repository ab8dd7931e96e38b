"""The empty-batch rule, the same for every op with a batch axis (conv2d on each of its paths,
conv_transpose2d, dense, batch_norm in training and evaluation, the dropouts, the batch
statistics, the losses): a batch of 0 samples is refused with one ValueError naming the op.

An empty batch is a mistake upstream (a slice or a filter that kept nothing), and its statistics
and mean losses would be 0 / 0. Elementwise ops (activations, the algebra) map any shape, an
empty one included: they take nothing over the batch. The kernels may assume N >= 1.
"""


def check_batch(op, x):
    """ValueError, naming `op`, when x (a Tensor or array (N, ...)) holds a batch of N = 0."""
    if x.ndim >= 1 and x.shape[0] == 0:
        raise ValueError(f"{op}: the batch is empty (x has shape {tuple(x.shape)}); give at "
                         "least one sample")
