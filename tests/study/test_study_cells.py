"""One cell: a pure function of its config that always leaves a whole result file (result or error)."""

import json

import pytest

from m0sim import energy
from priot.experiments.study import cells, grid


def _tiny(**over):
    st = grid.restrict(grid.preset("quick", 1), samples=40, test=40, pretrain=200, epochs=1, val=10)
    return grid.final_cell(st, st.settings[0], 0, "sgd-last", 7) | over


def test_cell_writes_its_result_under_its_config_hash_and_is_deterministic(study_cache, tmp_path):
    cell = _tiny()
    rec = cells.run_cell(cell, str(tmp_path))
    path = tmp_path / f"{grid.cell_key(cell)}.json"
    assert rec["status"] == "ok" and json.loads(path.read_text()) == rec
    assert 0 <= rec["result"]["accuracy"] <= 1 and rec["result"]["state_bytes"] > 0
    again = cells.run_cell(cell, str(tmp_path / ".."))
    assert again["result"] == rec["result"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_failing_cell_keeps_its_error_in_its_file(study_cache, tmp_path):
    cell = _tiny(step=99)  # lr_shift outside the method's range
    rec = cells.run_cell(cell, str(tmp_path))
    saved = json.loads((tmp_path / f"{grid.cell_key(cell)}.json").read_text())
    assert rec["status"] == saved["status"] == "error"
    assert "lr_shift 99" in saved["error"] and saved["config"]["step"] == 99


def test_device_cell_trains_in_lockstep_on_the_emulated_pico(study_cache, tmp_path):
    """--device: the final run on the emulated Pico beside the host model, state compared, same accuracy."""
    st = grid.restrict(grid.preset("quick", 1), samples=30, test=20, pretrain=200, epochs=2, device=True,
                      val=10)
    cell = grid.final_cell(st, st.settings[0], 0, "priot-s", 5) | {"device_every": 10}
    assert cell["device"] is True
    rec = cells.run_cell(cell, str(tmp_path))
    assert rec["status"] == "ok", rec.get("error")
    dev = rec["result"]["device"]
    assert dev["bit_exact"] and dev["accuracy"] == rec["result"]["accuracy"]
    assert dev["steps"] == 2 * 30 and dev["states_compared"] == 6 + 2 and dev["cycles_per_step"] > 0
    # the energy estimate of a step (one core busy): linear in the cycles, so the mean step's energy
    assert dev["energy_mj_per_step"] == pytest.approx(energy.of_run(dev["cycles_per_step"], 125e6).total_mj)
    assert "estimate" in dev["energy_estimate"]
    host = cells.run_cell(grid.final_cell(grid.restrict(st, device=False), st.settings[0], 0, "priot-s", 5),
                          str(tmp_path))
    assert host["result"]["accuracy"] == rec["result"]["accuracy"]


def test_methods_without_firmware_run_on_the_host_only_under_device():
    st = grid.restrict(grid.preset("quick", 1), device=True)
    assert "device" not in grid.final_cell(st, st.settings[0], 0, "float-all", 3)
