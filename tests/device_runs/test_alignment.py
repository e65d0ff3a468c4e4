"""The project's kernels never make an unaligned access: a Cortex-M0+ would HardFault on one. Device runs keep
m0sim's alignment check on, its default (free: the Cortex-M0 core checks alignment as it accesses memory, see
m0sim.machine.unicorn_engine and `make bench`), so a device run that finishes bit-exact proves it."""

import pytest

from m0sim import machine
from priot.experiments.device import run_device
from priot.recipe import Recipe


@pytest.mark.parametrize("method", ["priot-s", "priot", "sgd-all", "niti-dynamic"])
def test_device_steps_are_aligned(monkeypatch, method):
    checks = []
    engine = machine.unicorn_engine
    monkeypatch.setattr(machine, "unicorn_engine", lambda alignment_faults=True: (checks.append(alignment_faults),
                                                                                   engine(alignment_faults))[1])
    report = run_device(method, Recipe.build(epochs=1, samples=3, test=2, pretrain=300, validate_every=3, seed=1),
                        echo=lambda line: None)
    assert report["summary"]["bit_exact"]
    assert checks and all(checks)  # every emulated core of the run had the check on
