"""PRIOT's knobs (stochastic score rounding, |score| ranking, PRIOT-S's scored-edge selection) stay bit-exact
on the emulated Pico: each non-default setting is its own firmware variant, checked step by step."""

import pytest

from m0sim.loader import load_program
from priot import methods, ref
from priot.device import firmware, fit
from priot.device.runner import open_device
from priot.models import tiny_cnn

CASES = [
    ("priot", {"rounding": "stochastic"}),
    ("priot", {"ranking": "magnitude"}),
    ("priot-s", {"select": "smallest"}),
    ("priot-s", {"select": "random"}),
    ("priot-s", {"rounding": "stochastic", "ranking": "magnitude", "select": "random"}),
]


def make(qm, name, **knobs):
    return methods.make(name, qm, keep=0.7, lr_shift=3, init_shift=2, frac=0.25, seed=5, **knobs)


@pytest.mark.parametrize("name, knobs", CASES, ids=[f"{n}-{'-'.join(k.values())}" for n, k in CASES])
def test_knobs_are_bit_exact(rotated, name, knobs):
    qm, adapt, _ = rotated
    x = ref.to_input(adapt.images)
    method = make(qm, name, **knobs)
    assert method.variant.knobs == knobs  # the variant names the firmware; the method trains by the same knobs
    assert {k: getattr(method, k) for k in knobs} == {k: v for k, v in knobs.items()}
    dev = open_device(method)
    dev.compare("after init")
    before = {k: v.copy() for k, v in dev.device_state().items()}
    for i in range(4):
        r = dev.step(x[i], int(adapt.labels[i]))
        expected = method.predict(x[i])[0].argmax()
        method.step(x[i], int(adapt.labels[i]))
        assert r.predicted == expected
        dev.compare(f"step {i}")
    after = dev.device_state()
    assert any((before[k] != after[k]).any() for k in after if k.startswith("scores"))
    if knobs.get("rounding") == "stochastic":
        assert int(after["rng_counter"][0]) == 4 * sum(int(s.any()) for s in method.scored)
    dev.infer(x[6])
    dev.compare_logits(x[6], "inference")


@pytest.mark.parametrize("name, knobs", CASES, ids=[f"{n}-{'-'.join(k.values())}" for n, k in CASES])
def test_the_fit_check_counts_what_a_knob_adds(name, knobs):
    """A knob's own state (the rounding counter and base, the random rule's hash bases) is in the budget, so
    the fit check still equals what the linker allocates."""
    model, v = tiny_cnn(), methods.variant(name, 0.25, None, **knobs)
    b = fit.budget(model, v)
    fp = load_program(firmware.locate(model, v)).footprint()
    assert fp["static_ram"] == b.sram_total - b.sram["stack reserve"]
