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

ARGS = ["--model", "tiny_cnn", "--widths", "1", "--angles", "45", "--seeds", "1", "--samples", "40", "--val", "10", "--test", "40", "--pretrain", "200",
        "--epochs", "1", "--methods", "none"]


def _copy_sources(tmp_path) -> dict:
    roots = {}
    for pkg, rel, path in version.source_files():
        dst = tmp_path / pkg / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dst)
        roots[pkg] = tmp_path / pkg
    return roots


def test_a_source_change_makes_a_new_key(tmp_path):
    roots = _copy_sources(tmp_path)
    assert version.hash_sources(roots) == version.code_version()
    assert version.hash_sources(roots, device=True) == version.code_version(device=True)
    method = tmp_path / "priot" / "methods" / "priot.py"
    method.write_text(method.read_text() + "\n# one more line\n")
    changed = version.hash_sources(roots)
    assert changed != version.code_version()
    assert version.hash_sources(roots, device=True) != version.code_version(device=True)
    cell = grid.final_cell(grid.preset("quick", 1), grid.preset("quick", 1).settings[0], 0, "none", None)
    assert grid.cell_key(cell, code=changed) != grid.cell_key(cell)
    assert grid.cell_key(cell, code=version.code_version()) == grid.cell_key(cell)


def test_emulator_and_firmware_changes_leave_host_cells_alone_but_not_device_cells(tmp_path):
    roots = _copy_sources(tmp_path)
    for rel in ("priot/device/kernels/priot/topk.c", "m0sim/machine.py"):
        f = tmp_path / rel
        f.write_text(f.read_text() + ("\n/* one more line */\n" if f.suffix == ".c" else "\n#\n"))
    assert version.hash_sources(roots) == version.code_version()
    assert version.hash_sources(roots, device=True) != version.code_version(device=True)
    study = grid.preset("quick", 1)
    host = grid.final_cell(study, study.settings[0], 0, "priot", 3)
    device = grid.final_cell(grid.restrict(study, device=True), study.settings[0], 0, "priot", 3)
    assert device.get("device") and not host.get("device")
    assert version.of_cell(host) == version.code_version()
    assert version.of_cell(device) == version.code_version(device=True)


def test_the_version_list_counts_core_kernels_and_the_emulator_but_not_the_cli():
    host = {f"{pkg}/{rel}" for pkg, rel, _ in version.source_files(device=False)}
    assert "priot/recipe.py" in host and "priot/device/fit.py" not in host and "m0sim/machine.py" not in host
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
    monkeypatch.setattr(cells, "of_cell", lambda cell: "0123456789abcdef")  # what the worker says it runs
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0",
                           silence_logs=logging.ERROR)  # threads: the worker sees the patched version
    eng = engine.Engine(Client(cluster), cluster, {"kind": "test", "workers": 1})
    try:
        with pytest.raises(InputError, match=r"runs other code \(version 0123456789abcdef\) than this driver"):
            engine.run_study(study, eng, tmp_path, echo=lambda s: None)
    finally:
        eng.close()


def test_a_cells_key_carries_its_own_backbones_fingerprint_only(monkeypatch):
    study = grid.preset("quick", 2)
    c0, c1 = (grid.final_cell(study, study.settings[0], seed, "none", None) for seed in (0, 1))
    fp0, key0, key1 = grid.backbone_fingerprint(c0), grid.cell_key(c0), grid.cell_key(c1)
    assert fp0 != "not shipped" and fp0 != grid.backbone_fingerprint(c1)
    # another fingerprint for seed 1's backbone (as if it were shipped again, other bits): only seed 1's key moves
    monkeypatch.setitem(grid._FINGERPRINTS, grid.backbone_key(c1), "0" * 64)
    assert grid.cell_key(c0) == key0 and grid.cell_key(c1) != key1
