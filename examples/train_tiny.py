"""Train a tiny MLP with minigan: classify points inside/outside a circle (a two-minute read).

    python examples/train_tiny.py [--device cpu|gpu] [--steps 300]
"""
import argparse
import sys

import numpy as np

import minigan as mg
import minigan.functional as F
from minigan import nn


class TinyNet(nn.Module):
    """x (N, 2) -> Dense 32 tanh -> Dense 1 sigmoid -> p (N, 1) = P(point is inside)."""

    def __init__(self):
        self.hidden = nn.Dense(2, 32)
        self.out = nn.Dense(32, 1)

    def forward(self, x):
        return F.sigmoid(self.out(F.tanh(self.hidden(x))))


def make_data(n, rng):
    x = rng.uniform(-1, 1, size=(n, 2)).astype(np.float32)
    y = (np.sqrt((x ** 2).sum(axis=1, keepdims=True)) < 0.6).astype(np.float32)  # (N, 1)
    return x, y


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or gpu (default: cpu)")
    parser.add_argument("--steps", type=int, default=300, help="Adam steps (default: 300)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    args = parser.parse_args(argv)
    try:
        mg.set_device(args.device)
    except mg.DeviceError as error:
        sys.exit(f"error: {error}")
    mg.manual_seed(args.seed)

    x_np, y_np = make_data(512, np.random.default_rng(args.seed))
    x, y = mg.tensor(x_np), mg.tensor(y_np)
    model = TinyNet()
    opt = mg.optim.Adam(model.parameters(), lr=0.02)
    for step in range(1, args.steps + 1):
        p = model(x)
        # binary cross-entropy, written out: -[y log p + (1 - y) log(1 - p)]
        loss = -(y * (p + 1e-7).log() + (1 - y) * (1 - p + 1e-7).log()).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == 1:
            accuracy = float(((p.numpy() > 0.5) == (y_np > 0.5)).mean())
            print(f"step {step:4d}  loss {loss.item():.4f}  accuracy {accuracy:.3f}")
    return accuracy


if __name__ == "__main__":
    main()
