"""A LeNet-style MNIST classifier, trained with minigan, whose features measure GAN samples.

    x (N, 784) in [-1, 1] -> Conv 1->16 3x3 ReLU -> Conv 16->32 3x3 stride 2 ReLU (14x14)
      -> Conv 32->32 3x3 stride 2 ReLU (7x7) -> Flatten (1568) -> Dense 64 ReLU -> Dense 10

The 64 values after the first Dense's ReLU are the features the FID compares (minigan.metrics).
Strided convolutions downsample (no pooling layer needed). Trained by
`python examples/train_classifier.py`; the weights ship with the package
(minigan/weights/digits_lenet.npz, float16, about 230 KB), so evaluation needs no training.
"""
from pathlib import Path

import numpy as np

import minigan.functional as F
from minigan import backend, nn, optim
from minigan.autograd import no_grad, tensor

WEIGHTS = Path(__file__).with_name("weights") / "digits_lenet.npz"
FEATURES = 64


def build():
    """The classifier as two parts: features (N, 784) -> (N, 64), and head (N, 64) -> logits."""
    features = nn.Sequential(
        nn.Reshape(1, 28, 28),
        nn.Conv2D(1, 16, 3, padding="same"), nn.ReLU(),
        nn.Conv2D(16, 32, 3, stride=2, padding="same"), nn.ReLU(),
        nn.Conv2D(32, 32, 3, stride=2, padding="same"), nn.ReLU(),
        nn.Flatten(), nn.Dense(32 * 7 * 7, FEATURES), nn.ReLU())
    return nn.Sequential(features, nn.Dense(FEATURES, 10))


def shifted(images, rng, max_shift=2):
    """Each image moved by up to max_shift pixels in x and y (zero fill): cheap augmentation."""
    out = np.full_like(images, -1.0).reshape(-1, 28, 28)
    src = images.reshape(-1, 28, 28)
    dy, dx = rng.integers(-max_shift, max_shift + 1, (2, len(images)))
    for i in range(len(images)):
        ys, xs = slice(max(dy[i], 0), 28 + min(dy[i], 0)), slice(max(dx[i], 0), 28 + min(dx[i], 0))
        yd = slice(max(-dy[i], 0), 28 + min(-dy[i], 0))
        xd = slice(max(-dx[i], 0), 28 + min(-dx[i], 0))
        out[i, yd, xd] = src[i, ys, xs]
    return out.reshape(images.shape)


def train(images, labels, epochs=6, batch_size=128, lr=2e-3, seed=0, log=print):
    """Adam, the learning rate divided by 10 for the last third of the epochs, shifted images."""
    backend.manual_seed(seed)
    model = build()
    opt = optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        opt.hyper["lr"] = lr if epoch < epochs - epochs // 3 else lr / 10
        order = rng.permutation(len(images))
        total, batches = 0.0, 0
        for start in range(0, len(order) - batch_size + 1, batch_size):
            idx = order[start:start + batch_size]
            loss = F.cross_entropy(model(tensor(shifted(images[idx], rng))), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if batches % 50 == 0:
                total += loss.item()
            batches += 1
        log(f"classifier epoch {epoch + 1}/{epochs}: mean sampled loss "
            f"{total / ((batches + 49) // 50):.4f}")
    return model


def run(model, images, batch_size=1000):
    """(features (N, 64), probabilities (N, 10)) of images (N, 784) or (N, 28, 28) in [-1, 1];
    probabilities = softmax(logits), p_k = exp(z_k) / sum_j exp(z_j)."""
    images = np.asarray(images, dtype=np.float32).reshape(len(images), 784)
    model.eval()
    feats, probs = [], []
    with no_grad():
        for start in range(0, len(images), batch_size):
            f = model[0](tensor(images[start:start + batch_size]))
            logits = model[1](f).numpy()
            e = np.exp(logits - logits.max(axis=1, keepdims=True))  # exp(<= 0) cannot overflow
            feats.append(f.numpy())
            probs.append(e / e.sum(axis=1, keepdims=True))
    return np.concatenate(feats), np.concatenate(probs)


def save(model, path=WEIGHTS):
    """float16 weights (half the size; the classifier's accuracy does not change)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **{k: v.astype(np.float16) for k, v in model.state_dict().items()})


def load(path=WEIGHTS):
    """The shipped classifier (or one saved at `path`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no classifier weights at {path}: train them with "
                                "`python examples/train_classifier.py`")
    model = build()
    model.load_state_dict({k: v.astype(np.float32) for k, v in np.load(path).items()})
    return model.eval()
