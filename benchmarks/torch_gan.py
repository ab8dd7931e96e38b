"""The MNIST GAN in PyTorch: the twin of minigan.gan, for comparisons and fast recipe trials.

    python benchmarks/torch_gan.py --epochs 10 --device cuda --out runs/torch/stable_seed0
    python benchmarks/torch_gan.py --set feature_matching=2000 --set lr_d=1e-4

The models are minigan.gan's, layer for layer, with the same Keras-style initialisation
(Glorot-uniform weights, zero biases); they read minigan's Recipe fields with the same meaning,
and their two training steps are minigan.gan's, term for term (the only PyTorch steps the
benchmarks run: gan_bench.py and distributed_bench.py time them against minigan's). Trained here
on the standard schedule (per batch: one D step on real + fresh fakes, one G step), batch 64,
with the Recipe plus the twin-only TWIN_SETTINGS. After every epoch it samples 5,000 images
from G (eval mode), classifies them with minigan.digits, the LeNet behind minigan.evaluate
("covered", "shares", and "fid" against 5,000 real test images when the test files are in the
data folder), and appends them to --out/trials.jsonl.

Imports minigan only inside functions: gan_bench's PyTorch memory child builds these models in a
process without minigan.
"""
import argparse
import copy
import dataclasses
import gzip
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


# The twin's settings that are not minigan Recipe fields (terms tried here before any is ported
# to the Recipe): name -> (default, what it does). --set takes them beside the Recipe's fields;
# train takes them as its `settings` dict; each run's record lists them with the recipe.
TWIN_SETTINGS = {
    "mode_seeking": (0.0, "MSGAN (Mao et al. 2019): G also minimises this weight / ratio, ratio "
                          "= mean|G(z1) - G(z2)| / mean|z1 - z2|"),
    "adversarial": (1.0, "the weight of G's BCE term; 0 = feature matching alone"),
}


def parse_setting(text):
    """'field=value' -> (field, value): a TWIN_SETTINGS name (a number), or a Recipe field typed
    and range-checked by minigan.recipes.parse_override; argparse.ArgumentTypeError otherwise."""
    key, _, value = text.partition("=")
    if key not in TWIN_SETTINGS:
        from minigan.recipes import parse_override
        return parse_override(text)
    try:
        return key, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{key} must be a number, got {value!r}") from None


def keras_init(module):
    if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)


