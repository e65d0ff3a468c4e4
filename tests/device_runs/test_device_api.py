"""Device runs from Python, as a sweep or a notebook drives them: `config()` then `run_device()`."""

import pytest

from priot.errors import ConfigError
from priot.experiments.compare import MODEL_DEFAULTS
from priot.experiments.device import DEFAULTS, config, run_device


def test_run_device_from_python():
    lines = []
    report = run_device("priot", config(epochs=1, samples=6, test=4, pretrain=600, validate_every=3, seed=3),
                        echo=lines.append)
    s = report["summary"]
    assert s["bit_exact"] and s["steps"] == 6 and s["method"] == "priot"
    assert report["config"]["samples"] == 6 and report["config"]["calib"] == 300
    assert any(line.startswith("summary: priot") for line in lines)


def test_config_defaults_and_unknown_keys():
    assert DEFAULTS["samples"] is None  # the model's own default fills it
    assert config()["samples"] == MODEL_DEFAULTS["tiny_cnn"]["samples"] and config(pretrain=100)["calib"] == 100
    vgg = config(model="vgg11_x0.25")
    assert vgg["dataset"] == "fashion" and vgg["score_layers"] is None and 0 < vgg["frac"] < 0.25
    with pytest.raises(ConfigError, match="unknown device-run setting.*sampels"):
        config(sampels=10)
