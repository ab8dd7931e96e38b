"""The recipe's tricks against collapse that change what a step computes, as pieces of its Rules
(minigan.gan): instance noise (a view of the images) and feature matching (a term G adds).
Label smoothing is one number, Rules.real_label; the tricks that change the networks (the
BatchNorm generator, the minibatch-std channel, minibatch discrimination, packing) are layers.
docs/gan-tricks.md measures each.
"""
import numpy as np

from minigan import backend
from minigan.autograd import no_grad
from minigan.batch import LOCAL_BATCH
from minigan.gan import unchanged


def instance_noise(std, batch=LOCAL_BATCH):
    """x -> x + std * eps, eps ~ N(0, 1) per pixel, drawn over the batch: D sees real and fake
    images through the same blur, so their distributions overlap and D's gradient to G does not
    vanish while D wins (Sonderby et al. 2016, Arjovsky & Bottou 2017). std 0: the images as
    they are (no draw). The gradient passes unchanged: d(x + n)/dx = 1."""
    if std <= 0:
        return unchanged

    def show(x):
        noise = batch.normal(x.shape) * np.float32(std)
        return x + backend.to_device(noise, x.device)
    return show


def feature_matching(weight):
    """G's term w * mean(gap ** 2), gap = mean over the batch of D.features(fakes) minus that of
    D.features(real images) seen as D sees them (Salimans et al. 2016): G must match the data's
    statistics, not just fool D on one mode. d/dfeatures of the fakes = 2 w gap / (N * F)."""
    def term(D, features, real, rules):
        gap = rules.batch.mean(features) - rules.batch.mean_of(real_features(D, real, rules))
        return weight * (gap * gap).mean()
    return term


def real_features(D, real, rules):
    """D.features of the real batch as D is shown it, an array (no gradient needed)."""
    with no_grad():
        return D.features(rules.show(real)).data


__all__ = ["feature_matching", "instance_noise", "real_features"]