def build_mlp_generator(recipe, sizes):
    """minigan.gan.build_generator: z (N, sizes[0]) -> images (N, sizes[-1]) in [-1, 1];
    sizes is minigan.gan.GENERATOR_SIZES."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-2], sizes[1:-1])):
        layers.append(nn.Linear(n_in, n_out))
        if recipe.generator == "relu":
            layers.append(nn.ReLU())
        else:
            if i > 0:
                layers.append(nn.BatchNorm1d(n_out, momentum=0.1, eps=1e-5))
            layers.append(nn.LeakyReLU(0.2))
    G = nn.Sequential(*layers, nn.Linear(sizes[-2], sizes[-1]), nn.Tanh()).apply(keras_init)
    G.noise_dim = sizes[0]
    return G


def build_dcgan_generator(noise_dim=100):
    """minigan.dcgan.build_generator: z -> Dense 128*7*7, BatchNorm1d, ReLU, (128, 7, 7) ->
    ConvTranspose 128->64 (4, 2, 1), BatchNorm2d, ReLU -> ConvTranspose 64->1, tanh, flat 784."""
    G = nn.Sequential(
        nn.Linear(noise_dim, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(),
        nn.Unflatten(1, (128, 7, 7)),
        nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh(), nn.Flatten()).apply(keras_init)
    G.noise_dim = noise_dim
    return G


class ConditionalGenerator(nn.Module):
    """minigan.conditional.ConditionalGenerator: body(cat(z, E[labels])), E a 10 x 10 embedding."""

    def __init__(self, body, digits=10, label_dim=10):
        super().__init__()
        self.body, self.embed = body, nn.Embedding(digits, label_dim)
        self.noise_dim = body.noise_dim - label_dim

    def forward(self, z, labels):
        return self.body(torch.cat([z, self.embed(labels)], dim=1))


def build_generator(recipe, sizes):
    """minigan.build.build_generator for every recipe: the MLP or DCGAN body, conditional or not;
    G.noise_dim is the size of the z it reads."""
    extra = 10 if recipe.conditional else 0
    if recipe.model == "dcgan":
        body = build_dcgan_generator(sizes[0] + extra)
    else:
        body = build_mlp_generator(recipe, (sizes[0] + extra, *sizes[1:]))
    return ConditionalGenerator(body) if recipe.conditional else body


class ProjectionHead(nn.Module):
    """minigan.conditional.ProjectionHead: sigmoid(judge(features) + E[y] . flat(features))."""

    def __init__(self, judge, width, digits=10):
        super().__init__()
        self.judge, self.projection = judge, nn.Embedding(digits, width)
        nn.init.zeros_(self.projection.weight)

    def forward(self, features, labels):
        match = (self.projection(labels) * features.flatten(1)).sum(dim=1, keepdim=True)
        return torch.sigmoid(self.judge(features) + match)


class MinibatchStd(nn.Module):
    """(N, C, H, W) -> (N, C + 1, H, W): one more channel = mean over features of the batch std."""

    def forward(self, x):
        deviation = x - x.mean(dim=0)
        s = torch.sqrt((deviation * deviation).mean(dim=0) + 1e-8).mean()
        return torch.cat([x, s.expand(x.shape[0], 1, *x.shape[2:])], dim=1)


class MinibatchDiscrimination(nn.Module):
    """(N, A) -> (N, A + B): x, then o[i, b] = sum over j != i of exp(-|M[i, b] - M[j, b]|_1),
    M = x @ T reshaped (N, B, K) (Salimans et al. 2016)."""

    def __init__(self, in_features, kernels, kernel_dim=5):
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.weight = nn.Parameter(torch.empty(in_features, kernels * kernel_dim))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, x):
        m = (x @ self.weight).reshape(x.shape[0], self.kernels, self.kernel_dim)
        closeness = torch.exp(-(m[:, None] - m[None]).abs().sum(dim=3))
        return torch.cat([x, closeness.sum(dim=1) - 1], dim=1)


class Pack(nn.Module):
    """(N, 784) -> (N / m, m, 28, 28): m consecutive images as the channels of one input."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return x.reshape(-1, self.m, 28, 28)


class Discriminator(nn.Module):
    """minigan.gan.Discriminator: images (N, 784) -> P(real) (N / pack, 1), as `features` (the
    convolutional feature maps, what feature matching compares) and `head`; with
    recipe.classifier > 0 (AC-GAN, conditional only) a third part, `classifier`, as
    minigan.conditional.ConditionalDiscriminator's."""

    def __init__(self, recipe):
        super().__init__()
        if getattr(recipe, "discriminator", "original") == "dcgan":   # the DCGAN paper's
            layers, channels, side = [
                nn.Conv2d(recipe.pack, 64, 4, 2, 1), nn.LeakyReLU(0.2),
                nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2)], 128, 7
        else:
            layers, channels, side = [
                nn.Conv2d(recipe.pack, 32, 3, padding=1), nn.LeakyReLU(0.01), nn.Dropout(0.3),
                nn.Conv2d(32, 64, 3, padding=1), nn.LeakyReLU(0.01), nn.Dropout(0.3)], 64, 28
        width = side * side * (channels + recipe.minibatch_std)
        self.features = nn.Sequential(Pack(recipe.pack), *layers,
                                      *([MinibatchStd()] if recipe.minibatch_std else []))
        closeness = [MinibatchDiscrimination(width, recipe.minibatch_kernels)] \
            if recipe.minibatch_kernels else []
        judge = [nn.Flatten(), *closeness, nn.Linear(width + recipe.minibatch_kernels, 1)]
        self.head = ProjectionHead(nn.Sequential(*judge), width) \
            if getattr(recipe, "conditional", False) else nn.Sequential(*judge, nn.Sigmoid())
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(width, 10)) \
            if getattr(recipe, "classifier", 0) > 0 else None
        self.apply(keras_init)

    def forward(self, x, *labels):
        return self.head(self.features(x), *labels)

    def digit_loss(self, features, labels):
        """minigan.conditional.ConditionalDiscriminator.digit_loss: the auxiliary classifier's
        softmax cross-entropy on the flattened features, mean over the batch."""
        return F.cross_entropy(self.classifier(features), labels)


