"""The MNIST GAN in PyTorch: the twin of minigan.gan, for comparisons and fast recipe trials.

    python benchmarks/torch_gan.py --epochs 10 --device cuda --out runs/torch/stable_seed0
    python benchmarks/torch_gan.py --set feature_matching=2000 --set lr_d=1e-4

The models are minigan.gan's, layer for layer, with the same Keras-style initialisation
(Glorot-uniform weights, zero biases); they read minigan's Recipe fields with the same meaning.
gan_bench.py times them against minigan's. Trained here on the standard schedule (per batch: one
D step on real + fresh fakes, one G step), batch 64. After every epoch it samples 5,000 images
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


@dataclasses.dataclass(frozen=True)
class Trial:
    """Terms tried here before they are ported to minigan's Recipe; --set takes them too."""

    mode_seeking: float = 0.0  # MSGAN (Mao et al. 2019): G also minimises 1 / ratio, ratio =
                               # mean|G(z1) - G(z2)| / mean|z1 - z2|
    adversarial: float = 1.0   # the weight of G's BCE term; 0 = feature matching alone
    ema: float = 0.0           # > 0: also keep an exponential moving average of G's weights


TRIAL_FIELDS = tuple(f.name for f in dataclasses.fields(Trial))


def parse_setting(text):
    """'field=value' -> (field, value): a Trial field (a number), or a Recipe field typed and
    range-checked by minigan.recipes.parse_override; argparse.ArgumentTypeError otherwise."""
    key, _, value = text.partition("=")
    if key not in TRIAL_FIELDS:
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


def build_generator(recipe, sizes):
    """minigan.gan.build_generator: z (N, sizes[0]) -> images (N, sizes[-1]) in [-1, 1]; sizes is
    minigan.gan.GENERATOR_SIZES."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-2], sizes[1:-1])):
        layers.append(nn.Linear(n_in, n_out))
        if recipe.generator == "seed":
            layers.append(nn.ReLU())
        else:
            if i > 0:
                layers.append(nn.BatchNorm1d(n_out, momentum=0.1, eps=1e-5))
            layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers, nn.Linear(sizes[-2], sizes[-1]), nn.Tanh()).apply(keras_init)


def build_dcgan_generator(noise_dim=100):
    """minigan.gan.build_dcgan_generator: z -> Dense 128*7*7, BatchNorm1d, ReLU, (128, 7, 7) ->
    ConvTranspose 128->64 (4, 2, 1), BatchNorm2d, ReLU -> ConvTranspose 64->1, tanh, flat 784."""
    return nn.Sequential(
        nn.Linear(noise_dim, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(),
        nn.Unflatten(1, (128, 7, 7)),
        nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh(), nn.Flatten()).apply(keras_init)


class ConditionalGenerator(nn.Module):
    """minigan.gan.ConditionalGenerator: body(cat(z, E[labels])), E a 10 x 10 embedding."""

    def __init__(self, body, digits=10, label_dim=10):
        super().__init__()
        self.body, self.embed = body, nn.Embedding(digits, label_dim)

    def forward(self, z, labels):
        return self.body(torch.cat([z, self.embed(labels)], dim=1))


def build_model_generator(recipe, sizes):
    """minigan.gan.build_generator for every recipe: the MLP or DCGAN body, conditional or not."""
    extra = 10 if recipe.conditional else 0
    if recipe.model == "dcgan":
        body = build_dcgan_generator(sizes[0] + extra)
    else:
        body = build_generator(recipe, (sizes[0] + extra, *sizes[1:]))
    return ConditionalGenerator(body) if recipe.conditional else body


class ProjectionHead(nn.Module):
    """minigan.gan.ProjectionHead: sigmoid(judge(features) + E[y] . flat(features))."""

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
    convolutional feature maps, what feature matching compares) and `head`."""

    def __init__(self, recipe):
        super().__init__()
        if getattr(recipe, "discriminator", "seed") == "dcgan":   # the DCGAN paper's
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
        self.apply(keras_init)

    def forward(self, x, *labels):
        return self.head(self.features(x), *labels)


def make_optimizers(G, D, recipe):
    """minigan.gan.make_optimizers: (D's Adam, G's Adam)."""
    betas = (recipe.beta1, 0.999)
    return (torch.optim.Adam(D.parameters(), lr=recipe.lr_d, betas=betas),
            torch.optim.Adam(G.parameters(), lr=recipe.lr_g, betas=betas))


