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


def test_compare_random_angle_range(cache):
    res = CliRunner().invoke(experiment, ["--angle-range", "-30", "30", "--samples", "20", "--test", "20",
                                          "--pretrain", "100", "--epochs", "1", "--jobs", "1", "--no-tune",
                                          "--methods", "none,sgd-last"])
    assert res.exit_code == 0, res.output
    assert "angle uniform(-30.0, 30.0)" in res.output


@pytest.mark.slow
def test_compare_defaults_priot_adapts(cache):
    """The default host run at 45 degrees: every trained method outside the naive family beats no adaptation,
    and the naive floor-shift port on every layer collapses to chance (the study's finding, README)."""
    out = cache / "r.json"
    res = CliRunner().invoke(experiment, ["--angle", "45", "--json", str(out)])
    assert res.exit_code == 0, res.output
    rows = {r["method"]: r for r in json.loads(out.read_text())["results"][0]["rows"]}
    from priot.methods import names

    adapting = [m for m in rows if m != "none" and m not in names(family="naive")]
    assert adapting and all(rows[m]["after"] > rows["none"]["after"] + 0.2 for m in adapting), rows
    assert rows["floor-all"]["after"] < 0.15


@pytest.mark.parametrize("args, msg", [
    (["--methods", "adam"], "unknown method 'adam'"),
    (["--angle", "x"], "angles must be numbers"),
    (["--dataset", "fashion", "--data-path", "/nonexistent"], "file not found"),
])
def test_compare_bad_arguments_give_one_clear_error(cache, args, msg):
    res = CliRunner().invoke(experiment, args + ["--jobs", "1"])
    assert res.exit_code != 0
    # usage errors are click's; bad data is m0sim's InputError (exit 2 through the m0sim command line)
    message = res.output or f"m0sim: error: {res.exception}"
    assert msg in message and "Traceback" not in message


@pytest.mark.parametrize("dataset, noun", [("mnist5k", "digits"), ("mnist", "digits"), ("fashion", "images"),
                                           ("cifar10", "images")])
def test_the_table_names_the_data_sets_items(dataset, noun):
    """Fashion-MNIST and CIFAR-10 hold images, not digits."""
    from priot.experiments.compare import table
    head = table({"angle": 45, "model": "vgg11", "dataset": dataset, "rows": []}).splitlines()[0]
    assert head == f"angle 45: accuracy on rotated test {noun} (vgg11)"