def make_optimizers(G, D, recipe):
    """minigan.gan.make_optimizers: (D's Adam, G's Adam)."""
    betas = (recipe.beta1, 0.999)
    return (torch.optim.Adam(D.parameters(), lr=recipe.lr_d, betas=betas),
            torch.optim.Adam(G.parameters(), lr=recipe.lr_g, betas=betas))


# The training steps: minigan.gan's discriminator_step and generator_step, term for term

def noisy(x, std):
    """Instance noise: D sees real and fake images through the same Gaussian blur of pixels."""
    return x + std * torch.randn_like(x) if std > 0 else x


def bce(p, label):
    """minigan.gan.d_loss: the mean BCE of D's outputs p, every target = label."""
    return F.binary_cross_entropy(p, torch.full(p.shape, label, device=p.device))


def noise(G, n, device):
    """z ~ N(0, 1), (n, G's noise size); G may be wrapped in DistributedDataParallel."""
    return torch.randn(n, getattr(G, "module", G).noise_dim, device=device)


def discriminator_step(G, D, opt_d, recipe, real, noise_std=0.0, n_fake=None, labels=None):
    """One Adam step of D on the batch `real` (None: no real images) and n_fake fresh fakes
    (default: as many as real; 0: none), drawn for the same `labels` when conditional: minimise
    bce(D(x), real_label) + bce(D(G(z)), 0), plus recipe.classifier * D.digit_loss on the real
    batch (AC-GAN). Returns (loss, D(x) or None, D(G(z)) or None), detached."""
    given = () if labels is None else (labels,)
    n_fake = real.shape[0] if n_fake is None else n_fake
    loss = p_real = p_fake = None
    if real is not None:                                        # maximise log D(x) ...
        features = D.features(noisy(real, noise_std))
        p_real = D.head(features, *given)
        loss = bce(p_real, recipe.real_label)
        if getattr(recipe, "classifier", 0) > 0:                # ... and read the real digits
            loss = loss + recipe.classifier * D.digit_loss(features, labels)
    if n_fake:                                                  # ... + log(1 - D(G(z)))
        with torch.no_grad():                                   # (N, 784); no graph into G
            fake = G(noise(G, n_fake, next(D.parameters()).device), *given)
        p_fake = D(noisy(fake, noise_std), *given)
        loss = bce(p_fake, 0.0) if loss is None else loss + bce(p_fake, 0.0)
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    return loss.detach(), *(None if p is None else p.detach() for p in (p_real, p_fake))


def generator_step(G, D, opt_g, recipe, real, noise_std=0.0, labels=None, *, adversarial=1.0,
                   mode_seeking=0.0):
    """One Adam step of G on as many fakes as `real` has images, through the frozen D (no
    weight gradients; only opt_g steps): minimise adversarial * bce(D(G(z)), 1), plus
    recipe.feature_matching * mean(feature_gap**2), recipe.classifier * D.digit_loss on the fakes
    (AC-GAN) and mode_seeking / (mode_seeking_ratio + 1e-5). adversarial and mode_seeking are
    twin-only settings (TWIN_SETTINGS). Returns (loss, D(G(z))), detached."""
    given = () if labels is None else (labels,)
    z = noise(G, real.shape[0], real.device)
    D.requires_grad_(False)
    try:
        images = G(z, *given)
        features = D.features(noisy(images, noise_std))
        p_fake = D.head(features, *given)
        loss = bce(p_fake, 1.0)                                 # maximise log D(G(z))
        if adversarial != 1:
            loss = adversarial * loss
        if recipe.feature_matching > 0:
            gap = feature_gap(D, features, real, noise_std, labels)
            loss = loss + recipe.feature_matching * (gap * gap).mean()
        if getattr(recipe, "classifier", 0) > 0:                # each fake reads as its digit
            loss = loss + recipe.classifier * D.digit_loss(features, labels)
        if mode_seeking > 0:
            loss = loss + mode_seeking / (mode_seeking_ratio(images, z) + 1e-5)
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
    finally:
        D.requires_grad_(True)
    return loss.detach(), p_fake.detach()


