"""The averaged generator: an exponential moving average of G's weights (Yazici et al. 2019;
BigGAN and StyleGAN sample from one), kept beside G and never trained:

    A <- d_t * A + (1 - d_t) * W        after the t-th Adam step of G, for every weight W
    d_t = min(decay, (1 + t) / (10 + t))                                  (t = 0, 1, 2, ...)

With decay 0.999 the average spans about 1 / (1 - decay) = 1,000 steps: it smooths the last
epoch's oscillation of G around the equilibrium the two networks chase. Early on d_t is smaller
(0.1 at the first step, 0.5 at the 8th, 0.99 at the 890th: the warm-up of TensorFlow's
ExponentialMovingAverage with num_updates), so the average forgets G's random start: with a
constant 0.999 from the first step, an epoch of 937 steps would still weigh the initial weights
by 0.999^937 = 0.39. BatchNorm's running mean and variance are averaged the same way (they follow
the weights that made them); the step counter is copied.

It plugs in as an optimizer: WeightAveraging wraps G's Adam, and each step() is Adam's step,
then the average's update, so the training steps run as ever and nothing they compute changes.
The trainer keeps the average (and its update count) in the checkpoint beside G.
"""
import copy



class WeightAveraging:
    """G's optimizer, whose step() also moves `average` (a copy of G) towards G's weights."""

    def __init__(self, optimizer, G, decay):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the average's decay must be in (0, 1), e.g. 0.999; got {decay!r}")
        self.optimizer, self.G, self.decay = optimizer, G, decay
        self.average = copy.deepcopy(G).eval()
        self.average.requires_grad_(False)
        self.updates = 0

    def step(self):
        self.optimizer.step()
        self.update()

    def update(self):
        """A <- d A + (1 - d) W for every float tensor, d = min(decay, (1 + t) / (10 + t)) at
        the t-th update (t from 0); integer buffers copied."""
        keep = min(self.decay, (1 + self.updates) / (10 + self.updates))
        mine = dict(self.average.named_tensors())
        for name, source in self.G.named_tensors():
            target = mine[name].data
            if target.dtype.kind != "f":
                target[...] = source.data
            else:
                target *= target.dtype.type(keep)
                target += target.dtype.type(1 - keep) * source.data
        self.updates += 1

    def __getattr__(self, name):   # zero_grad, state_dict...: the wrapped optimizer's
        return getattr(self.optimizer, name)


__all__ = ["WeightAveraging"]
