"""Why feature matching's weight is 2000: the size of G's two loss terms and of the gradients
each sends into G's weights, for fresh networks and for a checkpoint's.

    python benchmarks/feature_matching_scale.py [runs/RUN/checkpoint.npz ...]

For 8 batches of 64 real images (seed 1) and 64 fakes, with D frozen and no instance noise:
the BCE term -log D(G(z)) and the unweighted feature-matching term
mean_k (mean_i f_k(G(z_i)) - mean_i f_k(x_i))^2, and the norm of each one's gradient over all of
G's parameters. Their ratio says what weight puts the two on one scale: the mean over D's
65 x 28 x 28 = 50,960 features makes the unweighted term small.
"""
import argparse

import numpy as np

import minigan as mg
from minigan import build, data, gan, recipes, train, tricks


def gradient_norm(loss, G):
    """|d loss / d theta_G| over all of G's parameters (the graph is kept for the next term)."""
    for p in G.parameters():
        p.grad = None
    loss.backward(retain_graph=True)
    return float(np.sqrt(sum(float((p.grad.numpy() ** 2).sum())
                             for p in G.parameters() if p.grad is not None)))


def measure(G, D, images, batches=8, seed=1):
    """Means over `batches` of (BCE, FM unweighted, |grad BCE|, |grad FM|)."""
    recipe = recipes.RECIPES["stable"]
    rules, rng = build.rules(recipe, noise_std=0.0), np.random.default_rng(seed)
    rows = []
    D.requires_grad_(False)
    for _ in range(batches):
        real = mg.tensor(images[rng.choice(len(images), 64, replace=False)])
        features = D.features(rules.show(G(gan.sample_noise(64))))
        bce = gan.g_loss(D.head(features))
        fm = tricks.feature_matching(1.0)(D, features, real, rules)
        rows.append((bce.item(), fm.item(), gradient_norm(bce, G), gradient_norm(fm, G)))
    D.requires_grad_(True)
    return np.mean(rows, axis=0)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoints", nargs="*", help="checkpoint.npz files of stable-recipe runs")
    args = p.parse_args(argv)
    images, _ = data.load_mnist("train")
    mg.manual_seed(0)
    G, D, _, _ = build.build(recipes.RECIPES["stable"])
    weight = recipes.RECIPES["stable"].feature_matching
    print("networks | BCE | FM (unweighted) | |grad BCE| | |grad FM| | "
          f"|grad BCE| / (|grad FM| x {weight:g})")
    for name in ["fresh (seed 0)", *args.checkpoints]:
        if name != "fresh (seed 0)":
            saved = train.load_checkpoint(name)
            G.load_state_dict(saved["G"])
            D.load_state_dict(saved["D"])
            name = f"{name} (epoch {saved['epoch']})"
        G.train()
        D.train()
        bce, fm, g_bce, g_fm = measure(G, D, images)
        print(f"{name} | {bce:.3f} | {fm:.2e} | {g_bce:.2e} | {g_fm:.2e} | "
              f"{g_bce / (g_fm * weight):.3g}")


if __name__ == "__main__":
    main()
