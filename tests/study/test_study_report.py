"""The report on hand-made cell records: paired differences with intervals, a missing seed marked (never
replaced by another method), the whole-network reading, and tuned steps at the edge of their grid flagged."""

import pytest

from priot import methods
from priot.experiments.study import engine, grid, report

NAMES = ["none", "sgd-all", "sgd-last", "priot"]
FINAL = {"priot": [0.80, 0.82, 0.78], "sgd-last": [0.85, 0.86, None], "sgd-all": [0.70, 0.72, 0.71],
         "none": [0.5, 0.5, 0.5]}
VALIDATION_PEAK = {"sgd-last": 0.90, "sgd-all": 0.80, "priot": 0.85}  # sgd-last is engineered's best on validation


def _ok(cell, acc):
    return {"key": grid.cell_key(cell), "config": cell, "status": "ok", "result": {"accuracy": acc, "state_bytes": 100}}


@pytest.fixture
def summary():
    study = grid.restrict(grid.preset("quick", 3), names=NAMES, angles=[45.0])
    setting = study.settings[0]
    out = engine.Outcome()
    g = (setting.key, 0)
    tunes = grid.tune_cells(study, setting, 0)
    for c in tunes:
        lo = methods.spec(c["method"]).grid[0]
        peak = c["step"] == (lo if c["method"] == "priot" else lo + 3)  # priot peaks at its grid's lower edge
        out.records[grid.cell_key(c)] = _ok(c, VALIDATION_PEAK[c["method"]] - (0 if peak else 0.1))
    out.tuned[g] = engine.best_steps([out.records[grid.cell_key(c)] for c in tunes])
    for seed in study.seeds:
        for n in NAMES:
            acc = FINAL[n][seed]
            if acc is not None:
                c = grid.final_cell(study, setting, seed, n, out.tuned[g].get(n))
                out.records[grid.cell_key(c)] = _ok(c, acc)
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


def test_edge_of_reads_the_registry_grid():
    g = methods.spec("sgd-all").grid
    assert (report.edge_of("sgd-all", g[0]), report.edge_of("sgd-all", g[-1])) == ("lower", "upper")
    assert report.edge_of("sgd-all", g[1]) is None and report.edge_of("none", None) is None
