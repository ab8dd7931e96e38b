"""The MNIST GAN in PyTorch: a twin of minigan's trainer, for comparisons and fast recipe trials.

    python benchmarks/torch_gan.py --epochs 10 --device cuda --out runs/torch/stable_seed0
    python benchmarks/torch_gan.py --set feature_matching=2000 --set lr_d=1e-4

Same architecture as minigan.gan (the seed's discriminator; the recipe's generator), the same
Keras-style initialisation (Glorot-uniform weights, zero biases), the same recipe fields with the
same meaning (minibatch-std channel, one-sided label smoothing, annealed instance noise, feature
matching on the features D's Flatten receives, PacGAN packs), the standard schedule (per batch:
one D step on real + fresh fakes, one G step), batch 64. After every epoch it samples 5,000
images from G (eval mode) and classifies them with minigan's MLP digit classifier (its weights
loaded from the .npz that minigan.classifier caches: "covered", "shares") and with the LeNet-style
classifier that minigan.evaluate uses ("lenet_covered", "lenet_shares", and "lenet_fid" against
5,000 real test images when the test files are in the data folder), and appends them to
--out/trials.jsonl.

Two fields exist only here, to try ideas before porting them: mode_seeking (the MSGAN term,
Mao et al. 2019: G also minimises 1 / (mean|G(z1) - G(z2)| / mean|z1 - z2|)) and adversarial
(the weight of G's BCE term; 0 = feature matching alone).
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


@dataclasses.dataclass
class Recipe:
    """minigan.gan.Recipe's fields and defaults ("stable"), plus trial-only fields.
    tests/test_benchmarks.py checks the shared fields against minigan.gan.RECIPES."""
    generator: str = "batchnorm"
    minibatch_std: bool = True
    lr_d: float = 2e-4
    lr_g: float = 2e-4
    beta1: float = 0.5
    real_label: float = 0.9
    instance_noise: float = 0.3
    feature_matching: float = 2000.0
    pack: int = 1                 # D judges packs of this many images (PacGAN)
    minibatch_kernels: int = 16   # > 0: minibatch discrimination with this many kernels
    mode_seeking: float = 0.0
    adversarial: float = 1.0
    ema: float = 0.0              # > 0: also keep an exponential moving average of G's weights


SEED_RECIPE = dict(generator="seed", minibatch_std=False, lr_d=1e-4, lr_g=1e-4, beta1=0.9,
                   real_label=1.0, instance_noise=0.0, feature_matching=0.0, pack=1,
                   minibatch_kernels=0)


def keras_init(module):
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)


def build_generator(recipe):
    sizes, layers = [100, 128, 256, 512, 1024], []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if recipe.generator == "seed":
            layers.append(nn.ReLU())
        else:
            if i > 0:
                layers.append(nn.BatchNorm1d(n_out, momentum=0.1, eps=1e-5))
            layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers, nn.Linear(1024, 784), nn.Tanh()).apply(keras_init)


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


def build_discriminator(recipe):
    extra = [MinibatchStd()] if recipe.minibatch_std else []
    features = 28 * 28 * (64 + len(extra))
    closeness = [MinibatchDiscrimination(features, recipe.minibatch_kernels)] \
        if recipe.minibatch_kernels else []
    return nn.Sequential(
        Pack(recipe.pack),
        nn.Conv2d(recipe.pack, 32, 3, padding=1), nn.LeakyReLU(0.01), nn.Dropout(0.3),
        nn.Conv2d(32, 64, 3, padding=1), nn.LeakyReLU(0.01), nn.Dropout(0.3),
        *extra, nn.Flatten(), *closeness,
        nn.Linear(features + recipe.minibatch_kernels, 1), nn.Sigmoid()).apply(keras_init)


def features_and_output(D, x):
    features = None
    for layer in D:
        if isinstance(layer, nn.Flatten):
            features = x
        x = layer(x)
    return features, x


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
            G(torch.randn(n, 100, device=device))
    for m in norms:
        m.momentum = 0.1
    G.eval()


def load_mnist_train(data_dir):
    with gzip.open(Path(data_dir) / "train-images-idx3-ubyte.gz") as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
    return (raw.reshape(-1, 784).astype(np.float32) / np.float32(127.5)) - np.float32(1.0)


class Judge:
    """minigan.classifier's MLP (784 -> 256 ReLU -> 10) with its cached weights."""

    def __init__(self, path, device):
        w = {k: torch.from_numpy(v).to(device) for k, v in np.load(path).items()}
        self.w = w

    def shares(self, images):
        w = self.w
        logits = F.relu(images @ w["0.weight"].T + w["0.bias"]) @ w["2.weight"].T + w["2.bias"]
        counts = torch.bincount(logits.argmax(dim=1), minlength=10).double()
        return (counts / len(images)).cpu().numpy()


