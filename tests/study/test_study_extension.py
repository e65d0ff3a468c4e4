"""The study's second stage on hand-made records: a setting whose three seeds leave PRIOT's sign open gets two
more, one whose sign is settled does not, an incomplete first stage decides nothing, and the report says which
settings got more seeds."""

from dataclasses import replace

import pytest

from priot import methods
from priot.experiments.study import engine, extension, grid, report

# PRIOT − sgd-last per seed (pp): settled at 45 degrees, open at 90
DIFF = {45.0: [10.0, 11.0, 9.0, 10.0, 10.0], 90.0: [1.0, -1.0, 0.5, 2.0, 1.5]}


def _record(cell, acc):
    rec = {"key": grid.cell_key(cell), "config": cell, "status": "ok", "result": {"accuracy": acc, "state_bytes": 100}}
    if cell["step"] is not None and cell["kind"] == "final":
        rec["result"].update(knobs={methods.STEP: cell["step"]}, edges={})
    return rec


def _records(study, skip=()):
    """Every cell of ``study`` (both stages where extended) finished; ``skip``: (angle, seed) without finals."""
    out = {}
    for setting in study.settings:
        for seed in study.seeds_of(setting):
            tunes = grid.tune_cells(study, setting, seed)
            for c in tunes:
                out[grid.cell_key(c)] = _record(c, 0.5 + 0.01 * c["step"])
            if (setting.angle, seed) in skip:
                continue
            tuned = engine.best_steps([out[grid.cell_key(c)] for c in tunes])
            base = 0.6 + 0.01 * seed
            for n, acc in (("sgd-last", base), ("priot", base + DIFF[setting.angle][seed] / 100)):
                c = grid.final_cell(study, setting, seed, n, tuned[n])
                out[grid.cell_key(c)] = _record(c, acc)
    return out


def _run_from(records):
    """A stand-in for engine.run_study over finished ``records``: what it collects, and how many it 'ran'."""
    def run(study):
        out = engine.Outcome()
        for setting in study.settings:
            for seed in study.seeds_of(setting):
                tunes = grid.tune_cells(study, setting, seed)
                out.records.update({grid.cell_key(c): records[grid.cell_key(c)] for c in tunes})
                out.tuned[(setting.key, seed)] = engine.best_steps([records[grid.cell_key(c)] for c in tunes])
                for n, step in out.tuned[(setting.key, seed)].items():
                    key = grid.cell_key(grid.final_cell(study, setting, seed, n, step))
                    if key in records:
                        out.records[key] = records[key]
        seen = set(run.collected)
        out.ran = len(set(out.records) - seen)
        out.skipped = len(set(out.records) & seen)
        run.collected |= set(out.records)
        return out
    run.collected = set()
    return run


@pytest.fixture
def study():
    st = grid.restrict(grid.preset("default"), names=["sgd-last", "priot"], angles=[45.0, 90.0])
    assert st.seeds == (0, 1, 2) and st.more_seeds == 2 and st.extra_seeds == (3, 4)
    return st


def test_an_open_sign_adds_two_seeds_and_a_settled_one_does_not(study):
    at45, at90 = study.settings
    run = _run_from(_records(replace(study, extended=(at90.key,))))
    first = run(study)
    assert extension.open_signs(study, at45, first) == []
    assert extension.open_signs(study, at90, first) == ["PRIOT − engineered"]
    wider = extension.extend(study, first)
    assert wider.extended == (at90.key,)
    assert wider.seeds_of(at45) == (0, 1, 2) and wider.seeds_of(at90) == (0, 1, 2, 3, 4)
    assert grid.planned_cells(wider) - grid.planned_cells(study) == 2 * grid.planned_cells(
        grid.restrict(study, angles=[90.0])) // 3


def test_the_stages_run_one_after_the_other_and_count_once(study):
    at90 = study.settings[1]
    records = _records(replace(study, extended=(at90.key,)))
    ran, outcome = extension.run_in_stages(study, _run_from(records))
    assert ran.extended == (at90.key,)
    assert outcome.ran == len(records) and outcome.skipped == 0  # every cell once, though collected twice
    summary = report.summarize(ran, outcome, {"kind": "test", "workers": 0}, 1.0)
    by_angle = {s["angle"]: s for s in summary["settings"]}
    assert by_angle[45.0]["seeds"] == ["0", "1", "2"] and by_angle[90.0]["seeds"] == ["0", "1", "2", "3", "4"]
    d = by_angle[90.0]["differences"]["priot"]["engineered"]
    assert d["n"] == 5 and d["mean_pp"] == pytest.approx(sum(DIFF[90.0]) / 5)
    line = next(v for v in summary["verdicts"] if v["priot"] == "priot" and v["family"] == "engineered")
    assert "over 3 to 5 seeds × 2 settings" in line["line"]
    assert "3 seeds, 5 where 3 leave the sign of a headline difference open (at: tiny_cnn @ 90°)" in \
        report.table_md(summary)


def test_an_incomplete_first_stage_decides_nothing(study):
    at90 = study.settings[1]
    first = _run_from(_records(study, skip={(90.0, 2)}))(study)
    assert extension.open_signs(study, at90, first) is None
    wider = extension.extend(study, first)
    assert wider.extended == () and wider.undecided == (at90.key,)
    summary = report.summarize(wider, first, {"kind": "test", "workers": 0}, 1.0)
    assert "(at: none; not decided yet at tiny_cnn @ 90°: first stage unfinished)" in report.table_md(summary)


def test_the_naive_family_does_not_decide_and_fixed_seeds_never_extend(study):
    assert "naive" not in extension.deciding_groups()
    assert {"engineered", "published", report.WHOLE} <= set(extension.deciding_groups())
    fixed = grid.restrict(grid.preset("default", 3), names=["sgd-last", "priot"], angles=[90.0])
    first = _run_from(_records(fixed))(fixed)
    assert extension.open_signs(fixed, fixed.settings[0], first) == ["PRIOT − engineered"]
    assert extension.extend(fixed, first) is fixed  # --seeds: no second stage