def seed_steps(G, D, opt_d, opt_g, recipe, real):
    """(D step, G step) of the seed schedule, as minigan.gan's discriminator_step and
    generator_step: D on the batch `real`, then on as many fresh fakes; G through frozen D."""
    n, device = real.shape[0], real.device
    noise_dim = G[0].in_features

    def d_on(x, label):
        p = D(x)
        loss = F.binary_cross_entropy(p, torch.full(p.shape, label, device=device))
        opt_d.zero_grad()
        loss.backward()
        opt_d.step()

    def d_step():
        d_on(real, recipe.real_label)                           # maximise log D(x) ...
        with torch.no_grad():
            fake = G(torch.randn(n, noise_dim, device=device))  # (N, 784); no graph into G
        d_on(fake, 0.0)                                         # ... + log(1 - D(G(z)))

    def g_step():                                               # maximise log D(G(z))
        z = torch.randn(n, noise_dim, device=device)
        D.requires_grad_(False)                                 # frozen: no weight gradients
        try:
            p = D(G(z))
            loss = F.binary_cross_entropy(p, torch.full(p.shape, 1.0, device=device))
            opt_g.zero_grad()
            loss.backward()
            opt_g.step()
        finally:
            D.requires_grad_(True)

    return d_step, g_step


def standard_steps(G, D, opt_d, opt_g, recipe, real, labels=None, noise_std=0.0):
    """(D step, G step) of the standard schedule, as minigan.gan's discriminator_step and
    generator_step with every recipe term: D on `real` and as many fakes (drawn for the same
    `labels` when conditional), instance noise, G's non-saturating loss plus feature matching
    (per digit when conditional)."""
    n, device = real.shape[0], real.device
    given = () if labels is None else (labels,)
    noise_dim = 100

    def noisy(x):
        return x + noise_std * torch.randn_like(x) if noise_std > 0 else x

    def bce(p, label):
        return F.binary_cross_entropy(p, torch.full(p.shape, label, device=device))

    def d_step():
        p_real = D(noisy(real), *given)
        with torch.no_grad():
            fake = G(torch.randn(n, noise_dim, device=device), *given)
        loss = bce(p_real, recipe.real_label) + bce(D(noisy(fake), *given), 0.0)
        opt_d.zero_grad()
        loss.backward()
        opt_d.step()

    def g_step():
        D.requires_grad_(False)
        try:
            features = D.features(noisy(G(torch.randn(n, noise_dim, device=device), *given)))
            loss = bce(D.head(features, *given), 1.0)
            if recipe.feature_matching > 0:
                with torch.no_grad():
                    real_features = D.features(noisy(real))
                if labels is None:
                    gap = features.mean(dim=0) - real_features.mean(dim=0)
                else:  # minigan.gan.class_means: the means per digit of the batch
                    onehot = (labels[None] == labels.unique()[:, None]).float()
                    means = onehot / onehot.sum(dim=1, keepdim=True)
                    gap = means @ features.flatten(1) - means @ real_features.flatten(1)
                loss = loss + recipe.feature_matching * (gap * gap).mean()
            opt_g.zero_grad()
            loss.backward()
            opt_g.step()
        finally:
            D.requires_grad_(True)

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
            G(torch.randn(n, G[0].in_features, device=device))
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


