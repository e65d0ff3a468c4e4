import json

import pytest
from click.testing import CliRunner

from priot.experiments.compare import experiment


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("M0SIM_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_compare_small_run_writes_table_and_json(cache):
    out = cache / "r.json"
    res = CliRunner().invoke(experiment, ["--host", "--angle", "30", "--samples", "40", "--test", "40",
                                          "--pretrain", "200", "--epochs", "1", "--jobs", "1", "--no-tune",
                                          "--methods", "none,priot,priot-s,sgd-last", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "angle 30.0" in res.output and "priot-s" in res.output
    rows = json.loads(out.read_text())["results"][0]["rows"]
    assert [r["method"] for r in rows] == ["none", "priot", "priot-s", "sgd-last"]
    assert rows[2]["state_bytes"] <= rows[1]["state_bytes"] / 4


@pytest.mark.parametrize("args, msg", [
    (["--methods", "adam"], "unknown method 'adam'"),
    (["--angle", "x"], "angles must be numbers"),
    (["--dataset", "fashion", "--data-path", "/nonexistent"], "file not found"),
])
def test_compare_bad_arguments_give_one_clear_error(cache, args, msg):
    res = CliRunner().invoke(experiment, args + ["--jobs", "1"])
    assert res.exit_code != 0
    assert msg in res.output and "Traceback" not in res.output
