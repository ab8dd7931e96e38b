"""How good are a GAN's samples? A Fréchet distance on classifier features, and digit coverage.

Both use the LeNet-style classifier in minigan.digits (trained with minigan; 64 features).

FID (Fréchet Inception Distance, here on the digit classifier's features instead of Inception's):
fit a Gaussian (mean mu, covariance S) to the features of each image set; the Fréchet distance
between N(mu1, S1) and N(mu2, S2) is

    |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1^(1/2) S2 S1^(1/2))^(1/2)).

Tr((S1 S2)^(1/2)) is computed in that symmetric form, through two eigen-decompositions of
symmetric positive semi-definite matrices: S1^(1/2) = V diag(sqrt(max(l, 0))) V^T, then the
eigenvalues of M = S1^(1/2) S2 S1^(1/2) (symmetric by construction), clipped at 0 (they are >= 0
in exact arithmetic; rounding can make tiny ones negative), give Tr(M^(1/2)) = sum sqrt(l_i).
Unlike scipy.linalg.sqrtm on the non-symmetric S1 S2, this never returns complex parts. All in
float64.

The floor: FID has a bias at finite N and the test images are not the training images, so a
perfect generator does not score 0. What it would score is estimated by drawing N random
*training* images (the distribution a generator learns) and scoring them exactly as a
generator's N samples are scored: against the same N test images (training_floor; a few draws,
their mean and range; about 6 at N = 5,000 with the shipped classifier). The draws must be
random: MNIST's training file is not uniformly mixed (against test[:2000], its first 2,000
images score 12.4, its last 2,000 21.1, random draws of 2,000 about 7.7). The test set's first
5,000 digits (NIST's cleaner writers) against its last 5,000 score about 16: writer shift, which
no generator of the training set has to bridge, so that number (classifier_report's) is not a
floor.

Coverage: the classifier's predicted labels over generated images: how many digits get at least
5% of the samples (10 = all), the KL divergence of the label histogram from uniform
(0 = perfectly even, log 10 = 2.30 = one digit only), and the mean of the top probability
(confidence: low when the samples are not clearly any digit).

Stray pixels (isolated_pixels): lit pixels with no lit neighbour, which no pen stroke makes.
"""
import numpy as np

from minigan import digits


def gaussian(features):
    """(mean, covariance) of features (N, D), in float64."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"need features (N, D) with N >= 2, got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _sqrt_psd(S):
    values, vectors = np.linalg.eigh((S + S.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1, S1, mu2, S2):
    """The Fréchet distance between N(mu1, S1) and N(mu2, S2) (see the module docstring)."""
    root = _sqrt_psd(S1)
    M = root @ S2 @ root
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((M + M.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(S1) + np.trace(S2) - 2 * trace_sqrt)


def fid(features_a, features_b):
    return frechet_distance(*gaussian(features_a), *gaussian(features_b))


def coverage(probabilities, threshold=0.05):
    """Digit coverage of generated images from the classifier's probabilities p (N, 10):
    share_d = #{n : argmax p_n = d} / N, covered = #{d : share_d >= threshold},
    KL to uniform = sum_d share_d log(10 share_d), confidence = mean_n max p_n."""
    probs = np.asarray(probabilities, dtype=np.float64)
    shares = np.bincount(probs.argmax(axis=1), minlength=10) / len(probs)
    nonzero = shares[shares > 0]
    return {"digits_covered": int((shares >= threshold).sum()),
            "kl_to_uniform": float((nonzero * np.log(nonzero * 10)).sum()),
            "confidence": float(probs.max(axis=1).mean()),
            "shares": [round(float(s), 4) for s in shares]}


def isolated_pixels(images, lit=-0.6, radius=2):
    """Stray pixels: per image, how many pixels are lit (value > `lit` in [-1, 1]; -0.6 is grey
    51 of 255) with no other lit pixel within `radius` (a 5 x 5 window for 2). A pen stroke
    lights neighbours: MNIST has 0.008 per image (81 in the 10,000 test images, 546 in the
    60,000 training images), so a generator that draws many more makes them itself. Returns
    their mean per image and the share of images with any."""
    x = np.asarray(images).reshape(-1, 28, 28) > lit
    padded = np.pad(x, ((0, 0), (radius, radius), (radius, radius))).astype(np.int32)
    window = sum(np.roll(padded, (dy, dx), axis=(1, 2))
                 for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1))
    alone = (x & (window[:, radius:-radius, radius:-radius] == 1)).sum(axis=(1, 2))
    return {"isolated_pixels": float(alone.mean()),
            "images_with_isolated": float((alone > 0).mean())}


def label_accuracy(probabilities, labels, classes=10):
    """How often the classifier reads each requested digit as that digit: the share of the
    samples drawn for digit d whose most probable class is d, per digit (None where no sample
    asked for d) and overall (over all samples)."""
    labels = np.asarray(labels)
    right = probabilities.argmax(axis=1) == labels
    per_digit = [round(float(right[labels == d].mean()), 4) if (labels == d).any() else None
                 for d in range(classes)]
    return {"label_accuracy": float(right.mean()), "label_accuracy_per_digit": per_digit}


def evaluate_images(images, real_images, model=None, labels=None):
    """FID against real_images and coverage, for generated images (N, 784 or 28x28, [-1, 1]);
    with `labels` (the digits a conditional generator was asked for), the label accuracy too."""
    model = model or digits.load()
    fake_features, fake_probs = digits.run(model, images)
    real_features, _ = digits.run(model, real_images)
    result = {"fid": fid(fake_features, real_features), **coverage(fake_probs),
              **isolated_pixels(images), "n": len(images)}
    if labels is not None:
        result.update(label_accuracy(fake_probs, labels))
    return result


def training_floor(train_images, real_images, model=None, draws=3, seed=0):
    """The FID floor at N = len(real_images): `draws` independent draws of N training images
    (each without replacement, from a generator seeded by `seed`), each scored against
    real_images (the N test images a generator's samples are scored against). Returns the mean
    and the range (min, max) of the draws' FIDs, with draws and N."""
    model = model or digits.load()
    real_features = digits.run(model, real_images)[0]
    n, rng = len(real_images), np.random.default_rng(seed)
    if not 2 <= n <= len(train_images) or draws < 1:
        raise ValueError(f"need 2 <= N <= {len(train_images)} training images and draws >= 1, "
                         f"got N = {n}, draws = {draws}")
    scores = [fid(digits.run(model, train_images[rng.choice(len(train_images), n,
                                                            replace=False)])[0], real_features)
              for _ in range(draws)]
    return {"fid_floor": float(np.mean(scores)), "fid_floor_min": min(scores),
            "fid_floor_max": max(scores), "fid_floor_draws": draws, "n_floor_train": n}


def classifier_report(test_images, test_labels, model=None):
    """The classifier's test accuracy, and the FID between the two halves of the test set
    (writer shift, not a floor: see the module docstring), from one pass over the test
    images."""
    model = model or digits.load()
    features, probs = digits.run(model, test_images)
    half = len(test_images) // 2
    return {"classifier_test_accuracy": float((probs.argmax(axis=1) == test_labels).mean()),
            "fid_floor_real_vs_real": fid(features[:half], features[half:2 * half]),
            "n_floor": half}