def feature_gap(D, features, real, noise_std, labels=None):
    """Feature matching (Salimans et al. 2016): the fakes' mean D.features minus the real
    batch's; per digit of the batch when conditional (minigan.batch.LocalBatch.class_mean_gap),
    so each digit's fakes are pulled towards that digit's real features."""
    with torch.no_grad():
        real_features = D.features(noisy(real, noise_std))
    if labels is None:
        return features.mean(dim=0) - real_features.mean(dim=0)
    onehot = (labels[None] == labels.unique()[:, None]).float()  # (digits present, N)
    means = onehot / onehot.sum(dim=1, keepdim=True)
    return means @ features.flatten(1) - means @ real_features.flatten(1)


def mode_seeking_ratio(images, z):
    """MSGAN (Mao et al. 2019): mean|G(z1) - G(z2)| / mean|z1 - z2| over the batch's two
    halves. G minimises its inverse: fakes from distant noise must differ, or G collapses."""
    h = z.shape[0] // 2
    return (images[:h] - images[h:2 * h]).abs().mean() / (z[:h] - z[h:2 * h]).abs().mean()


def twin_steps(G, D, opt_d, opt_g, recipe, noise_std=0.0, labels=None):
    """The two steps with all but the batch bound, as bench_common.minigan_steps:
    d_step(real, n_fake=None) and g_step(real)."""
    def d_step(real, n_fake=None):
        return discriminator_step(G, D, opt_d, recipe, real, noise_std, n_fake, labels)

    def g_step(real):
        return generator_step(G, D, opt_g, recipe, real, noise_std, labels)

    return d_step, g_step


def standing_stats(G, batches=10, n=500):
    """Recompute G's BatchNorm running statistics for its current weights (cumulative average
    over fresh noise batches): needed after averaging weights, whose activations the live
    running statistics do not describe."""
    norms = [m for m in G.modules() if isinstance(m, nn.BatchNorm1d)]
    device = next(G.parameters()).device
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    G.train()
    with torch.no_grad():
        for _ in range(batches):
            G(noise(G, n, device))
    for m in norms:
        m.momentum = 0.1
    G.eval()


def load_mnist_train(data_dir):
    with gzip.open(Path(data_dir) / "train-images-idx3-ubyte.gz") as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
    return (raw.reshape(-1, 784).astype(np.float32) / np.float32(127.5)) - np.float32(1.0)


class Judge:
    """minigan.digits (the LeNet behind minigan.evaluate) scoring generated images: digits
    covered, shares, and FID when real test images are given. Runs on the CPU with minigan
    (5,000 images: a few seconds)."""

    def __init__(self, real_images=None):
        from minigan import digits
        self.model, self.real = digits.load(), real_images

    def scores(self, images, suffix=""):
        """{"covered", "shares"[, "fid"]}, each key + suffix; images a torch tensor (N, 784)."""
        from minigan import digits, metrics
        images = images.detach().cpu().numpy()
        if self.real is None:
            result = metrics.coverage(digits.run(self.model, images)[1])
        else:
            result = metrics.evaluate_images(images, self.real[:len(images)], self.model)
        out = {"covered": result["digits_covered"], "shares": result["shares"]}
        if "fid" in result:
            out["fid"] = round(result["fid"], 3)
        return {key + suffix: value for key, value in out.items()}


