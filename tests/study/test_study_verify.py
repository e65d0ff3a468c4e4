"""Reproducibility: the code version in every cell key and record, and `--verify` re-running finished cells."""

import json
import logging
import shutil

import pytest
from click.testing import CliRunner
from distributed import Client, LocalCluster

from m0sim.errors import InputError
from priot.experiments.study import cells, engine, grid, version
from priot.experiments.study.cli import VERIFY_FAILED, experiment

ARGS = ["--widths", "1", "--angles", "45", "--seeds", "1", "--samples", "40", "--val", "10", "--test", "40", "--pretrain", "200",
        "--epochs", "1", "--methods", "none"]


def test_a_source_change_makes_a_new_key(tmp_path):
    roots = {}
    for pkg, rel, path in version.source_files():
        dst = tmp_path / pkg / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dst)
        roots[pkg] = tmp_path / pkg
    assert version.hash_sources(roots) == version.code_version()
    kernel = tmp_path / "priot" / "device" / "kernels" / "priot" / "topk.c"
    kernel.write_text(kernel.read_text() + "\n/* one more line */\n")
    changed = version.hash_sources(roots)
    assert changed != version.code_version()
    cell = grid.final_cell(grid.preset("quick", 1), grid.preset("quick", 1).settings[0], 0, "none", None)
    assert grid.cell_key(cell, code=changed) != grid.cell_key(cell)
    assert grid.cell_key(cell, code=version.code_version()) == grid.cell_key(cell)


def test_the_version_list_counts_core_kernels_and_the_emulator_but_not_the_cli():
    files = {f"{pkg}/{rel}" for pkg, rel, _ in version.source_files()}
    assert {"priot/intmath.py", "priot/methods/priot.py", "priot/device/kernels/priot/topk.c",
            "m0sim/machine.py", "priot/experiments/study/cells.py"} <= files
    assert "m0sim/cli.py" not in files and "priot/experiments/study/report.py" not in files
    # what the restructured code decides a cell's bits with: the recipe, the lockstep loop, m0sim's loading
    assert {"priot/recipe.py", "priot/methods/registry.py", "priot/device/lockstep.py", "m0sim/program.py",
            "m0sim/loader.py", "m0sim/registers.py", "m0sim/peripherals/ppb.py"} <= files
    assert "priot/device/__main__.py" not in files and "priot/experiments/compare.py" not in files


def _one_finished_cell(out):
    study = grid.restrict(grid.preset("quick", 1), names=["none"], angles=[45.0], samples=40, test=40, pretrain=200, val=10,
                          epochs=1)
    cell = grid.final_cell(study, study.settings[0], 0, "none", None)
    (out / "cells").mkdir(parents=True)
    rec = cells.run_cell(cell, str(out / "cells"))
    assert rec["status"] == "ok" and rec["code_version"] == version.code_version()
    return cells.result_path(out / "cells", cell)


def test_verify_passes_on_an_honest_cell_and_fails_naming_a_tampered_one(study_cache, tmp_path):
    path = _one_finished_cell(tmp_path)
    res = CliRunner().invoke(experiment, ARGS + ["--out", str(tmp_path), "--verify", "1"])
    assert res.exit_code == 0, res.output
    assert "1 cell(s) re-run, 0 differ" in res.output
    rec = json.loads(path.read_text())
    rec["result"]["accuracy"] += 0.025
    path.write_text(json.dumps(rec))
    res = CliRunner().invoke(experiment, ARGS + ["--out", str(tmp_path), "--verify", "1"])
    assert res.exit_code == VERIFY_FAILED, res.output
    assert f"cell {rec['key']} (final none" in res.output and "accuracy stored" in res.output


def test_verify_more_cells_than_finished_is_one_clear_error(study_cache, tmp_path):
    _one_finished_cell(tmp_path)
    res = CliRunner().invoke(experiment, ARGS + ["--out", str(tmp_path), "--verify", "5"])
    assert res.exit_code == 2 and "only 1 finished cell(s)" in res.output


def test_a_worker_running_other_code_is_refused(study_cache, tmp_path, monkeypatch):
    study = grid.restrict(grid.preset("quick", 1), names=["none"], angles=[45.0], samples=40, test=40, pretrain=200, val=10,
                          epochs=1)
    monkeypatch.setattr(cells, "code_version", lambda: "0123456789abcdef")  # what the worker says it runs
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0",
                           silence_logs=logging.ERROR)  # threads: the worker sees the patched version
    eng = engine.Engine(Client(cluster), cluster, {"kind": "test", "workers": 1})
    try:
        with pytest.raises(InputError, match=r"runs other code \(version 0123456789abcdef\) than this driver"):
            engine.run_study(study, eng, tmp_path, echo=lambda s: None)
    finally:
        eng.close()
