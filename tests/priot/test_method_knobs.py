"""Every method's knobs are registry data: grids (the registry's tables of rules are their single source),
defaults, quick sub-grids, the tuning budget per family, and the knob values reach the method through the
recipe's fields."""

import numpy as np
import pytest

from priot import methods
from priot.errors import ConfigError
from priot.methods import Knob
from priot.recipe import Recipe


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
    assert methods.spec("priot-s").knob("select").grid == tuple(k for k in methods.SELECTIONS if k != "every")
    assert methods.spec("priot").knob("rounding").grid == tuple(methods.ROUNDINGS) == ("nearest", "stochastic")
    assert methods.spec("priot").knob("ranking").grid == tuple(methods.RANKINGS)
    assert not methods.spec("priot").knob("ranking").tuned  # the docstring of priot.methods says why
    assert methods.spec("priot").knob("keep").default == methods.DEFAULT_KEEP["priot"]


def test_priot_alone_tries_at_least_as_many_configurations_as_any_family():
    budget = {f: methods.family_configurations(f) for f in methods.FAMILIES}
    rivals = max(v for f, v in budget.items() if f != "priot")
    assert budget == {**budget, "engineered": 18, "published": 18, "naive": 36}
    for name in methods.names(family="priot"):
        s = methods.spec(name)
        assert s.configurations() >= rivals
        searched = np.prod([len(k.searched()) for k in s.tuned])
        assert searched == s.configurations(), name
    quick = {n: np.prod([len(k.searched(True)) for k in methods.spec(n).tuned]) for n in methods.names()
             if methods.spec(n).tuned}
    assert quick["priot"] >= max(v for n, v in quick.items() if methods.spec(n).family != "priot")


def test_priot_s_grids_reach_past_the_quick_runs_edges():
    s = methods.spec("priot-s")
    assert s.knob("keep").grid[-1] >= 0.9 and 0.8 in s.knob("keep").grid[1:-1]
    assert s.knob("frac").grid[-1] == 0.75 and 0.5 in s.knob("frac").grid[1:-1]


def test_quick_grids_are_sub_grids_and_only_for_tuned_knobs():
    s = methods.spec("priot-s")
    assert s.knob("step").searched(True) == s.grid[::2] and s.knob("step").searched() == s.grid
    assert s.knob("select").searched(True) == ("largest", "random")
    assert s.knob("ranking").searched(True) == ("signed",)  # untuned: its default alone
    with pytest.raises(ConfigError, match="quick grid"):
        Knob("keep", (0.6, 0.9), 0.9, quick=(0.7,))


def test_knob_edges_only_for_tuned_numeric_grids():
    step = Knob("step", (2, 3, 4), 3)
    assert (step.edge(2), step.edge(3), step.edge(4)) == ("lower", None, "upper")
    assert Knob("rounding", ("nearest", "stochastic"), "nearest").edge("stochastic") is None
    assert Knob("keep", (0.6, 0.9), 0.9, tuned=False).edge(0.9) is None
    assert methods.spec("priot").edges({"step": 1, "keep": 0.8, "rounding": "stochastic"}) == {"step": "lower"}
    with pytest.raises(ConfigError, match="not in its grid"):
        Knob("keep", (0.6, 0.9), 0.5)
    with pytest.raises(ConfigError, match="ascending"):
        Knob("keep", (0.9, 0.6), 0.9)


def test_stochastic_rounding_reaches_the_method(small_qm):
    m = Recipe.build(rounding="stochastic").make_method("priot", small_qm)
    assert m.rounding == "stochastic"
    assert "stochastic" in methods.spec("priot").knob("rounding").searched()


def test_priot_s_selection_reaches_the_method_and_is_searched(small_qm):
    m = Recipe.build(select="random").make_method("priot-s", small_qm)
    assert m.select == "random"
    assert methods.spec("priot-s").knob("select").searched() == ("largest", "smallest", "random")


def test_magnitude_ranking_reaches_the_method(small_qm):
    assert methods.make("priot", small_qm, ranking="magnitude").ranking == "magnitude"


def test_a_replaced_spec_keeps_its_knobs_and_refuses_a_second_step_knob():
    import dataclasses
    s = methods.spec("priot-s")
    assert dataclasses.replace(s, summary="another").knobs == s.knobs
    with pytest.raises(ConfigError, match="the step knob comes from grid and default_step"):
        dataclasses.replace(s, knobs=(Knob("step", (1, 2), 1),))