class WeightAverage:
    """The recipe's averaged generator (minigan.ema): after the t-th step, every weight and
    BatchNorm running statistic a <- a + (1 - d_t) (live - a), d_t = min(decay, (1 + t) /
    (10 + t))."""

    def __init__(self, G, decay):
        self.model, self.decay, self.updates = copy.deepcopy(G), decay, 0
        self.averaged, self.live = ([t for t in [*m.parameters(), *m.buffers()]
                                     if t.is_floating_point()] for m in (self.model, G))

    def update(self):
        keep = min(self.decay, (1 + self.updates) / (10 + self.updates))
        with torch.no_grad():
            torch._foreach_lerp_(self.averaged, self.live, 1 - keep)
        self.updates += 1


def train(recipe, images, judge, epochs, seed, device, out, batch=64, samples=None, log=print,
          settings=None):
    """Trains the twin on `images` (N, 784) on the standard schedule, instance noise annealed
    to 0; settings: TWIN_SETTINGS values (the rest at their defaults); samples: images judged
    per epoch (default: minigan.config.EVAL_SAMPLES). One record (a dict) per epoch, also
    logged."""
    from minigan.config import EVAL_SAMPLES
    from minigan.gan import GENERATOR_SIZES
    samples = EVAL_SAMPLES if samples is None else samples
    settings = {**{k: default for k, (default, _) in TWIN_SETTINGS.items()}, **(settings or {})}
    if batch % recipe.pack:
        raise ValueError(f"batch {batch} is not a multiple of pack {recipe.pack}")
    refuse_conditional(recipe)
    torch.manual_seed(seed)
    G = build_generator(recipe, GENERATOR_SIZES).to(device)
    D = Discriminator(recipe).to(device)
    opt_d, opt_g = make_optimizers(G, D, recipe)
    data = torch.from_numpy(images).to(device)
    eval_noise = torch.randn(samples, G.noise_dim, generator=torch.Generator().manual_seed(1234))
    eval_noise = eval_noise.to(device)
    ema = WeightAverage(G, recipe.ema) if recipe.ema > 0 else None
    records, start = [], time.perf_counter()
    for epoch in range(epochs):
        noise_std = recipe.instance_noise * max(0.0, 1 - epoch / epochs)
        means = train_epoch(G, D, (opt_d, opt_g), recipe, data, batch, noise_std, settings, ema)
        scores, grid = judge_epoch(G, ema, judge, eval_noise)
        record = {"recipe": {**{k: v for k, v in dataclasses.asdict(recipe).items()
                                if k != "name"}, **settings},
                  "seed": seed, "epoch": epoch + 1,
                  "minutes": round((time.perf_counter() - start) / 60, 2),
                  **dict(zip(("loss_d", "loss_g", "d_real", "d_fake"), means)), **scores}
        records.append(record)
        log(json.dumps(record))
        if out:
            save_epoch(out, record, grid, G, recipe)
    return records


def refuse_conditional(recipe):
    """train reads the images without their labels: a ValueError for a conditional recipe (and
    so for the auxiliary classifier, which only a conditional one has)."""
    if recipe.conditional:
        raise ValueError(f"recipe {recipe.name}: the twin trains on images without their labels: "
                         "conditional must be False")


def train_epoch(G, D, optimizers, recipe, data, batch, noise_std, settings, ema=None):
    """One pass over `data` in shuffled batches: per batch one D step on real + fresh fakes, one
    G step, the average's update. Returns the means of D's loss, G's, D(x) and D(G(z))."""
    opt_d, opt_g = optimizers
    sums = torch.zeros(4, device=data.device)
    order = torch.randperm(len(data), device=data.device)
    steps = len(data) // batch
    for i in range(steps):
        real = data[order[i * batch:(i + 1) * batch]]
        loss_d, p_real, p_fake = discriminator_step(G, D, opt_d, recipe, real, noise_std)
        loss_g, _ = generator_step(G, D, opt_g, recipe, real, noise_std,
                                   adversarial=settings["adversarial"],
                                   mode_seeking=settings["mode_seeking"])
        if ema is not None:
            ema.update()
        sums += torch.stack([loss_d, loss_g, p_real.mean(), p_fake.mean()])
    return (sums / steps).tolist()


