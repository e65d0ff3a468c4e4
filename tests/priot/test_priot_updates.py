"""The baselines' weight-update rules against hand-computed integer examples, the NITI mu normalisation and
schedule, and the methods that use them (one step equals the rule applied to the gradient accumulator)."""

import dataclasses

import numpy as np
import pytest

from priot import methods, quant, ref, train
from priot.errors import ConfigError
from priot.intmath import ceil_log2, floor_shift, niti_update, psto_shift, rshift_round, sat_w8
from priot.methods import niti_mu


def test_floor_nearest_and_pstoshift_differ_on_negative_values():
    x = np.array([-1, -3, -5, -6, -8, 5, 6])
    # by hand, x / 4:       -0.25 -0.75 -1.25 -1.5 -2  1.25 1.5
    assert floor_shift(x, 2).tolist() == [-1, -1, -2, -2, -2, 1, 1]          # towards -inf
    assert rshift_round(x, 2).tolist() == [0, -1, -1, -1, -2, 1, 2]          # nearest, ties up
    # PstoShift: |x| >> 2, +1 iff the upper dropped bit exceeds the lower one, sign restored
    # (-1: r=01 no; -3: r=11 no; -5: q=1 r=01 no; -6: q=1 r=10 yes; -8: exact)
    assert psto_shift(x, 2).tolist() == [0, 0, -1, -2, -2, 1, 2]
    assert (psto_shift(-x, 2) == -psto_shift(x, 2)).all()  # symmetric in the sign, unlike floor


def test_pstoshift_odd_shifts_compare_halves_of_equal_width():
    # s = 3: the upper 2 dropped bits against the lowest bit doubled
    x = np.array([-9, -11, -12, -13, -14, -15])  # r = 001 011 100 101 110 111
    assert psto_shift(x, 3).tolist() == [-1, -1, -2, -1, -2, -2]
    # s = 1: nothing below the dropped bit, so a dropped 1 always rounds the magnitude up
    assert psto_shift(np.array([-3, -2, 3]), 1).tolist() == [-2, -1, 2]
    # s = 4: 25 = 1|1001 (hi 10 > lo 01: up), 22 = 1|0110 (hi 01 < lo 10: down)
    assert psto_shift(np.array([25, 22, -25]), 4).tolist() == [2, 1, -2]
    assert psto_shift(np.array([7, -7]), 0).tolist() == [7, -7]
    with pytest.raises(ConfigError):
        psto_shift(np.array([1]), 32)


def test_floor_drives_small_negative_gradients_to_saturation():
    """The bias the issue describes: -1 >> 5 is -1, so w -= g climbs every step; the others stay put."""
    g = np.array([-1, -3, -31])
    w = {"floor": np.zeros(3, np.int64), "nearest": np.zeros(3, np.int64), "psto": np.zeros(3, np.int64)}
    rules = {"floor": floor_shift, "nearest": rshift_round, "psto": psto_shift}
    for _ in range(200):
        for k, rule in rules.items():
            w[k] = sat_w8(w[k] - rule(g, 5)).astype(np.int64)
    assert w["floor"].tolist() == [127, 127, 127]
    assert w["nearest"].tolist() == [0, 0, 127]  # -31/32 rounds to -1
    assert w["psto"].tolist() == [0, 0, 127]     # 31 = 11111: hi 111 > lo 11 doubled (110): up


def test_ceil_log2_is_exact():
    vals = [0, 1, 2, 3, 4, 5, 100, 128, 129, 2 ** 20, 2 ** 20 + 1, 2 ** 31 - 1]
    assert [ceil_log2(v) for v in vals] == [0, 0, 1, 2, 2, 3, 7, 7, 8, 20, 21, 31]


def test_niti_update_normalises_to_mu_bits():
    # max 100: ceil(log2 100) = 7 bits, mu 5 -> shift 2; 100 -> 25, -37 = -(9*4 + 1) -> -9, 5 -> 1
    assert niti_update(np.array([100, -37, 5, 0]), 5).tolist() == [25, -9, 1, 0]
    # the result never exceeds 2^mu: the maximum maps to at most 32
    acc = np.random.default_rng(0).integers(-2 ** 23, 2 ** 23, 1000)
    for mu in range(0, 7):
        assert np.abs(niti_update(acc, mu)).max() <= 2 ** mu
    # max 32 has 5 bits: no shift; max 33 has 6: shift 1 (33 -> 17, -7 -> -4, both rounded up in magnitude)
    assert niti_update(np.array([32, -7]), 5).tolist() == [32, -7]
    assert niti_update(np.array([33, -7]), 5).tolist() == [17, -4]
    # max |acc| <= 1 is "0 bits" in NITI's RangeEstimate: no update at all
    assert niti_update(np.array([1, -1, 0]), 5).tolist() == [0, 0, 0]
    assert niti_update(np.array([2, -1]), 5).tolist() == [2, -1]
    # clipped to the int8 weight range
    assert niti_update(np.array([200, -3]), 8).tolist() == [127, -3]
    # the step does not depend on the gradient's scale (the point of normalising): 2^k * acc, same update
    base = np.array([96, -40, 8])
    assert all(niti_update(base << k, 4).tolist() == niti_update(base, 4).tolist() for k in range(10))


