"""The two schedules, as one function each that trains an epoch (the trainer looks them up in
SCHEDULES by name; minigan.config has their defaults).

"standard": one epoch is one pass over the training set; per batch one D step on real + fake
images and one G step. "original" (what the Keras script did): per epoch 64 iterations of
{one D step on 64 random real images, one on 64 fresh fakes}, then a single G step.
"""
import collections

from minigan import build, gan
from minigan.autograd import Tensor
from minigan.config import ORIGINAL_SCHEDULE

Schedule = collections.namedtuple("Schedule", "epoch iterations")


def standard_epoch(trainer):
    """One pass over the shuffled training set, a D step and a G step per batch."""
    rules = build.rules(trainer.recipe, trainer.noise_std(), trainer.batch)
    for i, (real, labels) in enumerate(trainer.iterate_batches()):
        G, D = trainer.given(trainer.G, trainer.D, labels)
        loss_d, d_real, d_fake = gan.discriminator_step(G, D, trainer.opt_d, real, rules)
        loss_g, _ = gan.generator_step(G, D, trainer.opt_g, real, rules)
        trainer.g_steps += 1
        trainer.meter.add(**trainer.global_values(loss_d=loss_d, loss_g=loss_g, d_real=d_real,
                                                  d_fake=d_fake))
        trainer.meter.done(i + 1, trainer.g_steps)


def original_epoch(trainer):
    """64 iterations of a D step on random real images and one on fresh fakes, then one G
    step. As the original, no instance noise."""
    n, iterations = trainer.config.batch_size, ORIGINAL_SCHEDULE["iterations"]
    rules = build.rules(trainer.recipe, 0.0, trainer.batch)
    for i in range(iterations):
        real, labels = trainer.random_batch(n)
        G, D = trainer.given(trainer.G, trainer.D, labels)
        loss_real, d_real = gan.real_loss(D, Tensor(real), rules)
        gan.adam_step(trainer.opt_d, loss_real)
        loss_fake, d_fake = gan.fake_loss(G, D, n, rules)
        gan.adam_step(trainer.opt_d, loss_fake)
        loss_d = loss_real.data + loss_fake.data
        if i < iterations - 1:
            trainer.meter.add(**trainer.global_values(loss_d=loss_d, d_real=d_real,
                                                      d_fake=d_fake))
    loss_g, _ = gan.generator_step(G, D, trainer.opt_g, real, rules)            # once
    trainer.g_steps += 1
    trainer.meter.add(**trainer.global_values(loss_d=loss_d, loss_g=loss_g, d_real=d_real,
                                              d_fake=d_fake))
    trainer.meter.done(iterations, trainer.g_steps)


SCHEDULES = {
    "standard": Schedule(standard_epoch,
                         lambda trainer: len(trainer.images) // trainer.config.batch_size),
    "original": Schedule(original_epoch, lambda trainer: ORIGINAL_SCHEDULE["iterations"]),
}

__all__ = ["SCHEDULES", "Schedule", "original_epoch", "standard_epoch"]
