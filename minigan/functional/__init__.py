"""Stateless differentiable ops, used as `import minigan.functional as F`."""
from minigan.functional.activation import exp, leaky_relu, log, relu, sigmoid, tanh
from minigan.functional.batch_stats import batch_closeness, minibatch_std
from minigan.functional.conv import conv2d
from minigan.functional.conv_transpose import conv_transpose2d
from minigan.functional.dropout import dropout, leaky_relu_dropout
from minigan.functional.embedding import embedding
from minigan.functional.linear import dense
from minigan.functional.loss import (DomainError, binary_cross_entropy,
                                     binary_cross_entropy_with_logits, cross_entropy)
from minigan.functional.normalization import batch_norm

__all__ = ["DomainError", "batch_closeness", "batch_norm", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "conv2d", "conv_transpose2d", "cross_entropy",
           "dense", "dropout", "embedding", "exp", "leaky_relu", "leaky_relu_dropout", "log",
           "minibatch_std", "relu", "sigmoid", "tanh"]
