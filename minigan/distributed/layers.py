"""The global-batch twins of the layers whose output depends on the batch, and convert(), which
swaps them into a model (as PyTorch's SyncBatchNorm.convert_sync_batchnorm): BatchNorm1d/2d,
MinibatchStd and MinibatchDiscrimination take their statistics over every rank's rows, Dropout
and LeakyReLUDropout draw their masks for the global batch's rows.

A twin is its layer with the same Parameters and Buffers (the same objects, under the same
names), so state_dict(), checkpoints and Communicator.broadcast see no difference, and a
checkpoint of a K-rank run loads into a one-process model and back. A deep copy of a twin is its
plain layer: a copy takes no part in the ranks' collective calls (the averaged generator,
minigan.ema, is a copy of G that only the writing rank samples).
"""
import copy

from minigan import nn
from minigan.autograd import float_tensor
from minigan.distributed import ops
from minigan.functional.empty_batch import check_batch
from minigan.gan_layers import MinibatchDiscrimination, MinibatchStd


class Twin:
    """A layer's global-batch twin (placed before the layer's class in the bases)."""

    @classmethod
    def of(cls, layer, comm):
        """The twin of `layer`: its attributes, tensors included (the same objects), and comm."""
        twin = cls.__new__(cls)
        vars(twin).update(vars(layer))
        twin.comm = comm
        return twin

    def __deepcopy__(self, memo):
        """The plain layer, its attributes deep-copied (no comm)."""
        layer = PLAIN[type(self)].__new__(PLAIN[type(self)])
        memo[id(self)] = layer
        vars(layer).update(copy.deepcopy({k: v for k, v in vars(self).items() if k != "comm"},
                                         memo))
        return layer


class SyncStatistics(Twin):
    """BatchNorm whose training-mode statistics are the global batch's (ops.SyncBatchNorm);
    eval() uses the running statistics, as the layer does."""

    def normalize(self, x):
        if not self.training:
            return super().normalize(x)
        return ops.sync_batch_norm(x, self.weight, self.bias, self.running_mean,
                                   self.running_var, self.comm, momentum=self.momentum,
                                   eps=self.eps)


class SyncBatchNorm1d(SyncStatistics, nn.BatchNorm1d):
    """BatchNorm1d over the global batch."""


class SyncBatchNorm2d(SyncStatistics, nn.BatchNorm2d):
    """BatchNorm2d over the global batch."""


class GlobalMinibatchStd(Twin, MinibatchStd):
    """The minibatch-std channel of the global batch, in training and evaluation alike (the
    layer has no running statistics): every rank must call it together."""

    def forward(self, x):
        return ops.minibatch_std(x, self.comm)


class GlobalMinibatchDiscrimination(Twin, MinibatchDiscrimination):
    """Minibatch discrimination against every rank's rows (an all-gather per call, in training
    and evaluation alike: every rank must call it together)."""

    def closeness(self, m):
        return ops.batch_closeness(m, self.comm)


class GlobalMask(Twin):
    """A dropout layer whose training-mode mask is the global batch's (mask() makes the op)."""

    def forward(self, x):
        if not self.training or self.rate == 0.0:   # nothing drawn: the layer's own
            return super().forward(x)
        x = float_tensor(type(self).__name__, x)
        check_batch(type(self).__name__, x)
        return self.mask()(x)


class GlobalDropout(GlobalMask, nn.Dropout):
    """nn.Dropout with the global batch's mask."""

    def mask(self):
        return ops.GlobalDropout(self.comm, self.rate)


class GlobalLeakyReLUDropout(GlobalMask, nn.LeakyReLUDropout):
    """nn.LeakyReLUDropout with the global batch's mask."""

    def mask(self):
        return ops.GlobalLeakyReLUDropout(self.comm, self.alpha, self.rate)


MASKS = {nn.Dropout: GlobalDropout, nn.LeakyReLUDropout: GlobalLeakyReLUDropout}
STATISTICS = {nn.BatchNorm1d: SyncBatchNorm1d, nn.BatchNorm2d: SyncBatchNorm2d,
              MinibatchStd: GlobalMinibatchStd,
              MinibatchDiscrimination: GlobalMinibatchDiscrimination}
PLAIN = {twin: layer for layer, twin in (MASKS | STATISTICS).items()}   # a twin's copy's class


def convert(module, comm):
    """Swap, in place, every layer of `module` (itself, its children, theirs...) of exactly one
    of the classes above for its twin: the dropout layers always (the masks of a data-parallel
    run are the global batch's, so that they do not depend on K), the statistics layers when
    comm.sync_statistics. Returns the module, or its twin when it is such a layer itself.
    A layer held twice gets one twin."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"convert: expected a Module (a model or a layer), got a "
                        f"{type(module).__name__}")
    twins = (MASKS | STATISTICS) if comm.sync_statistics else MASKS
    return _converted(module, comm, twins, {})


def _converted(module, comm, twins, done):
    """module's twin, or module with its children converted; `done` maps id -> result."""
    if id(module) not in done:
        twin = twins.get(type(module))
        if twin is not None:
            done[id(module)] = twin.of(module, comm)
        else:
            done[id(module)] = module
            for name, child in module.named_children():
                setattr(module, name, _converted(child, comm, twins, done))
    return done[id(module)]


__all__ = ["GlobalDropout", "GlobalLeakyReLUDropout", "GlobalMinibatchDiscrimination",
           "GlobalMinibatchStd", "SyncBatchNorm1d", "SyncBatchNorm2d", "convert"]
