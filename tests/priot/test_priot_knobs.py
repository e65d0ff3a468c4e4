"""PRIOT's knobs on the host: stochastic score rounding, |score| ranking, PRIOT-S's scored-edge selection.
Each default is the method as before (the bit-exact and device tests pin that); here each knob must change
what it says and nothing it does not."""

import numpy as np
import pytest

from priot import ref
from priot.errors import ConfigError
from priot.methods import Priot
from priot.methods.priot import score_threshold, select_hash, select_scored
from priot.topk import topk_mask, topk_mask_sorted


def _train(method, splits, n=6):
    x, y = ref.to_input(splits[1].images), splits[1].labels
    for i in range(n):
        method.step(x[i], int(y[i]))
    return method


def test_stochastic_rounding_moves_scores_apart_from_nearest(small_qm, small_splits):
    near = _train(Priot(small_qm, lr_shift=9, seed=3), small_splits)
    sto = _train(Priot(small_qm, lr_shift=9, seed=3, rounding="stochastic"), small_splits)
    again = _train(Priot(small_qm, lr_shift=9, seed=3, rounding="stochastic"), small_splits)
    assert any((a != b).any() for a, b in zip(near.scores, sto.scores))
    assert all((a == b).all() for a, b in zip(sto.scores, again.scores))  # same seed, same bits
    assert int(sto.counter[0]) == 6 * sum(int(s.any()) for s in sto.scored)
    assert "rng_counter" in sto.state() and "rng_counter" not in near.state()


def test_magnitude_ranking_keeps_the_largest_absolute_scores():
    s = np.array([-300, 5, 200, -1, 0, 250], np.int16)
    assert topk_mask(s, 2, magnitude=True).tolist() == [1, 0, 0, 0, 0, 1]
    assert topk_mask(s, 2).tolist() == [0, 0, 1, 0, 0, 1]
    rng = np.random.default_rng(4)
    for _ in range(50):
        s = rng.integers(-32768, 32768, rng.integers(1, 300)).astype(np.int16)
        s[rng.integers(0, len(s))] = -32768
        k = int(rng.integers(0, len(s) + 1))
        assert (topk_mask(s, k, magnitude=True) == topk_mask_sorted(s, k, magnitude=True)).all()


def test_selection_rules_stay_within_the_budget_and_pick_what_they_say():
    w = np.random.default_rng(1).integers(-127, 128, 400).astype(np.int8)
    a = np.abs(w.astype(np.int32))
    budget = int(np.floor(0.25 * w.size))
    t, largest = select_scored(w, 0.25, "largest")
    assert t == score_threshold(w, 0.25) and largest.sum() <= budget
    _, smallest = select_scored(w, 0.25, "smallest")
    assert 0 < smallest.sum() <= budget and a[smallest].max() < a[largest].min()
    r, rand = select_scored(w, 0.25, "random", seed=7, layer=2)
    assert rand.sum() == budget and (rand == (select_hash(7, 2, w.size) < r)).all()
    assert not (select_scored(w, 0.25, "random", seed=8, layer=2)[1] == rand).all()
    assert select_scored(w, 1.0, "random", seed=7)[1].all() and select_scored(w, 1.0, "smallest")[1].all()


def test_priot_s_selection_changes_the_scored_edges_only(small_qm):
    base = Priot(small_qm, frac=0.5, keep=0.5)
    for rule in ("smallest", "random"):
        other = Priot(small_qm, frac=0.5, keep=0.5, select=rule)
        assert [int(s.sum()) <= int(np.floor(0.5 * s.size)) for s in other.scored[1:]] == [True] * 2
        assert not other.scored[0].any()  # the first layer stays whole under every rule
        assert any((a != b).any() for a, b in zip(base.scored[1:], other.scored[1:]))


