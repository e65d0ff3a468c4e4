"""`m0sim run cost`: the per-phase cost table and the cycles-per-MAC table, from the counters."""

import json

import pytest

from m0sim import energy, memmap
from m0sim.errors import InputError
from priot import methods
from priot.device import macs
from priot.models import Dense, ModelDef
from priot.recipe import model_defaults


def test_cost_table_and_mac_loops(cli, tmp_path):
    out = tmp_path / "cost.json"
    proc = cli("run", "cost", "--steps", "1", "--warmup", "1", "--json", out)
    assert proc.returncode == 0, proc.stderr
    assert "cycles/step" in proc.stdout and "cycles/MAC" in proc.stdout
    assert "mJ/step*" in proc.stdout and "mJ/epoch*" in proc.stdout and "* energy at DVDD" in proc.stdout
    assert "estimate from the RP2040 datasheet" in proc.stdout
    assert energy.describe() in proc.stdout and "Popcorn" in energy.describe()  # the model, its sources
    report = json.loads(out.read_text())
    rows = {r["method"]: r for r in report["methods"]}
    assert set(rows) == {"none", "sgd-last", "sgd-all", "niti-last", "niti-all", "niti-dynamic", "priot", "priot-s"}
    none = rows["none"]
    # no adaptation: a step is an inference (up to an XIP miss or two from the other entry point's code)
    assert abs(none["step"] - none["inference"]) <= 2 * 50 and none["selection"] == 0
    for name, r in rows.items():
        # the energy column: one core busy for the step's cycles (one measured step: its own cycles)
        assert r["energy_mj_per_step"] == pytest.approx(energy.of_run(int(r["step"]), memmap.CLOCK_HZ).total_mj)
        assert r["steps_per_epoch"] == model_defaults("tiny_cnn").samples
        assert r["energy_mj_per_epoch"] == pytest.approx(r["energy_mj_per_step"] * r["steps_per_epoch"])
        assert "estimate" in r["energy_estimate"]
        assert 0 < r["peak_ram"] <= 264 * 1024 and 0 < r["flash_bytes"] <= 2 * 1024 * 1024
        if name != "none":  # last-layer methods back-propagate through the dense layer only: the cheapest steps
            last = methods.spec(name).layers == "last"
            assert r["step"] > r["inference"] + (100_000 if last else 300_000) and r["update"] > 50_000
    # only PRIOT selects; PRIOT-S selects over a quarter of the edges and keeps a quarter of the state
    assert rows["priot"]["selection"] > rows["priot-s"]["selection"] > 0
    assert all(rows[n]["selection"] == 0 for n in ("sgd-all", "sgd-last", "niti-all", "niti-dynamic"))
    assert rows["priot-s"]["state_bytes"] * 3 < rows["priot"]["state_bytes"]
    # the dynamic-scale reference pays for its maxima; the static methods do not
    assert rows["niti-dynamic"]["scale"] > 0 and rows["sgd-all"]["scale"] == 0
    # NITI's published update searches each layer's largest gradient (a recomputing first pass for the convs)
    assert rows["niti-all"]["scale"] > 0 and rows["niti-all"]["update"] > rows["sgd-all"]["update"]
    macs = report["mac_loops"]
    assert [m["layer"] for m in macs[::2]] == ["conv3x3 28x28x1->8", "conv3x3 14x14x8->16", "dense 784->10"]
    dense = macs[4]
    assert dense["inner_products"] == 10 * 784 and dense["inner_cycles_per_product"] < 6.0
    assert all(m["cycles_per_mac"] > m["inner_cycles_per_product"] for m in macs)


def test_mac_harness_refuses_a_layer_larger_than_its_buffers():
    big = ModelDef("big", (1, 1, 20000), (Dense(20000, 10),))
    with pytest.raises(InputError, match=r"does not fit the harness buffers \(mac_x needs 20000 bytes"):
        macs.measure(big)
