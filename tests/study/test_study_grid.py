"""The study's grid: presets, method/family selection, cell keys, and bad input."""

import pytest

from priot import methods
from priot.errors import ConfigError
from priot.experiments.study import grid


def test_presets_cover_the_issue_grid_and_every_registered_method():
    full, default, quick = grid.preset("full"), grid.preset("default"), grid.preset("quick")
    assert {(s.width, s.angle) for s in full.settings} == {(w, a) for w in (1, 2, 4) for a in grid.ANGLES}
    assert default.methods == quick.methods == tuple(methods.REGISTRY)
    assert (len(quick.seeds), len(default.seeds), len(grid.preset("default", 7).seeds)) == (3, 3, 7)
    # the default's second stage: 2 more seeds where 3 leave a sign open; --seeds fixes every setting's seeds
    assert (quick.more_seeds, default.more_seeds, grid.preset("default", 7).more_seeds) == (0, 2, 0)
    assert quick.settings == (grid.Setting(1.0, 90.0),) and quick.quick and not default.quick
    assert {(s.width, s.angle) for s in default.settings} == {(1.0, a) for a in grid.DEFAULT_ANGLES}
    assert all(p.val >= 200 and p.samples - p.val >= 100 for p in (full, default, quick))


def test_cell_keys_are_stable_and_differ_by_any_setting():
    st = grid.preset("quick")
    a = grid.final_cell(st, st.settings[0], 0, "priot", 7)
    assert grid.cell_key(a) == grid.cell_key(dict(reversed(list(a.items()))))
    for change in ({"seed": 1}, {"step": 8}, {"angle": 45.0}, {"samples": 201}, {"model": "tiny_cnn_x2"},
                   {"search": dict(a["search"], keep=[0.8, 0.9])}, {"halving": dict(a["halving"], rate=2)}):
        assert grid.cell_key(dict(a, **change)) != grid.cell_key(a)


def test_random_setting_draws_angles_over_a_full_turn():
    st = grid.restrict(grid.preset("quick"), angles=["random"])
    cell = grid.final_cell(st, st.settings[0], 0, "none", None)
    assert cell["angle"] is None and cell["angle_range"] == list(grid.RANDOM_RANGE)


def test_restrict_by_family_and_widths_angles():
    st = grid.restrict(grid.preset("default"), families=["priot", "naive"], widths=[1, 2], angles=[30.0, "random"])
    assert set(st.methods) == set(methods.names(family="priot") + methods.names(family="naive"))
    assert {(s.width, s.angle) for s in st.settings} == {(1, 30.0), (1, "random"), (2, 30.0), (2, "random")}


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


def test_tuned_knob_values_reach_the_recipe_fields():
    st = grid.preset("quick")
    a = grid.final_cell(st, st.settings[0], 0, "priot-s", 5)
    r = grid.cell_recipe(a, {"keep": 0.8, "frac": 0.75, "select": "smallest", "rounding": "stochastic",
                             "ranking": "signed"})
    assert (r.keep_for("priot-s"), r.frac, r.select, r.rounding, r.ranking) == (0.8, 0.75, "smallest", "stochastic",
                                                                                "signed")
    with pytest.raises(ConfigError, match="knob\\(s\\) speed have no recipe setting"):
        grid.cell_recipe(a, {"speed": 1})


def test_vgg11_presets_and_the_fit_capped_scored_fraction():
    quick, default = grid.preset("quick", family="vgg11"), grid.preset("default", family="vgg11")
    assert quick.quick and default.quick and len(default.seeds) >= 3
    assert [(s.model, s.angle) for s in default.settings] == [("vgg11_x0.125", 45.0), ("vgg11_x0.125", 90.0),
                                                              ("vgg11_x0.125", 180.0), ("vgg11_x0.25", 90.0)]
    assert default.data == "fashion" and default.pretrain_images == 55000
    # PRIOT-S's fraction is searched only up to what fits the Pico: all of the sub-grid at x0.125, the largest
    # fitting fraction alone at x0.25 (0.13 of each scored layer)
    assert grid.search("priot-s", True, "vgg11_x0.125")["frac"] == [0.25, 0.5]
    assert grid.search("priot-s", True, "vgg11_x0.25")["frac"] == [0.13]
    assert grid.search("priot-s", False, "tiny_cnn")["frac"] == [0.25, 0.5, 0.75]
    cell = grid.final_cell(default, default.settings[-1], 1, "priot-s", 3)
    assert cell["model"] == "vgg11_x0.25" and cell["dataset"] == "fashion" and cell["pretrain_schedule"] == "drop-last"
    assert cell["search"]["frac"] == [0.13]


def test_the_pretraining_recipe_is_part_of_a_cells_key_and_backbone():
    study = grid.preset("quick", 1)
    cell = grid.final_cell(study, study.settings[0], 0, "none", None)
    other = dict(cell, pretrain_lr=0.5)
    assert grid.cell_key(other) != grid.cell_key(cell) and grid.backbone_key(other) != grid.backbone_key(cell)
    with pytest.raises(ConfigError, match="--model: the study knows tiny_cnn, vgg11"):
        grid.preset("quick", family="resnet")
