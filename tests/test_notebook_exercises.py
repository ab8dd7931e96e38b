"""The answers to the exercises at the end of notebooks 01, 02, 04 and 05, computed with minigan:
the key a learner checks their work against, and a test that the questions still have them."""
import math

import numpy as np
import pytest

import minigan as mg
import minigan.functional as F
from minigan import data, gan
from minigan.autograd import Function
from minigan.functional.conv import conv_geometry
from minigan.kernels.im2col import col2im, im2col
from minigan.recipes import RECIPES



def sigmoid_dense(x):
    x = mg.tensor(x, requires_grad=True)
    w = mg.nn.Parameter(mg.tensor([[0.5, 0.1, -0.3]]))
    return x, w, F.sigmoid(F.dense(x, w))


# 01_autograd


def test_01_1_backward_twice_adds_the_gradient_twice():
    x, w, y = sigmoid_dense([[1.0, -2.0, 3.0]])
    y.sum().backward(retain_graph=True)
    once = x.grad.numpy().copy()
    y.sum().backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad.numpy(), once + once)  # .grad += g: x2 exactly


def test_01_2_by_hand_again():
    x, w, y = sigmoid_dense([[2.0, -1.0, 0.5]])
    a = 2 * 0.5 - 1 * 0.1 + 0.5 * -0.3                          # x @ w.T = 0.75
    value = 1 / (1 + math.exp(-a))                               # 0.679...
    y.sum().backward()
    # float32 against float64 by hand: a few roundings of 2**-24 relative
    assert abs(y.item() - value) < 1e-6
    np.testing.assert_allclose(x.grad.numpy(), value * (1 - value) * np.array([[0.5, 0.1, -0.3]]),
                               rtol=1e-5)


class Square(Function):
    # y = x**2;  dx = gy * 2x

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, gy):
        return gy * 2 * self.x


class SquareForgetsGy(Square):
    def backward(self, gy):
        return 2 * self.x


def test_01_3_square_passes_gradcheck_and_forgetting_gy_fails():
    x = mg.tensor(np.linspace(-2, 2, 5), requires_grad=True)
    assert mg.gradcheck(lambda t: Square()(t), x)
    with pytest.raises(mg.GradcheckError, match="elements off"):
        mg.gradcheck(lambda t: SquareForgetsGy()(t), x)


# 02_conv_im2col


def test_02_1_geometry_of_a_5x5_stride_2_same_conv():
    PT, PL, OH, OW = conv_geometry(28, 28, 5, 5, 2, "same")
    total = max((OH - 1) * 2 + 5 - 28, 0)
    assert (OH, OW, PT, total - PT) == (14, 14, 1, 2)            # 3 pixels: 1 on top, 2 below
    cols = im2col(np.zeros((64, 1, 28, 28), np.float32), 5, 5, 2, PT, PL, OH, OW)
    assert cols.shape == (25, 64 * 14 * 14)


def test_02_2_multiply_adds_of_the_original_second_conv():
    PT, PL, OH, OW = conv_geometry(28, 28, 3, 3, 1, "same")
    cols = im2col(np.zeros((64, 32, 28, 28), np.float32), 3, 3, 1, PT, PL, OH, OW)
    weights = np.zeros((64, 32 * 3 * 3))                         # (OC, C*KH*KW)
    assert weights.shape[0] * weights.shape[1] * cols.shape[1] == 924_844_032
    assert 64 * 64 * 28 * 28 * 32 * 3 * 3 == 924_844_032


def test_02_3_col2im_of_im2col_of_ones_counts_the_patches():
    PT, PL, OH, OW = conv_geometry(4, 4, 3, 3, 1, "same")
    ones = np.ones((1, 1, 4, 4), np.float32)
    covered = col2im(im2col(ones, 3, 3, 1, PT, PL, OH, OW), 4, 4, 3, 3, 1, PT, PL, OH, OW)[0, 0]
    assert covered[0, 0] == 4 and covered[0, 1] == 6 and covered[1, 1] == 9
    np.testing.assert_array_equal(covered, [[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]])


