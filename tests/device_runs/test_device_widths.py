"""The tiny CNN at widths x2 and x4 on the emulated Pico: the firmware layout follows the model, steps stay
bit-exact, and a variant too large for the Pico is refused with its sizes."""

import json

import pytest

from m0sim.errors import InputError
from priot import methods, ref
from priot.device.firmware import build
from priot.device.runner import open_device
from priot.methods import variant
from priot.models import get_model
from priot.recipe import Recipe


def recipe(model) -> Recipe:
    return Recipe.build(model, seed=4, epochs=1, samples=10, test=10, pretrain=200, calib=100, pretrain_epochs=1,
                        dataset="mnist5k")


@pytest.fixture(scope="module", params=[2, 4], ids=["x2", "x4"])
def wide(request):
    model = get_model("tiny_cnn", request.param)
    return (model,) + recipe(model.name).prepare()


@pytest.mark.parametrize("name", ["niti-all", "sgd-last"])
def test_wider_models_run_bit_exact_on_the_device(wide, name):
    model, qm, adapt, _ = wide
    assert qm.model == model
    method = methods.make(name, qm, lr_shift=3 if name == "niti-all" else 6, seed=2)
    method.begin(1)
    dev = open_device(method)
    assert f"priot-{model.name}-{name}" in dev.machine.program.path.name
    trained = sum(qm.weights[j].size for j in method.trained)
    assert dev.machine.program.symbol("priot_train_w").size == trained  # the layout follows the model
    x = ref.to_input(adapt.images)
    before = dev.device_state()
    for i in range(2):
        r = dev.step(x[i], int(adapt.labels[i]))
        method.step(x[i], int(adapt.labels[i]))
        dev.compare(f"{model.name} step {i}")
    assert any((before[k] != v).any() for k, v in dev.device_state().items())
    dev.infer(x[3])
    dev.compare_logits(x[3], "inference")
    assert r.stats.cycles > 5_000_000  # at least twice the channels of x1 (about 3M cycles a step)


def test_priot_at_x6_does_not_fit_and_says_so(tmp_path):
    # x4 fits since PRIOT keeps one layer's mask at a time; x6 needs about 328 KB
    with pytest.raises(InputError, match=r"^tiny_cnn_x6 with priot does not fit the Pico: SRAM needs \d+ bytes"):
        build(get_model("tiny_cnn", 6), variant("priot", 1.0, [1, 2]), tmp_path)


def test_width_option_of_device_runs_and_compare(cli, tmp_path):
    out = tmp_path / "r.json"
    proc = cli("run", "sgd-last", "--width", "2", "--epochs", "1", "--samples", "4", "--test", "4", "--pretrain", "200",
               "--json", out)
    assert proc.returncode == 0, proc.stderr
    assert "sgd-last (tiny_cnn_x2) on the emulated Pico" in proc.stdout
    assert json.loads(out.read_text())["config"]["model"] == "tiny_cnn_x2"
    proc = cli("run", "compare", "--host", "--width", "2", "--samples", "20", "--test", "20", "--pretrain", "200",
               "--epochs", "1", "--jobs", "1", "--no-tune", "--methods", "none,niti-last")
    assert proc.returncode == 0, proc.stderr
    assert "(tiny_cnn_x2)" in proc.stdout and "niti-last" in proc.stdout
    proc = cli("run", "niti-last", "--width", "0")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "--width" in proc.stderr