class LeNetJudge:
    """minigan.digits (the classifier behind minigan.evaluate): coverage, and FID when real test
    images are given. Runs on the CPU with minigan (5,000 images: a few seconds)."""

    def __init__(self, real_images=None):
        from minigan import digits
        self.model, self.real = digits.load(), real_images

    def scores(self, images):
        from minigan import metrics
        if self.real is None:
            from minigan import digits
            result = metrics.coverage(digits.run(self.model, images)[1])
        else:
            result = metrics.evaluate_images(images, self.real[:len(images)], self.model)
        out = {"lenet_covered": result["digits_covered"], "lenet_shares": result["shares"]}
        if "fid" in result:
            out["lenet_fid"] = round(result["fid"], 3)
        return out


def train(recipe, images, judge, epochs, seed, device, out, batch=64, samples=5000, log=print,
          lenet=None):
    torch.manual_seed(seed)
    G, D = build_generator(recipe).to(device), build_discriminator(recipe).to(device)
    betas = (recipe.beta1, 0.999)
    opt_d = torch.optim.Adam(D.parameters(), lr=recipe.lr_d, betas=betas)
    opt_g = torch.optim.Adam(G.parameters(), lr=recipe.lr_g, betas=betas)
    data = torch.from_numpy(images).to(device)
    if batch % recipe.pack:
        raise ValueError(f"batch {batch} is not a multiple of pack {recipe.pack}")
    packs = batch // recipe.pack                       # D's outputs per batch
    real_t = torch.full((packs, 1), recipe.real_label, device=device)
    ones, zeros = torch.ones(packs, 1, device=device), torch.zeros(packs, 1, device=device)
    eval_noise = torch.randn(samples, 100, generator=torch.Generator().manual_seed(1234))
    eval_noise = eval_noise.to(device)
    ema = copy.deepcopy(G) if recipe.ema > 0 else None
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
                fake = G(torch.randn(batch, 100, device=device))
            p_fake = D(noisy(fake))
            loss_d = F.binary_cross_entropy(p_real, real_t) + F.binary_cross_entropy(p_fake, zeros)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()

            D.requires_grad_(False)
            z = torch.randn(batch, 100, device=device)
            images_g = G(z)
            features, p = features_and_output(D, noisy(images_g))
            loss_g = recipe.adversarial * F.binary_cross_entropy(p, ones)
            if recipe.feature_matching > 0:
                with torch.no_grad():
                    target = features_and_output(D, noisy(real))[0].mean(dim=0)
                gap = features.mean(dim=0) - target
                loss_g = loss_g + recipe.feature_matching * (gap * gap).mean()
            if recipe.mode_seeking > 0:
                h = batch // 2
                ratio = ((images_g[:h] - images_g[h:2 * h]).abs().mean()
                         / (z[:h] - z[h:2 * h]).abs().mean())
                loss_g = loss_g + recipe.mode_seeking / (ratio + 1e-5)
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            D.requires_grad_(True)
            if ema is not None:
                with torch.no_grad():
                    torch._foreach_lerp_(ema_tensors, live_tensors, 1 - recipe.ema)
            sums += torch.stack([loss_d.detach(), loss_g.detach(),
                                 p_real.detach().mean(), p_fake.detach().mean()])
        G.eval()
        with torch.no_grad():
            generated = G(eval_noise)
            shares = judge.shares(generated)
            grid = generated[:64].cpu().numpy()
            lenet_scores = lenet.scores(generated.cpu().numpy()) if lenet is not None else {}
        G.train()
        extra = {}
        if ema is not None:
            ema.eval()
            with torch.no_grad():
                shares_ema = judge.shares(ema(eval_noise))
                standing = copy.deepcopy(ema)
                standing_stats(standing)
                generated = standing(eval_noise)
                shares_st = judge.shares(generated)
                grid = generated[:64].cpu().numpy()
            extra = {"covered_ema": int((shares_ema >= 0.05).sum()),
                     "shares_ema": [round(float(s), 3) for s in shares_ema],
                     "covered_ema_standing": int((shares_st >= 0.05).sum()),
                     "shares_ema_standing": [round(float(s), 3) for s in shares_st]}
        means = (sums / steps).tolist()
        record = {"recipe": {k: v for k, v in dataclasses.asdict(recipe).items()},
                  "seed": seed, "epoch": epoch + 1,
                  "minutes": round((time.perf_counter() - start) / 60, 2),
                  "covered": int((shares >= 0.05).sum()),
                  "shares": [round(float(s), 3) for s in shares],
                  "loss_d": means[0], "loss_g": means[1], "d_real": means[2], "d_fake": means[3],
                  **lenet_scores, **extra}
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
    fields = ("generator", "minibatch_std", "lr_d", "lr_g", "beta1", "real_label",
              "instance_noise", "feature_matching", "pack", "minibatch_kernels")
    (out / "recipe.json").write_text(json.dumps(
        {"name": "torch_twin", **{f: getattr(recipe, f) for f in fields}}, indent=2))


