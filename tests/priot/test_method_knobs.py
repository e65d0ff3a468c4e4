"""Every method's knobs are registry data: grids, defaults, the tuning budget per family, and a knob whose
value a method's class does not take yet fails loudly instead of running as the default."""

import inspect

import numpy as np
import pytest

from priot import methods
from priot.errors import ConfigError
from priot.methods import Knob, MethodSpec, Priot
from priot.recipe import Recipe


def _taken(keyword):
    """Skip until ``Priot`` takes ``keyword`` (the PRIOT knobs land in the class separately)."""
    return pytest.mark.skipif(keyword not in inspect.signature(Priot).parameters,
                              reason=f"Priot takes no {keyword!r} keyword yet")


def test_every_method_lists_its_knobs_the_step_first():
    for name, s in methods.REGISTRY.items():
        if s.grid:
            assert s.knobs[0].name == methods.STEP and s.knobs[0].grid == s.grid
            assert s.knobs[0].default == s.default_step
        else:
            assert s.knobs == () and s.configurations() == 0
    assert [k.name for k in methods.spec("priot").knobs] == ["step", "keep", "rounding", "ranking"]
    assert [k.name for k in methods.spec("priot-s").knobs] == ["step", "keep", "frac", "select", "rounding", "ranking"]
    assert methods.spec("priot-s").knob("select").grid == ("largest", "smallest", "random")
    assert methods.spec("priot").knob("rounding").grid == ("nearest", "stochastic")
    assert not methods.spec("priot").knob("ranking").tuned  # the docstring of priot.methods says why
    assert methods.spec("priot").knob("keep").default == methods.DEFAULT_KEEP["priot"]


def test_priot_alone_tries_at_least_as_many_configurations_as_any_family():
    budget = {f: methods.family_configurations(f) for f in methods.FAMILIES}
    rivals = max(v for f, v in budget.items() if f != "priot")
    assert budget == {**budget, "engineered": 16, "published": 16, "naive": 32}
    for name in methods.names(family="priot"):
        s = methods.spec(name)
        assert s.configurations() >= rivals
        searched = np.prod([len(s.searched(k)) for k in s.tuned])  # what runs with the class as it is
        assert searched >= rivals, name


def test_knob_edges_only_for_tuned_numeric_grids():
    step = Knob("step", (2, 3, 4), 3)
    assert (step.edge(2), step.edge(3), step.edge(4)) == ("lower", None, "upper")
    assert Knob("rounding", ("nearest", "stochastic"), "nearest").edge("stochastic") is None
    assert Knob("keep", (0.6, 0.9), 0.9, tuned=False).edge(0.9) is None
    assert methods.spec("priot").edges({"step": 2, "keep": 0.8, "rounding": "stochastic"}) == {"step": "lower"}
    with pytest.raises(ConfigError, match="not in its grid"):
        Knob("keep", (0.6, 0.9), 0.5)
    with pytest.raises(ConfigError, match="ascending"):
        Knob("keep", (0.9, 0.6), 0.9)


class _Plain:
    def __init__(self, qm, lr_shift=3, keep=0.5):
        self.qm, self.lr_shift, self.keep = qm, lr_shift, keep


def test_a_knob_the_class_does_not_take_fails_loudly_unless_at_its_default():
    s = MethodSpec("plain", "naive", None, (1, 2), 1, knobs=(Knob("select", ("largest", "random"), "largest"),),
                   cls=_Plain)
    assert not s.takes("select") and s.takes("keep") and s.takes(methods.STEP)
    assert s.keywords({"select": "largest"}) == {}  # the default runs: the class's own behaviour
    with pytest.raises(ConfigError, match="knob select='random' needs a _Plain that takes a 'select' keyword"):
        s.keywords({"select": "random"})
    assert s.searched(s.knob("select")) == ("largest",)  # the study holds it at its default
    with pytest.raises(ConfigError, match="has no knob 'rounding'"):
        s.knob("rounding")


def test_make_refuses_a_knob_the_method_does_not_have(small_qm):
    with pytest.raises(ConfigError, match="method sgd-all has no knob 'rounding'"):
        methods.make("sgd-all", small_qm, rounding="stochastic")
    assert methods.make("priot", small_qm, rounding="nearest", ranking="signed").keep == 0.9


def test_recipe_carries_knob_values_and_refuses_unknown_ones():
    r = Recipe.build(knobs={"select": "largest", "rounding": "nearest"})
    assert r.knobs == (("rounding", "nearest"), ("select", "largest"))
    with pytest.raises(ConfigError, match="unknown method knob 'speed'"):
        Recipe.build(knobs={"speed": 1})
    with pytest.raises(ConfigError, match="knob rounding: 'up' is not one of nearest, stochastic"):
        Recipe.build(knobs={"rounding": "up"})
    with pytest.raises(ConfigError, match="set it with the recipe's keep setting"):
        Recipe.build(knobs={"keep": 0.8})


@_taken("rounding")
def test_stochastic_rounding_reaches_the_method(small_qm):
    m = Recipe.build(knobs={"rounding": "stochastic"}).make_method("priot", small_qm)
    assert m.rounding == "stochastic"
    assert "stochastic" in methods.spec("priot").searched(methods.spec("priot").knob("rounding"))


@_taken("select")
def test_priot_s_selection_reaches_the_method_and_is_searched(small_qm):
    m = Recipe.build(knobs={"select": "random"}).make_method("priot-s", small_qm)
    assert m.select == "random"
    s = methods.spec("priot-s")
    assert s.searched(s.knob("select")) == ("largest", "smallest", "random")


@_taken("ranking")
def test_magnitude_ranking_reaches_the_method(small_qm):
    assert methods.make("priot", small_qm, ranking="magnitude").ranking == "magnitude"


def test_a_replaced_spec_keeps_its_knobs_and_refuses_a_second_step_knob():
    import dataclasses
    s = methods.spec("priot-s")
    assert dataclasses.replace(s, summary="another").knobs == s.knobs
    with pytest.raises(ConfigError, match="the step knob comes from grid and default_step"):
        dataclasses.replace(s, knobs=(Knob("step", (1, 2), 1),))
