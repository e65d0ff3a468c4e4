"""The tuning procedure (successive halving per step) on a deterministic fake, edge records, and a continued
run equal to a fresh full-budget run."""

import numpy as np
import pytest

from priot import methods, train
from priot.experiments.study import cells, grid, tuning


def _fake(short_acc, full_acc):
    """start/advance/score over configs named by index: accuracy after 1 epoch, then after all of them."""
    log = []

    def start(c):
        return {"i": c["i"], "epochs": 0}

    def advance(run, epochs):
        run["epochs"] += epochs
        log.append((run["i"], epochs))

    def score(run):
        return (short_acc if run["epochs"] == 1 else full_acc)[run["i"]]

    return start, advance, score, log


def test_the_best_third_on_the_short_budget_continue_and_the_best_of_them_wins():
    short = [0.5, 0.9, 0.7, 0.9, 0.1, 0.8, 0.2]  # ties: grid order
    full = [0.99, 0.6, 0.95, 0.7, 1.0, 0.95, 0.3]
    start, advance, score, log = _fake(short, full)
    out = tuning.successive_halving([{"i": i} for i in range(7)], start, advance, score, 1, 3)
    continued = [i for i, e in log if e == 2]
    assert continued == [1, 3, 5]  # ceil(7 / 3) best on the short budget: 0.9, 0.9 (grid order), 0.8
    assert out["index"] == 5 and out["accuracy"] == 0.95  # 0 and 4 score higher at full budget but never ran it
    assert [t["full"] for t in out["trials"]] == [None, 0.6, None, 0.7, None, 0.95, None]
    assert [t["short"] for t in out["trials"]] == short


def test_full_budget_ties_go_to_grid_order_and_one_configuration_runs_straight_through():
    start, advance, score, log = _fake([0.5, 0.5, 0.5], [0.8, 0.8, 0.7])
    assert tuning.successive_halving([{"i": i} for i in range(3)], start, advance, score, 1, 3)["index"] == 0
    start, advance, score, log = _fake([0.4], [0.6])
    out = tuning.successive_halving([{"i": 0}], start, advance, score, 1, 3)
    assert (out["index"], out["accuracy"], log) == (0, 0.6, [(0, 1), (0, 2)])


def test_configurations_in_grid_order_and_edges_of_numeric_knobs():
    search = {"keep": [0.6, 0.8], "rounding": ["nearest", "stochastic"]}
    assert tuning.configurations(search) == [{"keep": 0.6, "rounding": "nearest"}, {"keep": 0.6, "rounding": "stochastic"},
                                             {"keep": 0.8, "rounding": "nearest"}, {"keep": 0.8, "rounding": "stochastic"}]
    assert tuning.configurations({}) == [{}]
    assert tuning.edges({"step": [2, 3, 4], **search, "frac": [0.25]},
                        {"step": 3, "keep": 0.8, "rounding": "nearest", "frac": 0.25}) == {"step": None, "keep": "upper"}


def _tiny(**over):
    st = grid.restrict(grid.preset("quick", 1), samples=60, test=40, pretrain=200, epochs=2, val=20, **over)
    return st, st.settings[0]


def test_a_continued_run_is_the_full_run(study_cache):
    """The halving's continuation (begin told the full length, then epoch by epoch) equals train()."""
    st, setting = _tiny()
    cell = grid.tune_cells(st, setting, 0)[-1]
    qm, adapt, test = cells.prepared(cell)
    recipe = grid.cell_recipe(cell, {"keep": 0.7})
    fit = adapt.subset(np.arange(40))
    orders = recipe.epoch_orders(len(fit))
    a = recipe.make_method("priot-s", qm, 4)
    train.train(a, fit.images, fit.labels, orders)
    b = recipe.make_method("priot-s", qm, 4)
    b.begin(len(orders))
    for order in orders:
        train.train(b, fit.images, fit.labels, [order], decay=False)
        b.end_epoch()
    assert all(np.array_equal(x, y) for x, y in zip(a.scores, b.scores))


def test_each_seed_and_setting_tunes_on_its_own_split():
    st = grid.preset("default")
    assert len(st.seeds) + st.more_seeds >= 5 and st.val >= 200
    a, b = (grid.tune_cells(st, st.settings[0], s) for s in (0, 1))
    assert [c["seed"] for c in a] == [0] * len(a) and [c["seed"] for c in b] == [1] * len(b)
    assert all(grid.tuning_source(s, st) is s for s in st.settings)
    assert [st.tuning_seed(s) for s in st.seeds] == list(st.seeds)
    final = grid.final_cell(st, st.settings[-1], 3, "priot", 6)
    assert grid.tuning_cell_of(final) in grid.tune_cells(st, st.settings[-1], 3)


@pytest.mark.parametrize("preset", ["default", "quick"])
def test_tuning_cells_search_the_registry_knobs_at_every_step(preset):
    st = grid.preset(preset)
    quick = preset == "quick"
    cs = grid.tune_cells(st, st.settings[0], 0)
    for name in st.methods:
        mine = [c for c in cs if c["method"] == name]
        s = methods.spec(name)
        steps = s.knob("step").searched(quick) if s.grid else ()
        assert [c["step"] for c in mine] == list(steps) and all(c["steps"] == list(steps) for c in mine)
        assert all(c["search"] == {k.name: list(k.searched(quick)) for k in s.knobs[1:]} for c in mine)
    keep = methods.spec("priot").knob("keep")
    assert next(c for c in cs if c["method"] == "priot")["search"]["keep"] == list(keep.quick if quick else keep.grid)


def test_final_cell_records_its_knobs_and_edges_and_reads_its_tuning(study_cache, tmp_path):
    st, setting = _tiny()
    step = methods.spec("priot").grid[0]
    final = grid.final_cell(st, setting, 0, "priot", step)
    t = cells.run_cell(grid.tuning_cell_of(final), str(tmp_path))
    assert t["status"] == "ok", t.get("error")
    assert t["result"]["configurations"] == len(tuning.configurations(final["search"]))
    assert t["result"]["continued"] == -(-t["result"]["configurations"] // tuning.RATE)
    rec = cells.run_cell(final, str(tmp_path))
    assert rec["status"] == "ok", rec.get("error")
    knobs = rec["result"]["knobs"]
    assert knobs == {"step": step, **t["result"]["knobs"]}
    assert rec["result"]["edges"]["step"] == "lower"
    assert rec["result"]["edges"]["keep"] == tuning.edges(final["search"], knobs)["keep"]
    # without its tuning file the final computes that tuning itself: the same result (as --verify re-runs it)
    assert cells.evaluate_cell(final) == rec["result"]


def test_validation_split_must_fit_in_the_adaptation_digits():
    from priot.errors import ConfigError
    with pytest.raises(ConfigError, match="validation split of 200 digits needs at least 210"):
        grid.restrict(grid.preset("quick"), samples=100)
