"""A Recipe turned into networks, optimizers and the rules of their steps: the one place that
chooses among the seed GAN (minigan.gan), the DCGAN networks (minigan.dcgan), the tricks
(minigan.tricks) and the conditional GAN (minigan.conditional). They import the seed GAN's
pieces; nothing below this module imports it.
"""
from minigan import conditional, dcgan, gan, tricks
from minigan.batch import LOCAL_BATCH
from minigan.recipes import DEFAULT, get_recipe

FEATURES = {"original": gan.ORIGINAL_FEATURES, "dcgan": dcgan.DCGAN_FEATURES}


def build_generator(recipe=DEFAULT):
    """The recipe's generator, in training mode: z (N, 100) -> images (N, 784) in [-1, 1], or
    (z, labels) -> images for a conditional recipe (its label embedding widens z)."""
    recipe = get_recipe(recipe)
    inputs = gan.NOISE_DIM + (conditional.LABEL_DIM if recipe.conditional else 0)
    if recipe.model == "dcgan":
        body = dcgan.build_generator(inputs)
    else:
        body = gan.build_generator(recipe, (inputs, *gan.GENERATOR_SIZES[1:]))
    return conditional.ConditionalGenerator(body) if recipe.conditional else body


def build_discriminator(recipe=DEFAULT):
    """The recipe's discriminator: recipe.discriminator's features, packs of images as channels,
    the minibatch-std channel, minibatch discrimination; conditional: a projection head and the
    auxiliary classifier."""
    recipe = get_recipe(recipe)
    kind = conditional.ConditionalDiscriminator if recipe.conditional else gan.Discriminator
    return kind(recipe, FEATURES[recipe.discriminator])


def build(recipe=DEFAULT):
    """(G, D, opt_d, opt_g) for the recipe, G's weights drawn first."""
    recipe = get_recipe(recipe)
    G, D = build_generator(recipe), build_discriminator(recipe)
    return (G, D, *gan.make_optimizers(G, D, recipe))


def rules(recipe=DEFAULT, noise_std=0.0, batch=LOCAL_BATCH):
    """The steps' Rules for the recipe: its real label, instance noise of std `noise_std`, the
    batch's draws and means (`batch`), feature matching (per digit in a conditional recipe) and
    the auxiliary classifier's terms."""
    recipe = get_recipe(recipe)
    d_terms, g_terms = [], []
    if recipe.feature_matching > 0:
        matching = conditional.per_digit_feature_matching if recipe.conditional \
            else tricks.feature_matching
        g_terms.append(matching(recipe.feature_matching))
    if recipe.classifier > 0:
        d_terms.append(conditional.digit_term(recipe.classifier))
        g_terms.append(conditional.digit_term(recipe.classifier))
    return gan.Rules(recipe.real_label, tricks.instance_noise(noise_std, batch), batch,
                     tuple(d_terms), tuple(g_terms))


def networks_given(recipe):
    """(G, D, labels) -> the (G, D) a step trains on a batch with these labels: bound to them
    for a conditional recipe (conditional.given), the networks themselves otherwise."""
    return conditional.given if get_recipe(recipe).conditional else unconditional


def unconditional(G, D, labels=None):
    return G, D


__all__ = ["FEATURES", "build", "build_discriminator", "build_generator", "networks_given",
           "rules", "unconditional"]
