"""The DCGAN networks for 28x28 (Radford et al. 2015): a generator of transposed convolutions and
a discriminator's strided convolutions, for the seed GAN's steps (minigan.build picks them when
recipe.model or recipe.discriminator is "dcgan")."""
from minigan import nn
from minigan.gan import NOISE_DIM
from minigan.gan_layers import Pack

DCGAN_CHANNELS = (128, 64)   # the DCGAN generator's feature maps at 7x7 and 14x14


def build_generator(noise_dim=NOISE_DIM, channels=DCGAN_CHANNELS):
    """z (N, 100) -> images (N, 784) in [-1, 1]: Dense to 128 maps of 7x7, BatchNorm, ReLU, then
    two transposed convolutions (4x4, stride 2, padding 1), each doubling the side, 7 -> 14 -> 28:

        Dense 100 -> 128*7*7, BatchNorm1d, ReLU, Reshape (128, 7, 7)
        ConvTranspose2D 128 -> 64, BatchNorm2d, ReLU                 (N, 64, 14, 14)
        ConvTranspose2D 64 -> 1, Tanh, Flatten                       (N, 784)

    The flat output is what the discriminators read. The first BatchNorm1d normalises each of
    the Dense's 6,272 outputs over the batch on its own (6,272 means and variances); a
    per-channel BatchNorm2d after the Reshape would share one per map (128)."""
    wide, narrow = channels
    return nn.Sequential(
        nn.Dense(noise_dim, wide * 7 * 7), nn.BatchNorm1d(wide * 7 * 7), nn.ReLU(),
        nn.Reshape(wide, 7, 7),
        nn.ConvTranspose2D(wide, narrow, 4, stride=2, padding=1), nn.BatchNorm2d(narrow),
        nn.ReLU(),
        nn.ConvTranspose2D(narrow, 1, 4, stride=2, padding=1), nn.Tanh(), nn.Flatten())


def dcgan_features(pack):
    """The DCGAN paper's discriminator features: 4x4 convolutions of stride 2 (28 -> 14 -> 7) in
    place of pooling, LeakyReLU 0.2, BatchNorm on every layer but the first."""
    return [Pack(pack),
            nn.Conv2D(pack, 64, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2D(64, 128, 4, stride=2, padding=1), nn.BatchNorm2d(128),
            nn.LeakyReLU(0.2)]


DCGAN_FEATURES = (dcgan_features, 128, 7)   # (the layers, their maps' channels and side)

__all__ = ["DCGAN_CHANNELS", "DCGAN_FEATURES", "build_generator", "dcgan_features"]
