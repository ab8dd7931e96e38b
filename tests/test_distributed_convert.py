"""minigan.distributed.convert: a model's batch-wide layers swapped for their global-batch twins,
in place, with the same tensors under the same names. One process, no MPI: the twins are given
a stand-in for the Communicator (tests/test_distributed.py runs them over real ranks)."""
import dataclasses

import numpy as np
import pytest

import minigan as mg
from minigan import build, distributed, gan_layers, nn
from minigan.recipes import get_recipe

BATCH_WIDE = {nn.BatchNorm1d: distributed.SyncBatchNorm1d,
              nn.BatchNorm2d: distributed.SyncBatchNorm2d,
              gan_layers.MinibatchStd: distributed.GlobalMinibatchStd,
              gan_layers.MinibatchDiscrimination: distributed.GlobalMinibatchDiscrimination}
MASKS = {nn.Dropout: distributed.GlobalDropout,
         nn.LeakyReLUDropout: distributed.GlobalLeakyReLUDropout}


class Ranks:
    """What the twins ask of a Communicator: rank `rank` of `size` ranks that all hold the same
    array (a sum over the ranks is size * array, a gather size copies)."""

    def __init__(self, rank=0, size=1, sync_statistics=True):
        self.rank, self.size, self.sync_statistics = rank, size, sync_statistics

    def sum(self, array, in_place=False):
        return array * array.dtype.type(self.size)

    def gather_rows(self, array):
        return np.concatenate([array] * self.size)


def modules(module, prefix=""):
    """(dotted name, module) of module and everything below it."""
    yield prefix, module
    for name, child in module.named_children():
        yield from modules(child, f"{prefix}.{name}" if prefix else name)


def models():
    """G and D of the stable recipe and of a conditional DCGAN with its classifier."""
    conditional = dataclasses.replace(get_recipe("dcgan"), discriminator="dcgan",
                                      conditional=True, classifier=1.0)
    return [build.build_generator("stable"), build.build_discriminator("stable"),
            build.build_generator(conditional), build.build_discriminator(conditional)]


@pytest.mark.parametrize("sync", [True, False])
def test_convert_swaps_exactly_the_batch_wide_layers(sync):
    twins = MASKS | (BATCH_WIDE if sync else {})
    for model in models():
        before = dict(modules(model))
        assert any(type(m) in BATCH_WIDE for m in before.values())
        assert distributed.convert(model, Ranks(sync_statistics=sync)) is model
        after = dict(modules(model))
        assert list(after) == list(before)
        for name, layer in before.items():
            if type(layer) in twins:
                assert type(after[name]) is twins[type(layer)], name
                assert after[name].comm.sync_statistics is sync
            else:
                assert after[name] is layer, name


def test_convert_keeps_every_tensor_under_its_name():
    for model in models():
        tensors, params = list(model.named_tensors()), model.parameters()
        state = model.state_dict()
        distributed.convert(model, Ranks())
        assert [name for name, _ in model.named_tensors()] == [name for name, _ in tensors]
        assert all(a is b for (_, a), (_, b) in zip(model.named_tensors(), tensors))
        assert all(a is b for a, b in zip(model.parameters(), params))
        assert state.keys() == model.state_dict().keys()
        model.load_state_dict(state)                      # a one-process checkpoint loads


def test_a_batch_wide_layer_converted_alone_is_returned_as_its_twin():
    layer = nn.BatchNorm1d(3)
    twin = distributed.convert(layer, Ranks())
    assert type(twin) is distributed.SyncBatchNorm1d and twin.weight is layer.weight
    assert type(distributed.convert(layer, Ranks(sync_statistics=False))) is nn.BatchNorm1d


def test_convert_takes_a_module():
    with pytest.raises(TypeError, match="convert: expected a Module .* got a list"):
        distributed.convert([nn.Dropout(0.5)], Ranks())


def test_a_layer_held_twice_gets_one_twin():
    shared = nn.Dropout(0.5)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    distributed.convert(model, Ranks())
    assert model[0] is model[2] and type(model[0]) is distributed.GlobalDropout


def test_a_rank_draws_its_rows_of_the_global_batchs_dropout_mask():
    ones = np.ones((4, 3, 5), np.float32)
    for layer in (nn.Dropout(0.5), nn.LeakyReLUDropout(0.2, 0.5)):
        mg.manual_seed(7)
        whole = layer(mg.tensor(np.concatenate([-ones, ones]))).numpy()      # 8 rows, 1 rank
        mg.manual_seed(7)
        rank1 = distributed.convert(layer, Ranks(rank=1, size=2))(mg.tensor(ones)).numpy()
        np.testing.assert_array_equal(rank1, whole[4:])


def test_twins_of_ranks_holding_the_same_rows_compute_the_layers_values():
    """Two ranks holding the same rows: the global batch's mean and variance are the rows' own,
    so BatchNorm and the minibatch-std channel give what the layers give (up to the order of
    summation), forward and backward; eval() uses the running statistics, as the layer."""
    x4 = np.random.default_rng(0).normal(size=(6, 3, 4, 4)).astype(np.float32)
    for layer, x in ((nn.BatchNorm2d(3), x4), (nn.BatchNorm1d(4), x4[:, 0, 0, :4].copy()),
                     (gan_layers.MinibatchStd(), x4)):
        twin = distributed.convert(nn.Sequential(layer), Ranks(size=2))[0]
        outputs = []
        for module in (layer, twin):
            xt = mg.tensor(x, requires_grad=True)
            module(xt).sum().backward()
            outputs.append((module(mg.tensor(x)).numpy(), xt.grad.numpy()))
        for a, b in zip(*outputs):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
    twin = distributed.convert(nn.BatchNorm1d(4), Ranks(size=2)).eval()
    layer = nn.BatchNorm1d(4).eval()
    np.testing.assert_array_equal(twin(mg.tensor(x4[:, 0, 0, :4].copy())).numpy(),
                                  layer(mg.tensor(x4[:, 0, 0, :4].copy())).numpy())


def test_a_deep_copy_of_a_converted_model_is_the_plain_model():
    """The averaged generator (minigan.ema) is a deep copy of G: of a converted G it is the
    plain model, with the same values in tensors of its own and no communicator (a real one
    holds the MPI module, which cannot be copied)."""
    import copy
    for model in models():
        comm = Ranks()
        comm.mpi = np                                  # a module, as the real Communicator's
        distributed.convert(model, comm)
        copied = copy.deepcopy(model)
        pairs = list(zip(dict(modules(model)).items(), dict(modules(copied)).items()))
        assert any(type(m) in (MASKS | BATCH_WIDE).values() for (_, m), _ in pairs)
        for (name, layer), (copy_name, twin_copy) in pairs:
            assert copy_name == name and not hasattr(twin_copy, "comm")
            plain = {v: k for k, v in (MASKS | BATCH_WIDE).items()}.get(type(layer), type(layer))
            assert type(twin_copy) is plain
        copied_state = copied.state_dict()
        for name, value in model.state_dict().items():
            np.testing.assert_array_equal(copied_state[name], value)
        copied_tensors = {id(t) for _, t in copied.named_tensors()}
        assert not copied_tensors & {id(t) for _, t in model.named_tensors()}
