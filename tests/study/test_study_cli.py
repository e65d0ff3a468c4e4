"""`m0sim run paper-table` bad input: one line, exit 2, nothing started; and a real Dask scheduler (slow)."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from priot.experiments.study import engine
from priot.experiments.study.cli import experiment


@pytest.fixture
def no_cluster(monkeypatch):
    """Bad input must be refused before any cluster starts."""
    def refuse(*a, **k):
        raise AssertionError("a cluster was started for bad input")
    monkeypatch.setattr(engine, "connect", refuse)


@pytest.mark.parametrize("args, msg", [
    (["--methods", "adam"], "unknown method 'adam'"),
    (["--families", "heuristic"], "unknown method family 'heuristic'"),
    (["--methods", "sgd-all", "--families", "priot"], "the grid is empty"),
    (["--angles", ","], "the grid is empty"),
    (["--angles", "north"], "--angles: 'north' is neither a number"),
    (["--model", "tiny_cnn", "--widths", "0"], "--widths: a width factor must be positive"),
    (["--seeds", "0"], "seeds must be at least 1"),
    (["--samples", "150"], "validation split of 200 digits needs at least 210 adaptation digits"),
])
def test_bad_selection_one_line_exit_2(args, msg, tmp_path, no_cluster):
    res = CliRunner().invoke(experiment, args + ["--out", str(tmp_path / "r")])
    assert res.exit_code == 2, res.output
    assert msg in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_results_dir_not_writable_is_refused_before_any_work(tmp_path, no_cluster):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    res = CliRunner().invoke(experiment, ["--quick", "--out", str(blocker / "report")])
    assert res.exit_code == 2
    assert f"results directory {blocker / 'report'} is not writable" in res.output
    assert len(res.output.strip().splitlines()) == 1


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_scheduler_that_does_not_answer_is_one_line_exit_2(tmp_path):
    addr = f"127.0.0.1:{_free_port()}"  # nothing listens there
    res = CliRunner().invoke(experiment, ["--quick", "--scheduler", addr, "--out", str(tmp_path / "r")])
    assert res.exit_code == 2, res.output
    assert f"Dask scheduler {addr} does not answer within {engine.CONNECT_TIMEOUT_S} s" in res.output
    assert engine.CONNECT_TIMEOUT_S <= 10 and "Traceback" not in res.output


@pytest.mark.slow
def test_real_dask_scheduler_and_worker_processes(study_cache, tiny_args, tmp_path):
    """`dask scheduler` and `dask worker` as separate processes on localhost, used through --scheduler."""
    dask = Path(sys.executable).with_name("dask")
    port = _free_port()
    env = dict(os.environ, M0SIM_CACHE=str(study_cache))
    procs = [subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen([str(dask), "worker", f"tcp://127.0.0.1:{port}", "--nthreads", "1",
                                           "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        from distributed import Client
        deadline = time.monotonic() + 120
        with Client(f"tcp://127.0.0.1:{port}", timeout=60) as c:
            while len(c.scheduler_info()["workers"]) < 2 and time.monotonic() < deadline:
                time.sleep(0.5)
        out = tmp_path / "r"
        res = CliRunner().invoke(experiment, tiny_args + ["--scheduler", f"127.0.0.1:{port}", "--out", str(out)])
        assert res.exit_code == 0, res.output
        summary = json.loads((out / "results.json").read_text())
        assert summary["engine"]["kind"] == "scheduler" and summary["engine"]["workers"] == 2
        assert summary["engine"]["address"] == f"tcp://127.0.0.1:{port}"
        assert summary["cells"]["ran"] == 48 and summary["cells"]["failed"] == 0
        pids = {json.loads(p.read_text())["worker"].split(":")[1] for p in (out / "cells").glob("*.json")}
        assert pids and str(os.getpid()) not in pids  # the cells ran in the worker processes, not here
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def test_scheduler_without_workers_is_refused(tmp_path, monkeypatch):
    from distributed import LocalCluster
    monkeypatch.setattr(engine, "WORKER_WAIT_S", 1)
    with LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as cluster:
        res = CliRunner().invoke(experiment, ["--quick", "--scheduler", cluster.scheduler_address,
                                              "--out", str(tmp_path / "r")])
    assert res.exit_code == 2, res.output
    assert "has no workers after 1 s" in res.output


def test_widths_or_a_dataset_with_both_models_is_one_line(tmp_path):
    from priot.experiments.study.cli import experiment
    for args, says in ((["--widths", "1"], "give one --model"), (["--dataset", "fashion"], "give one --model"),
                       (["--model", "resnet"], "the study knows tiny_cnn, vgg11")):
        res = CliRunner().invoke(experiment, args + ["--report-only", "--out", str(tmp_path / "r")])
        assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1 and says in res.output, res.output