def test_niti_mu_schedule_has_niti_shape():
    # NITI: 200 epochs, mu 5 until epoch 100, 4 until 150, then 3
    sched = [niti_mu(5, e, 200) for e in range(200)]
    assert sched[:100] == [5] * 100 and sched[100:150] == [4] * 50 and sched[150:] == [3] * 50
    assert [niti_mu(5, e, 4) for e in range(4)] == [5, 5, 4, 3]
    assert [niti_mu(5, e, 3) for e in range(3)] == [5, 5, 4]
    assert [niti_mu(1, e, 4) for e in range(4)] == [1, 1, 0, 0]   # never below 0
    assert niti_mu(5, 7, None) == 5                              # run length unknown: no schedule


def test_niti_method_follows_the_schedule_through_train(small_qm, small_splits):
    _, ad, _ = small_splits
    m = methods.make("niti-last", small_qm, lr_shift=6)
    seen = []
    end_epoch = m.end_epoch

    def spy():
        seen.append(m.lr_shift)
        end_epoch()
    m.end_epoch = spy
    orders = [np.arange(3)] * 4
    train.train(m, ad.images, ad.labels, orders)
    assert seen == [6, 6, 5, 4]


@pytest.mark.parametrize("name,rule", [
    ("niti-last", lambda g, qm, j, step: niti_update(g, step)),
    ("floor-last", lambda g, qm, j, step: floor_shift(g, qm.grad_shift[j] + step)),
    ("rtn-last", lambda g, qm, j, step: rshift_round(g, qm.grad_shift[j] + step)),
    ("niti-all", lambda g, qm, j, step: niti_update(g, step)),
    ("floor-all", lambda g, qm, j, step: floor_shift(g, qm.grad_shift[j] + step)),
])
def test_one_step_is_the_rule_applied_to_the_accumulator(small_qm, small_splits, name, rule):
    x = ref.to_input(small_splits[1].images[:1])[0]
    label = int(small_splits[1].labels[0])
    m = methods.make(name, small_qm, lr_shift=3)
    _, grads, _ = m._grads(x, label)
    before = [w.copy() for w in m.weights]
    m.step(x, label)
    for j in range(len(before)):
        expected = before[j] if j not in m.trained else sat_w8(before[j].astype(np.int64) - rule(grads[j], small_qm, j, 3))
        assert (m.weights[j] == expected).all(), (name, j)
    assert "rng_counter" not in m.state()  # deterministic rules draw no random numbers


def test_registry_families_are_data():
    spec = methods.spec
    assert set(methods.names(family="published")) == {"niti-all", "niti-last"}
    assert set(methods.names(family="naive")) == {"floor-all", "floor-last", "rtn-all", "rtn-last"}
    assert set(methods.names(family="engineered")) == {"sgd-all", "sgd-last"}
    assert {"none", "niti-dynamic", "float-all"} <= set(methods.names(family="reference"))
    assert all(s.family in methods.FAMILIES for s in methods.REGISTRY.values())
    assert {spec(n).update for n in ("niti-all", "floor-all", "rtn-all", "sgd-all", "niti-dynamic")} == \
        {"niti-static", "floor", "nearest", "stochastic", "dynamic"}
    assert spec("niti-all").step_name == spec("niti-last").step_name == "mu"
    f = spec("float-all")
    assert not f.integer and not f.device and "NOT INTEGER" in f.summary
    assert "float-all" not in methods.names(device=True)
    good = spec("floor-all")
    with pytest.raises(ConfigError, match="unknown update rule"):
        dataclasses.replace(good, update="ceil")
    with pytest.raises(ConfigError, match="needs an update rule and layers"):
        dataclasses.replace(good, layers=None)
    with pytest.raises(ConfigError, match="integer-only"):
        dataclasses.replace(f, device=True)


def test_float_all_starts_from_the_float_backbone_the_int8_one_came_from(small_qm, small_splits):
    m = methods.make("float-all", small_qm, lr_shift=6)
    for (w, _), q in zip(m.params, small_qm.weights):
        assert (quant.quantize_weights(w)[0] == q).all()
    _, ad, te = small_splits
    before = train.accuracy(m, te.images, te.labels)
    train.train(m, ad.images, ad.labels, [np.arange(len(ad))] * 2)
    assert m.lr_shift == 8 and train.accuracy(m, te.images, te.labels) != before
    bare = dataclasses.replace(small_qm, pretrained=None)
    with pytest.raises(ConfigError, match="float parameters"):
        methods.make("float-all", bare)
