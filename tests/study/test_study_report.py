"""The report on hand-made cell records: paired differences with intervals, a missing seed marked (never
replaced by another method), the whole-network reading, the tuned knob values per method and seed, and every
tuned knob at the edge of its grid flagged (the step with ‡)."""

import pytest

from priot import methods
from priot.experiments.study import engine, grid, report, tuning

NAMES = ["none", "sgd-all", "sgd-last", "priot"]
FINAL = {"priot": [0.80, 0.82, 0.78], "sgd-last": [0.85, 0.86, None], "sgd-all": [0.70, 0.72, 0.71],
         "none": [0.5, 0.5, 0.5]}
VALIDATION_PEAK = {"sgd-last": 0.90, "sgd-all": 0.80, "priot": 0.85}  # sgd-last is engineered's best on validation


# PRIOT's chosen keep and rounding per seed, as its final cells record them: keep at the grid's top on seeds 0, 2
PRIOT_KNOBS = {0: {"keep": 0.98, "rounding": "stochastic", "ranking": "signed"},
               1: {"keep": 0.9, "rounding": "nearest", "ranking": "signed"},
               2: {"keep": 0.98, "rounding": "nearest", "ranking": "signed"}}


def _ok(cell, acc):
    return {"key": grid.cell_key(cell), "config": cell, "status": "ok", "result": {"accuracy": acc, "state_bytes": 100}}


def _final(cell, acc):
    """A final record as cells.evaluate_cell writes it: the knob values it ran and their edges."""
    rec = _ok(cell, acc)
    if cell["step"] is not None:
        knobs = {methods.STEP: cell["step"], **(PRIOT_KNOBS[cell["seed"]] if cell["method"] == "priot" else {})}
        rec["result"].update(knobs=knobs, edges=tuning.edges({methods.STEP: cell["steps"], **cell["search"]}, knobs))
    return rec


@pytest.fixture
def summary():
    study = grid.restrict(grid.preset("default", 3), names=NAMES, angles=[45.0])
    setting = study.settings[0]
    out = engine.Outcome()
    for seed in study.seeds:  # every seed tuned on its own split
        g = (setting.key, seed)
        tunes = grid.tune_cells(study, setting, seed)
        for c in tunes:
            lo = methods.spec(c["method"]).grid[0]
            peak = c["step"] == (lo if c["method"] == "priot" else lo + 3)  # priot peaks at its grid's lower edge
            out.records[grid.cell_key(c)] = _ok(c, VALIDATION_PEAK[c["method"]] - (0 if peak else 0.1))
        out.tuned[g] = engine.best_steps([out.records[grid.cell_key(c)] for c in tunes])
        for n in NAMES:
            acc = FINAL[n][seed]
            if acc is not None:
                c = grid.final_cell(study, setting, seed, n, out.tuned[g].get(n))
                out.records[grid.cell_key(c)] = _final(c, acc)
    return report.summarize(study, out, {"kind": "test", "workers": 0}, 1.0)


def test_a_missing_seed_is_marked_not_replaced(summary):
    s = summary["settings"][0]
    assert s["missing"] == {"sgd-last": ["2"]}
    d = s["differences"]["priot"]["engineered"]
    assert d["baselines"] == ["sgd-last"]            # seed 2 does not fall back to sgd-all
    assert set(d["per_seed"]) == {"0", "1"} and d["missing"] == ["seed 2: sgd-last not run"]
    assert d["n"] == 2 and d["mean_pp"] == pytest.approx(-4.5)
    assert d["ci_pp"] == pytest.approx([-4.5 - 12.7062 * 0.5, -4.5 + 12.7062 * 0.5], abs=1e-3)
    table = report.table_md(summary)
    assert "[seed 2 missing]" in table and "missing: seed 2: sgd-last not run" in table


def test_priot_against_the_best_whole_network_method(summary):
    d = summary["settings"][0]["differences"]["priot"][report.WHOLE]
    assert d["baselines"] == ["sgd-all"] and d["n"] == 3      # sgd-last trains one layer: not a member
    assert d["mean_pp"] == pytest.approx(9.0)
    assert d["ci_pp"] == pytest.approx([9 - 4.302653, 9 + 4.302653], abs=1e-5)
    line = next(v for v in summary["verdicts"] if v["priot"] == "priot" and v["family"] == report.WHOLE)
    assert line["ci_pp"] == pytest.approx(d["ci_pp"]) and line["seeds"] == 3
    assert "+9.0 [+4.7, +13.3] pp" in line["line"] and "over 3 seeds × 1 settings" in line["line"]


def test_a_step_at_the_edge_of_its_grid_is_flagged(summary):
    rows = summary["settings"][0]["methods"]
    lo = methods.spec("priot").grid[0]
    assert rows["priot"]["edge"] == {"0": "lower", "1": "lower", "2": "lower"}
    assert rows["sgd-all"]["edge"] == {}
    table = report.table_md(summary)
    assert f"({lo}‡)" in table
    assert f"priot @ tiny_cnn @ 45°: step {lo} (lower edge)" in table


