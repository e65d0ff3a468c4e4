"""The study's grid: presets, method/family selection, cell keys, and bad input."""

import pytest

from priot import methods
from priot.errors import ConfigError
from priot.experiments.study import grid


def test_presets_cover_the_issue_grid_and_every_registered_method():
    full, default, quick = grid.preset("full"), grid.preset("default"), grid.preset("quick")
    assert {(s.width, s.angle) for s in full.settings} == {(w, a) for w in (1, 2, 4) for a in grid.ANGLES}
    assert full.tune_every_seed and not default.tune_every_seed
    assert default.methods == quick.methods == tuple(methods.REGISTRY)
    assert len(quick.seeds) == len(default.seeds) == 3
    assert {s.width for s in quick.settings} == {1.0} and len(quick.settings) == 2
    wide = [s for s in default.settings if s.width != 1]
    assert wide and all(s.tune_from == (1.0, 90.0) for s in wide)


def test_tuning_cells_use_each_methods_registry_grid_at_the_same_density():
    st = grid.preset("quick")
    cells = grid.tune_cells(st, st.settings[0], 0)
    for name in st.methods:
        steps = [c["step"] for c in cells if c["method"] == name]
        assert steps == list(methods.spec(name).grid)
        assert len(steps) in (0, methods.GRID_POINTS)


def test_cell_keys_are_stable_and_differ_by_any_setting():
    st = grid.preset("quick")
    a = grid.final_cell(st, st.settings[0], 0, "priot", 7)
    assert grid.cell_key(a) == grid.cell_key(dict(reversed(list(a.items()))))
    for change in ({"seed": 1}, {"step": 8}, {"angle": 90.0}, {"samples": 201}, {"model": "tiny_cnn_x2"}):
        assert grid.cell_key(dict(a, **change)) != grid.cell_key(a)


def test_random_setting_draws_angles_over_a_full_turn():
    st = grid.restrict(grid.preset("quick"), angles=["random"])
    cell = grid.final_cell(st, st.settings[0], 0, "none", None)
    assert cell["angle"] is None and cell["angle_range"] == list(grid.RANDOM_RANGE)


def test_default_reuses_first_seed_tuning_and_full_tunes_every_seed():
    d, f = grid.preset("default"), grid.preset("full")
    assert [d.tuning_seed(s) for s in d.seeds] == [0, 0, 0]
    assert [f.tuning_seed(s) for s in f.seeds] == [0, 1, 2]
    x4 = next(s for s in d.settings if s.width == 4)
    assert grid.tuning_source(x4, d).key == (1.0, 90.0)


def test_restrict_by_family_and_widths_angles():
    st = grid.restrict(grid.preset("default"), families=["priot", "naive"], widths=[1, 2], angles=[30.0, "random"])
    assert set(st.methods) == set(methods.names(family="priot") + methods.names(family="naive"))
    assert {(s.width, s.angle) for s in st.settings} == {(1, 30.0), (1, "random"), (2, 30.0), (2, "random")}
    assert all(s.tune_from is None for s in st.settings)


@pytest.mark.parametrize("kwargs, msg", [
    ({"names": ["adam"]}, "unknown method 'adam'"),
    ({"families": ["heuristic"]}, "unknown method family 'heuristic'"),
    ({"names": ["sgd-all"], "families": ["priot"]}, "the grid is empty"),
    ({"angles": []}, "the grid is empty"),
])
def test_bad_selection_is_one_clear_error(kwargs, msg):
    with pytest.raises(ConfigError, match=msg):
        grid.restrict(grid.preset("quick"), **kwargs)


def test_seeds_below_one_and_unknown_preset_are_refused():
    with pytest.raises(ConfigError, match="seeds must be at least 1"):
        grid.preset("default", 0)
    with pytest.raises(ConfigError, match="unknown preset"):
        grid.preset("huge")


def test_a_cell_sets_priots_knobs_through_its_recipe():
    """PRIOT's score knobs are cell settings (defaults in every cell), keyed and passed to the cell's recipe; a
    cell written before them runs with the defaults."""
    st = grid.preset("quick")
    a = grid.final_cell(st, st.settings[0], 0, "priot-s", 5)
    assert (a["rounding"], a["ranking"], a["select"]) == ("nearest", "signed", None)
    b = dict(a, rounding="stochastic", select="random")
    assert grid.cell_key(b) != grid.cell_key(a)
    assert grid.cell_recipe(b).variant("priot-s").knobs == {"rounding": "stochastic", "select": "random"}
    old = {k: v for k, v in a.items() if k not in grid.KNOB_RECIPE}
    assert grid.cell_recipe(old) == grid.cell_recipe(a)
