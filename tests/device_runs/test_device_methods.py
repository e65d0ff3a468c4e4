"""Every method on the emulated Pico stays bit-exact with the numpy model, step by step."""

import numpy as np
import pytest

from m0sim.errors import InputError
from priot import methods, ref
from priot.device.runner import Mismatch, open_device
from priot.models import Conv3x3, Dense, MaxPool2, ModelDef, ReLU

METHODS = methods.names(device=True)  # every method with a firmware variant
# Steps large enough that every rule moves weights within a few steps (NITI's mu: up to 2^mu per weight).
STEPS = {"sgd-all": 8, "sgd-last": 6, "rtn-all": 8, "rtn-last": 6, "floor-all": 8, "floor-last": 6,
         "niti-dynamic": 3, "niti-all": 4, "niti-last": 4}


def make(name, qm, **kw):
    return methods.make(name, qm, lr_shift=kw.pop("lr_shift", STEPS.get(name, 3)),
                        seed=5, keep=kw.pop("keep", 0.7), frac=0.25, init_shift=2, layers=None, **kw)


@pytest.mark.parametrize("name", METHODS)
def test_steps_are_bit_exact(rotated, name):
    qm, adapt, _ = rotated
    x = ref.to_input(adapt.images)
    method = make(name, qm)
    method.begin(2)  # a two-epoch run: NITI's mu drops after the first epoch
    dev = open_device(method)
    dev.compare("after init")
    before = {k: v.copy() for k, v in dev.device_state().items()}
    for i in range(4):
        r = dev.step(x[i], int(adapt.labels[i]))
        expected = method.predict(x[i])[0].argmax()
        method.step(x[i], int(adapt.labels[i]))
        assert r.predicted == expected
        dev.compare(f"step {i}")
        assert r.stats.cycles > r.stats.instructions > 10_000
    method.end_epoch()  # the host's learning-rate schedule, mirrored on the device
    if getattr(method, "lr_shift", None) is not None:
        dev.set_lr_shift(method.lr_shift)
    dev.step(x[5], int(adapt.labels[5]))
    method.step(x[5], int(adapt.labels[5]))
    dev.compare("after the schedule")
    after = dev.device_state()
    assert name == "none" or any((before[k] != after[k]).any() for k in after if k != "rng_counter"), \
        f"{name}: nothing trained in 5 steps, so bit-exactness was not tested"
    dev.infer(x[6])
    dev.compare_logits(x[6], "inference")


def test_priot_training_changes_masks(rotated):
    qm, adapt, _ = rotated
    x = ref.to_input(adapt.images)
    method = make("priot", qm, lr_shift=1)
    dev = open_device(method)
    before = {k: v.copy() for k, v in dev.device_state().items()}
    for i in range(3):
        dev.step(x[i], int(adapt.labels[i]))
        method.step(x[i], int(adapt.labels[i]))
    after = dev.device_state()
    assert any((before[k] != after[k]).any() for k in after if k.startswith("scores"))
    dev.compare("after 3 steps")


def test_mismatch_names_layer_index_and_values(rotated):
    qm, adapt, _ = rotated
    method = make("priot-s", qm)
    dev = open_device(method)
    method.scores[1][7] += 1  # the host drifts: validation must say where
    with pytest.raises(Mismatch, match=r"priot-s: check: first mismatch in 'scores1' \(layer 1\) at index 7: "
                                       r"expected -?\d+, device -?\d+"):
        dev.compare("check")


def test_priot_s_holds_less_state_than_priot(rotated):
    qm, _, _ = rotated
    sizes = {}
    for name in ("priot", "priot-s"):
        program = open_device(make(name, qm)).machine.program
        sizes[name] = program.symbol("priot_scores").size + program.symbol("priot_mask").size
    assert sizes["priot-s"] * 2 < sizes["priot"]


def test_model_that_does_not_fit(rotated, tmp_path):
    from priot.device.firmware import build
    wide = ModelDef("wide", (28, 28, 1), (Conv3x3(1, 64), ReLU(), MaxPool2(), Conv3x3(64, 128), ReLU(), MaxPool2(),
                                          Dense(7 * 7 * 128, 10)))
    with pytest.raises(InputError, match=r"wide with priot does not fit the Pico: SRAM needs \d+ bytes .* of 270336"):
        build(wide, methods.variant("priot", 1.0, [1, 2]), tmp_path)


@pytest.mark.parametrize("name", methods.names(device=False))
def test_host_only_methods_are_refused_with_one_line(rotated, name):
    qm, _, _ = rotated
    with pytest.raises(InputError, match=rf"^{name} runs on the host only \((not an integer method|no firmware variant)\); "
                                         r"device methods: none, "):
        open_device(methods.make(name, qm))
