"""PRIOT's knobs (stochastic score rounding, |score| ranking, PRIOT-S's scored-edge selection) stay bit-exact
on the emulated Pico: each non-default setting is its own firmware variant, checked step by step."""

import pytest

from priot import ref
from priot.device.runner import open_device, priot_knobs
from priot.methods import Priot

CASES = [
    ("priot", {"rounding": "stochastic"}),
    ("priot", {"ranking": "magnitude"}),
    ("priot-s", {"select": "smallest"}),
    ("priot-s", {"select": "random"}),
    ("priot-s", {"rounding": "stochastic", "ranking": "magnitude", "select": "random"}),
]


def make(qm, name, **knobs):
    return Priot(qm, keep=0.7, lr_shift=3, init_shift=2, frac=1.0 if name == "priot" else 0.25, seed=5, **knobs)


@pytest.mark.parametrize("name, knobs", CASES, ids=[f"{n}-{'-'.join(k.values())}" for n, k in CASES])
def test_knobs_are_bit_exact(rotated, name, knobs):
    qm, adapt, _ = rotated
    x = ref.to_input(adapt.images)
    method = make(qm, name, **knobs)
    assert priot_knobs(method) == knobs
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
