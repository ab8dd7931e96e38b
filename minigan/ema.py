"""The averaged generator: an exponential moving average of G's weights (Yazici et al. 2019;
BigGAN and StyleGAN sample from one), kept beside G and never trained:

    A <- decay * A + (1 - decay) * W        after every Adam step of G, for every weight W

With decay 0.999 the average spans about 1 / (1 - decay) = 1,000 steps: it smooths the last
epoch's oscillation of G around the equilibrium the two networks chase. BatchNorm's running mean
and variance are averaged the same way (they follow the weights that made them); the step
counter is copied. The first update copies G, so the average starts where G starts.

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
        """A <- decay A + (1 - decay) W for every float tensor; integer buffers copied. The first
        update copies W."""
        keep = 0.0 if self.updates == 0 else self.decay
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