def judge_epoch(G, ema, judge, eval_noise):
    """judge's scores of G's images for eval_noise (eval mode) and, with a WeightAverage, of the
    average's, as it is and with standing statistics (keys suffixed _ema, _ema_standing); and
    the 64 images of the grid (the last of these)."""
    G.eval()
    with torch.no_grad():
        generated = G(eval_noise)
        scores = judge.scores(generated)
        grid = generated[:64].cpu().numpy()
    G.train()
    if ema is not None:
        ema.model.eval()
        with torch.no_grad():
            scores.update(judge.scores(ema.model(eval_noise), "_ema"))
            standing = copy.deepcopy(ema.model)
            standing_stats(standing)
            generated = standing(eval_noise)
            scores.update(judge.scores(generated, "_ema_standing"))
            grid = generated[:64].cpu().numpy()
    return scores, grid


def save_epoch(out, record, grid, G, recipe):
    """Appends the record to out/trials.jsonl and saves the epoch's grid and generator."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "trials.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    np.save(out / f"grid_epoch{record['epoch']:03d}.npy", grid)
    save_generator(G, recipe, out, record["epoch"])


def save_generator(G, recipe, out, epoch):
    """G in minigan's format (generator.npz + recipe.json), so `python -m minigan.evaluate OUT`
    scores it with the same classifier as a minigan run; generator_epochNNN.npz keeps each
    epoch's weights for per-epoch scores."""
    state = {k: v.detach().cpu().numpy() for k, v in G.state_dict().items()}
    np.savez(out / f"generator_epoch{epoch:03d}.npz", **state)
    np.savez(out / "generator.npz", **state)
    (out / "recipe.json").write_text(json.dumps(
        dataclasses.asdict(dataclasses.replace(recipe, name="torch_twin")), indent=2))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default="stable", help="the minigan recipe to start from")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a minigan Recipe field (minigan.recipes.Recipe, checked "
                        "as minigan's --set), or set a twin-only setting: " + "; ".join(
                            f"{k} (default {d}: {text})" for k, (d, text) in
                            TWIN_SETTINGS.items()))
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--data-dir", default=os.environ.get("MINIGAN_DATA_DIR"))
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.data_dir is None:
        p.error("no MNIST folder: pass --data-dir or set MINIGAN_DATA_DIR")
    if args.threads:
        torch.set_num_threads(args.threads)
        # The judges run minigan's Numba kernels, whose OpenMP layer shares PyTorch's libgomp: cap
        # its pool too, or after the first judging an extra OpenMP worker (Numba's default count)
        # spins in a barrier beside PyTorch's thread (seen: a third of a core per run, 2-core VM).
        # Numba reads the variable when it is imported, so only a fresh process can take it: so
        # minigan is imported only after this.
        if "numba" not in sys.modules:
            os.environ.setdefault("NUMBA_NUM_THREADS", str(args.threads))
    from minigan import data, recipes
    try:
        settings = dict(parse_setting(text) for text in args.set)
        recipe = dataclasses.replace(recipes.get_recipe(args.recipe), **{
            k: v for k, v in settings.items() if k not in TWIN_SETTINGS})
        refuse_conditional(recipe)
    except (argparse.ArgumentTypeError, ValueError) as error:
        p.error(str(error))
    images = load_mnist_train(args.data_dir)[:args.limit]
    try:
        real = data.load_mnist("test", args.data_dir, download=False)[0]
    except (FileNotFoundError, data.DataError):
        print("no MNIST test files in the data folder: digit coverage only, no FID")
        real = None
    train(recipe, images, Judge(real), args.epochs, args.seed, args.device,
          Path(args.out) if args.out else None,
          settings={k: v for k, v in settings.items() if k in TWIN_SETTINGS})


if __name__ == "__main__":
    main()