def parse_override(text):
    key, _, value = text.partition("=")
    fields = {f.name: f.type for f in dataclasses.fields(Recipe)}
    if key not in fields:
        raise argparse.ArgumentTypeError(f"unknown recipe field {key!r}: one of {sorted(fields)}")
    kind = fields[key]
    if kind is bool:
        if value not in ("True", "False"):
            raise argparse.ArgumentTypeError(f"{key} is True or False, got {value!r}")
        return key, value == "True"
    try:
        return key, kind(value)      # the field's declared type: str, int (pack) or float
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{key} must be of type {kind.__name__}, got {value!r}") from None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", choices=["stable", "seed"], default="stable")
    p.add_argument("--set", type=parse_override, action="append", default=[])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--data-dir", default=os.environ.get("MINIGAN_DATA_DIR"))
    p.add_argument("--judge", default=str(Path.home() / ".cache/minigan/digit_classifier_mlp.npz"))
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
        # Numba reads the variable when it is imported, so only a fresh process can take it.
        if "numba" not in sys.modules:
            os.environ.setdefault("NUMBA_NUM_THREADS", str(args.threads))
    recipe = Recipe(**(SEED_RECIPE if args.recipe == "seed" else {}))
    recipe = dataclasses.replace(recipe, **dict(args.set))
    images = load_mnist_train(args.data_dir)[:args.limit]
    judge = Judge(args.judge, args.device)
    from minigan import data
    try:
        real = data.load_mnist("test", args.data_dir, download=False)[0]
    except (FileNotFoundError, data.DataError):
        print("no MNIST test files in the data folder: LeNet coverage only, no FID")
        real = None
    train(recipe, images, judge, args.epochs, args.seed, args.device,
          Path(args.out) if args.out else None, lenet=LeNetJudge(real))


if __name__ == "__main__":
    main()