# 04_mnist_gan


def test_04_1_label_smoothing_is_smallest_at_the_label():
    p = np.array([0.5, 0.8, 0.89, 0.9, 0.91, 0.99], np.float32)[:, None]
    loss = [F.binary_cross_entropy(mg.tensor(q[None]), mg.tensor([[0.9]])).item() for q in p]
    assert int(np.argmin(loss)) == 3                             # at D(x) = 0.9
    entropy = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))       # 0.3251
    assert abs(loss[3] - entropy) < 1e-6                          # float32 logs: ~1e-7
    to_one = [F.binary_cross_entropy(mg.tensor(q[None]), mg.tensor([[1.0]])).item() for q in p]
    assert all(a > b for a, b in zip(to_one, to_one[1:]))         # target 1: always push up


def test_04_2_the_original_generator_learns_1_506_448_numbers():
    mg.manual_seed(0)
    G = gan.build_generator(RECIPES["original"])
    sizes = (100, 128, 256, 512, 1024, 784)
    by_hand = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    assert by_hand == sum(p.numpy().size for p in G.parameters()) == 1_506_448
    assert max(p.numpy().size for p in G.parameters()) == 1024 * 784   # the last Dense


def test_04_3_the_midpoint_of_two_noise_vectors_is_shorter():
    mg.manual_seed(0)
    z = gan.sample_noise(2000).numpy().astype(np.float64).reshape(1000, 2, 100)
    ends = np.linalg.norm(z, axis=2).mean()
    middle = np.linalg.norm(z.mean(axis=1), axis=1).mean()
    # |z| of 100 normals: mean ~ 9.97, sd ~ 0.71; averaged over 1000-2000 draws the sd is
    # ~ 0.02, so 0.2 is about 10 sd
    assert abs(ends - 10) < 0.2 and abs(middle - 10 / math.sqrt(2)) < 0.2


# 05_gan_in_one_file


def test_05_1_batches_per_epoch_drop_the_last_partial_batch():
    images = np.zeros((1000, 784), np.float32)
    batches = list(data.batches(images, 64, np.random.default_rng(0)))
    assert len(batches) == 15 and all(len(b) == 64 for b in batches)
    assert 1000 - 15 * 64 == 40                                   # images left out each epoch


def test_05_2_without_no_grad_d_loss_reaches_g():
    mg.manual_seed(0)
    recipe = RECIPES["original"]
    G, D = gan.build_generator(recipe), gan.Discriminator(recipe)
    opt_d, _ = gan.make_optimizers(G, D, recipe)
    before = [p.numpy().copy() for p in G.parameters()]
    fake = G(gan.sample_noise(4))                                  # no no_grad: a graph through G
    opt_d.zero_grad()
    (-(1 - D(fake)).log().mean()).backward()
    assert all(p.grad is not None for p in G.parameters())         # work spent on G's gradient
    opt_d.step()
    assert {id(p) for p in opt_d.params} == {id(p) for p in D.parameters()}
    assert all(np.array_equal(p.numpy(), b) for p, b in zip(G.parameters(), before))


@pytest.mark.parametrize("p", [0.01, 0.5, 0.99])
def test_05_3_saturating_and_non_saturating_gradients(p):
    a = mg.tensor([math.log(p / (1 - p))], requires_grad=True)     # sigmoid(a) = p
    (1 - F.sigmoid(a)).log().sum().backward()
    saturating = a.grad.item()
    a.grad = None
    (-F.sigmoid(a).log()).sum().backward()
    non_saturating = a.grad.item()
    # -p and p - 1, to float32 rounding of sigmoid near p (a few 2**-24, relative)
    assert abs(saturating + p) < 1e-5 and abs(non_saturating - (p - 1)) < 1e-5
    # the same size at p = 1/2; the original loss is larger where D is fooled (p > 1/2)
    assert (abs(saturating) > abs(non_saturating)) == (p > 0.5)