def test_tuned_knobs_are_shown_and_every_knob_at_an_edge_is_flagged(summary):
    row = summary["settings"][0]["methods"]["priot"]
    lo = methods.spec("priot").grid[0]
    assert row["knobs"]["0"] == {"step": lo, "keep": 0.98, "rounding": "stochastic", "ranking": "signed"}
    assert row["knob_edges"] == {"0": {"step": "lower", "keep": "upper"}, "1": {"step": "lower"},
                                 "2": {"step": "lower", "keep": "upper"}}
    assert "knobs" not in summary["settings"][0]["methods"]["none"]  # no knobs, nothing shown
    table = report.table_md(summary)
    assert (f"| priot | seed 0: step {lo}‡, keep 0.98‡, rounding stochastic; seed 1: step {lo}‡, keep 0.9, rounding "
            f"nearest;") in table
    assert "priot @ tiny_cnn @ 45°: keep 0.98 (upper edge) of 0.7..0.98, seed(s) 0, 2" in table
    assert f"priot @ tiny_cnn @ 45°: step {lo} (lower edge) of {lo}..{methods.spec('priot').grid[-1]}, seed(s) 0, 1, 2" \
        in table
    assert "sgd-all @" not in "".join(report.edge_flags(summary))


def test_edge_of_reads_the_registry_grid():
    g = methods.spec("sgd-all").grid
    assert (report.edge_of("sgd-all", g[0]), report.edge_of("sgd-all", g[-1])) == ("lower", "upper")
    assert report.edge_of("sgd-all", g[1]) is None and report.edge_of("none", None) is None


def _family_summary(family, width, bump):
    """A one-setting summary of ``family`` where PRIOT beats sgd-last by ``bump`` on every seed."""
    study = grid.restrict(grid.preset("default", 3, family), names=["sgd-last", "priot"], widths=[width],
                          angles=[90.0])
    setting, out = study.settings[0], engine.Outcome()
    for seed in study.seeds:
        tunes = grid.tune_cells(study, setting, seed)
        for c in tunes:
            out.records[grid.cell_key(c)] = _ok(c, 0.5 + 0.01 * c["step"])
        out.tuned[(setting.key, seed)] = engine.best_steps([out.records[grid.cell_key(c)] for c in tunes])
        for n, acc in (("sgd-last", 0.6 + 0.01 * seed), ("priot", 0.6 + 0.01 * seed + bump)):
            c = grid.final_cell(study, setting, seed, n, out.tuned[(setting.key, seed)][n])
            out.records[grid.cell_key(c)] = _final(c, acc)
    return study, out


def test_two_model_families_get_their_own_verdicts_never_pooled_and_a_fits_column():
    tiny, vgg = _family_summary("tiny_cnn", 1.0, -0.05), _family_summary("vgg11", 0.125, +0.10)
    summary = report.summarize([tiny[0], vgg[0]], [tiny[1], vgg[1]], {"kind": "test", "workers": 0}, 1.0)
    lines = {(v["scope"], v["priot"], v["family"]): v for v in summary["verdicts"]}
    assert lines[("tiny_cnn", "priot", "engineered")]["mean_pp"] == pytest.approx(-5.0)
    assert lines[("vgg11", "priot", "engineered")]["mean_pp"] == pytest.approx(10.0)
    assert not [v for v in summary["verdicts"] if v["scope"] == "all settings"]  # families are not pooled
    assert [m["family"] for m in summary["study"]["models"]] == ["tiny_cnn", "vgg11"]
    assert summary["study"]["models"][1]["dataset"] == "fashion"
    table = report.table_md(summary)
    assert "## vgg11_x0.125: test accuracy" in table and "fits the Pico |" in table
    # from the fit check (priot.device.fit): PRIOT's int16 scores over every edge of VGG11 x0.125 need more than
    # the RP2040's 264 KB of SRAM, sgd-last's state fits; the tiny CNN's PRIOT fits
    vgg = next(s for s in summary["settings"] if s["family"] == "vgg11")["methods"]
    assert not any(vgg["priot"]["fits"].values()) and "of 270,336 bytes" in vgg["priot"]["fits_why"]["0"]
    assert all(vgg["sgd-last"]["fits"].values())
    assert all(next(s for s in summary["settings"] if s["family"] == "tiny_cnn")["methods"]["priot"]["fits"].values())
    assert "| priot | " in table and "| no |" in table
    assert report.fits_cell("float-all", []) == "host only"
    assert report.fits_cell("priot", [{"fits": {"0": True, "1": False}}]) == "yes in 1 of 2 runs"
    assert report.fits_cell("priot", [{"fits": {"0": False}}]) == "no"
