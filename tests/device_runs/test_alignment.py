"""The project's kernels never make an unaligned access: a Cortex-M0+ would HardFault on one, and device runs
leave m0sim's (costly) alignment check off for speed, so it is proved here with the check on."""

import functools

import pytest

from m0sim.machine import Machine
from priot.device import runner
from priot.experiments.device import run_device
from priot.recipe import Recipe


@pytest.mark.parametrize("method", ["priot-s", "priot", "sgd-all", "niti-dynamic"])
def test_device_steps_are_aligned(monkeypatch, method):
    monkeypatch.setattr(runner, "Machine", functools.partial(Machine, alignment_faults=True))
    report = run_device(method, Recipe.build(epochs=1, samples=3, test=2, pretrain=300, validate_every=3, seed=1),
                        echo=lambda line: None)
    assert report["summary"]["bit_exact"]