def train(recipe, images, judge, epochs, seed, device, out, batch=64, samples=5000, log=print,
          trial=Trial()):
    """Trains the twin on `images` (N, 784); one record (a dict) per epoch, also logged."""
    from minigan.gan import GENERATOR_SIZES
    torch.manual_seed(seed)
    G, D = build_generator(recipe, GENERATOR_SIZES).to(device), Discriminator(recipe).to(device)
    opt_d, opt_g = make_optimizers(G, D, recipe)
    noise_dim = GENERATOR_SIZES[0]
    data = torch.from_numpy(images).to(device)
    if batch % recipe.pack:
        raise ValueError(f"batch {batch} is not a multiple of pack {recipe.pack}")
    packs = batch // recipe.pack                       # D's outputs per batch
    real_t = torch.full((packs, 1), recipe.real_label, device=device)
    ones, zeros = torch.ones(packs, 1, device=device), torch.zeros(packs, 1, device=device)
    eval_noise = torch.randn(samples, noise_dim, generator=torch.Generator().manual_seed(1234))
    eval_noise = eval_noise.to(device)
    ema = copy.deepcopy(G) if trial.ema > 0 else None
    if ema is not None:  # weights and BatchNorm running statistics, averaged alike
        ema_tensors, live_tensors = ([t for t in [*m.parameters(), *m.buffers()]
                                      if t.is_floating_point()] for m in (ema, G))
    records, start = [], time.perf_counter()
    for epoch in range(epochs):
        std = recipe.instance_noise * max(0.0, 1 - epoch / epochs)

        def noisy(x, std=std):
            return x + std * torch.randn_like(x) if std > 0 else x

        sums = torch.zeros(4, device=device)
        order = torch.randperm(len(data), device=device)
        steps = len(data) // batch
        for i in range(steps):
            real = data[order[i * batch:(i + 1) * batch]]
            p_real = D(noisy(real))
            with torch.no_grad():
                fake = G(torch.randn(batch, noise_dim, device=device))
            p_fake = D(noisy(fake))
            loss_d = F.binary_cross_entropy(p_real, real_t) + F.binary_cross_entropy(p_fake, zeros)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()

            D.requires_grad_(False)
            z = torch.randn(batch, noise_dim, device=device)
            images_g = G(z)
            features = D.features(noisy(images_g))
            p = D.head(features)
            loss_g = trial.adversarial * F.binary_cross_entropy(p, ones)
            if recipe.feature_matching > 0:
                with torch.no_grad():
                    target = D.features(noisy(real)).mean(dim=0)
                gap = features.mean(dim=0) - target
                loss_g = loss_g + recipe.feature_matching * (gap * gap).mean()
            if trial.mode_seeking > 0:
                h = batch // 2
                ratio = ((images_g[:h] - images_g[h:2 * h]).abs().mean()
                         / (z[:h] - z[h:2 * h]).abs().mean())
                loss_g = loss_g + trial.mode_seeking / (ratio + 1e-5)
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            D.requires_grad_(True)
            if ema is not None:
                with torch.no_grad():
                    torch._foreach_lerp_(ema_tensors, live_tensors, 1 - trial.ema)
            sums += torch.stack([loss_d.detach(), loss_g.detach(),
                                 p_real.detach().mean(), p_fake.detach().mean()])
        G.eval()
        with torch.no_grad():
            generated = G(eval_noise)
            scores = judge.scores(generated)
            grid = generated[:64].cpu().numpy()
        G.train()
        if ema is not None:
            ema.eval()
            with torch.no_grad():
                scores.update(judge.scores(ema(eval_noise), "_ema"))
                standing = copy.deepcopy(ema)
                standing_stats(standing)
                generated = standing(eval_noise)
                scores.update(judge.scores(generated, "_ema_standing"))
                grid = generated[:64].cpu().numpy()
        means = (sums / steps).tolist()
        fields = {**dataclasses.asdict(recipe), **dataclasses.asdict(trial)}
        record = {"recipe": {k: v for k, v in fields.items() if k != "name"},
                  "seed": seed, "epoch": epoch + 1,
                  "minutes": round((time.perf_counter() - start) / 60, 2),
                  "loss_d": means[0], "loss_g": means[1], "d_real": means[2], "d_fake": means[3],
                  **scores}
        records.append(record)
        log(json.dumps(record))
        if out:
            out.mkdir(parents=True, exist_ok=True)
            with open(out / "trials.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            np.save(out / f"grid_epoch{epoch + 1:03d}.npy", grid)
            save_generator(G, recipe, out, epoch + 1)
    return records


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
                   help="override a Recipe field, or set a trial-only one: "
                        + ", ".join(TRIAL_FIELDS))
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
            k: v for k, v in settings.items() if k not in TRIAL_FIELDS})
    except (argparse.ArgumentTypeError, ValueError) as error:
        p.error(str(error))
    trial = Trial(**{k: v for k, v in settings.items() if k in TRIAL_FIELDS})
    images = load_mnist_train(args.data_dir)[:args.limit]
    try:
        real = data.load_mnist("test", args.data_dir, download=False)[0]
    except (FileNotFoundError, data.DataError):
        print("no MNIST test files in the data folder: digit coverage only, no FID")
        real = None
    train(recipe, images, Judge(real), args.epochs, args.seed, args.device,
          Path(args.out) if args.out else None, trial=trial)


if __name__ == "__main__":
    main()