def test_bad_knob_values_are_one_clear_error(small_qm):
    for kw in ({"rounding": "up"}, {"ranking": "abs"}, {"select": "middle"}):
        with pytest.raises(ConfigError, match="unknown"):
            Priot(small_qm, **kw)


def test_magnitude_ranking_updates_the_magnitude_as_edge_popup(small_qm, small_splits):
    """Keep 1.0 keeps every edge under both rankings, so both see the same gradient: the signed rule moves s
    by -dS, the magnitude rule by -sign(s) * dS (0 stays 0)."""
    a = Priot(small_qm, keep=1.0, lr_shift=8)  # a step small enough that no score saturates
    b = Priot(small_qm, keep=1.0, lr_shift=8, ranking="magnitude")
    rng = np.random.default_rng(2)
    for j in (1, 2):
        signs = rng.choice([-1, 0, 1], size=a.scores[j].size).astype(np.int16)
        b.scores[j] = (a.scores[j] * signs).astype(np.int16)
    before_a, before_b = [s.copy() for s in a.scores], [s.copy() for s in b.scores]
    x, y = ref.to_input(small_splits[1].images), small_splits[1].labels
    a.step(x[0], int(y[0]))
    b.step(x[0], int(y[0]))
    for j in (1, 2):
        da = a.scores[j].astype(np.int32) - before_a[j]
        db = b.scores[j].astype(np.int32) - before_b[j]
        assert da.any() and (db == np.sign(before_b[j]) * da).all()


def test_the_variant_carries_the_knobs_a_method_has():
    """methods.variant normalises the knobs once: defaults as published, dropped where the method has none,
    a bad value refused; a non-default knob names its own firmware and header, a default adds nothing."""
    from priot import methods
    from priot.device.firmware import variant_name
    from priot.device.layout import header, make_layout
    from priot.models import tiny_cnn

    v = methods.variant("priot-s", 0.25, [1, 2], rounding="stochastic", select="random")
    assert (v.rounding, v.ranking, v.selection) == ("stochastic", "signed", "random")
    assert v.knobs == {"rounding": "stochastic", "select": "random"} and v.random_update
    assert methods.variant("priot", select="random") == methods.variant("priot")  # PRIOT scores every edge
    assert methods.variant("sgd-all", rounding="stochastic", ranking="magnitude") == methods.variant("sgd-all")
    assert methods.variant("priot-s", select="largest") == methods.variant("priot-s")
    for kw in ({"rounding": "up"}, {"ranking": "abs"}, {"select": "every"}, {"select": "middle"}):
        with pytest.raises(ConfigError, match="unknown"):
            methods.variant("priot-s", **kw)
    model, default = tiny_cnn(), methods.variant("priot", None, [1, 2])
    text, other = header(make_layout(model), default), header(make_layout(model), v)
    assert "PRIOT_SCORE_ROUND" not in text and "PRIOT_SELECT" not in text and "PRIOT_RANK" not in text
    assert "#define PRIOT_SCORE_ROUND_STOCHASTIC 1" in other and "#define PRIOT_SELECT_RANDOM 1" in other
    assert variant_name(model, default) == "priot-tiny_cnn-priot-L12"
    assert variant_name(model, v) == "priot-tiny_cnn-priot-s-p0.25-L12-stochastic-random"


def test_a_recipe_sets_the_knobs_of_its_variant_and_method(small_qm):
    from priot.recipe import Recipe

    r = Recipe.build(rounding="stochastic", ranking="magnitude", select="smallest")
    assert r.variant("priot-s").knobs == {"rounding": "stochastic", "ranking": "magnitude", "select": "smallest"}
    m = r.make_method("priot-s", small_qm)
    assert (m.rounding, m.ranking, m.select) == ("stochastic", "magnitude", "smallest") and m.variant == r.variant("priot-s")
    assert Recipe.build().variant("priot-s").knobs == {}
    with pytest.raises(ConfigError, match="selection rule 'middle'"):
        Recipe.build(select="middle")
