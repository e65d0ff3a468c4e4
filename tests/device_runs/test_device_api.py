"""Device runs from Python, as a sweep or a notebook drives them: `Recipe.build()` then `run_device()`."""

import pytest

from priot.errors import ConfigError
from priot.experiments.device import run_device
from priot.recipe import MODEL_DEFAULTS, Recipe


def test_run_device_from_python():
    lines = []
    report = run_device("priot", Recipe.build(epochs=1, samples=6, test=4, pretrain=600, validate_every=3, seed=3),
                        echo=lines.append)
    s = report["summary"]
    assert s["bit_exact"] and s["steps"] == 6 and s["method"] == "priot"
    assert report["config"]["samples"] == 6 and report["config"]["calib"] == 300
    assert any(line.startswith("summary: priot") for line in lines)


def test_config_defaults_and_unknown_keys():
    assert Recipe.build().samples == MODEL_DEFAULTS["tiny_cnn"].samples and Recipe.build(pretrain=100).calib == 100
    vgg = Recipe.build(model="vgg11_x0.25")
    assert vgg.dataset == "fashion" and vgg.score_layers is None and 0 < vgg.frac < 0.25
    with pytest.raises(ConfigError, match="unknown recipe setting.*sampels"):
        Recipe.build(sampels=10)
    with pytest.raises(ConfigError, match="build it with Recipe.build"):
        Recipe()  # the model's defaults are filled by the one constructor
