"""The study on Dask: a tiny grid end to end on a LocalCluster of 2 processes, resume, failing cells."""

import json
import logging
import time

import pytest
from click.testing import CliRunner
from distributed import Client, LocalCluster

from priot import methods
from priot.errors import ConfigError
from priot.experiments.study import engine, grid, report
from priot.experiments.study.cli import experiment


@pytest.fixture(scope="module")
def local_cluster(study_cache):
    """The default engine: a LocalCluster of 2 single-threaded worker processes (started once for the module;
    the runs below reach it through --scheduler)."""
    eng = engine.connect(None, 2)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def tiny_run(local_cluster, tiny_args, tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    res = CliRunner().invoke(experiment, tiny_args + ["--scheduler", local_cluster.info["address"], "--out", str(out)])
    return out, res


def test_default_engine_is_a_local_cluster_of_single_threaded_processes(local_cluster):
    info = local_cluster.info
    assert (info["kind"], info["workers"], info["threads"]) == ("LocalCluster", 2, 2)
    assert all(w.get("nanny") for w in local_cluster.client.scheduler_info()["workers"].values())  # processes


def test_tiny_study_on_two_worker_processes_writes_the_report(tiny_run):
    out, res = tiny_run
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "results.json").read_text())
    assert summary["engine"]["kind"] == "scheduler" and summary["engine"]["workers"] == 2
    assert summary["engine"]["wall_seconds"] > 0
    # 2 tuned methods x (10 + 11) steps on each of 2 seeds, then 3 methods x 2 seeds
    assert summary["cells"] == {**summary["cells"], "total": 48, "ran": 48, "skipped": 0, "failed": 0}
    workers = {json.loads(p.read_text())["worker"] for p in (out / "cells").glob("*.json")}
    assert len(workers) == 2  # both processes did work
    s = summary["settings"][0]
    assert set(s["methods"]) == {"none", "sgd-last", "priot-s"}
    assert set(s["methods"]["priot-s"]["seeds"]) == {"0", "1"}
    assert len(s["tuning_curves"]["0"]["sgd-last"]) == len(methods.spec("sgd-last").grid)
    tuned = {k: int(max(s["tuning_curves"][k]["priot-s"].items(), key=lambda kv: (kv[1], -int(kv[0])))[0])
             for k in ("0", "1")}
    assert s["methods"]["priot-s"]["steps"] == tuned  # each seed tuned on its own validation split
    finals = [json.loads(p.read_text()) for p in (out / "cells").glob("*.json")]
    chosen = [r["result"] for r in finals if r["config"]["kind"] == "final" and r["config"]["method"] == "priot-s"]
    assert len(chosen) == 2 and all(set(r["knobs"]) >= {"step", "keep", "frac"} and "step" in r["edges"]
                                    for r in chosen)
    d = s["differences"]["priot-s"]["engineered"]
    diffs = [100 * (s["methods"]["priot-s"]["seeds"][k] - s["methods"]["sgd-last"]["seeds"][k]) for k in ("0", "1")]
    assert [v["diff"] for v in d["per_seed"].values()] == pytest.approx(diffs)
    assert d["mean_pp"] == pytest.approx(sum(diffs) / 2)
    assert summary["verdicts"][0]["line"].startswith("PRIOT-S − best engineered baseline = ")
    table = (out / "table.md").read_text()
    assert "| engineered | sgd-last |" in table and "(paper: ≥ +8)" in table
    for png in ("accuracy_vs_angle", "priot_minus_baselines", "accuracy_vs_state_bytes", "tuning_curves"):
        assert (out / f"{png}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rerun_skips_finished_cells_and_reruns_only_missing_ones(tiny_run, tiny_args, local_cluster):
    out, first = tiny_run
    assert first.exit_code == 0, first.output
    files = sorted((out / "cells").glob("*.json"))
    stamps = {p: p.stat().st_mtime_ns for p in files}
    res = CliRunner().invoke(experiment, tiny_args + ["--scheduler", local_cluster.info["address"], "--out", str(out),
                                                      "--no-figures"])
    assert res.exit_code == 0, res.output
    cells = json.loads((out / "results.json").read_text())["cells"]
    assert (cells["ran"], cells["skipped"]) == (0, 48)
    assert all(p.stat().st_mtime_ns == stamps[p] for p in files)
    lost = next(p for p in files if json.loads(p.read_text())["config"]["kind"] == "tune")
    lost.unlink()
    res = CliRunner().invoke(experiment, tiny_args + ["--scheduler", local_cluster.info["address"], "--out", str(out),
                                                      "--no-figures"])
    assert res.exit_code == 0, res.output
    cells = json.loads((out / "results.json").read_text())["cells"]
    assert (cells["ran"], cells["skipped"]) == (1, 47)
    assert lost.exists()


def _flaky(qm, step, seed, **kw):
    if step == 2:
        raise ConfigError("step 2 breaks on purpose")
    return methods.make("sgd-last", qm, lr_shift=step + 4, seed=seed)


def _broken(qm, step, **kw):
    raise RuntimeError("this method never trains")


@pytest.fixture
def broken_methods():
    grid8 = tuple(range(methods.GRID_POINTS))
    for name, build in (("flaky", _flaky), ("broken", _broken)):
        methods.register(methods.MethodSpec(name, "engineered", build, grid8, 3, device=False))
    yield
    for name in ("flaky", "broken"):
        methods.REGISTRY.pop(name)


def test_failing_cells_are_kept_and_reported_while_the_others_finish(study_cache, tmp_path, broken_methods):
    study = grid.restrict(grid.preset("default", 1), names=["none", "flaky", "broken"], angles=[45.0], samples=40,
                          test=40, pretrain=200, epochs=1, val=10)
    cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0",
                           silence_logs=logging.ERROR)  # threads: the workers see the methods registered here
    eng = engine.Engine(Client(cluster), cluster, {"kind": "test", "workers": 1})
    try:
        outcome = engine.run_study(study, eng, tmp_path, echo=lambda s: None)
    finally:
        eng.close()
    failed = {(r["config"]["kind"], r["config"]["method"], r["config"]["step"]): r["error"] for r in outcome.failed}
    assert failed[("tune", "flaky", 2)] == "ConfigError: step 2 breaks on purpose"
    assert all(("tune", "broken", s) in failed for s in range(8))
    assert "no tuning run of broken finished" in failed[("final", "broken", None)]
    ok = [r for r in outcome.records.values() if r["status"] == "ok"]
    assert {r["config"]["method"] for r in ok} == {"none", "flaky"} and len(ok) == 7 + 2
    for r in outcome.failed:
        if r["config"]["kind"] == "tune":  # the file of every failed task holds its error
            assert json.loads((tmp_path / f"{r['key']}.json").read_text())["error"] == r["error"]
    summary = report.summarize(study, outcome, eng.info, 1.0)
    assert len(summary["failed"]) == 10 and "## Failed cells (10)" in report.table_md(summary)
