"""`m0sim run <method>` as a user runs it: the table, the JSON report, and one clear line for bad input."""

import json

import pytest


def test_run_priot_s_writes_report(cli, tmp_path):
    out = tmp_path / "report.json"
    proc = cli("run", "priot-s", "--epochs", "1", "--samples", "12", "--test", "8", "--pretrain", "600",
               "--validate-every", "4", "--json", out)
    assert proc.returncode == 0, proc.stderr
    assert "epoch 1: device accuracy" in proc.stdout and "summary: priot-s" in proc.stdout
    report = json.loads(out.read_text())
    s = report["summary"]
    assert s["bit_exact"] and s["steps"] == 12
    assert s["cycles_per_step"] > s["instructions_per_step"] > 100_000
    assert 0 < s["peak_ram"] <= 270336 and s["state_bytes"] > 0 and 0 < s["flash_bytes"] < 2 * 1024 * 1024
    assert len(report["epochs"]) == 1
    # with no --keep/--lr-shift the run uses the tuned defaults that the host comparison uses
    from priot.methods import DEFAULT_KEEP, DEFAULT_LR_SHIFT
    assert (s["keep"], s["lr_shift"]) == (DEFAULT_KEEP["priot-s"], DEFAULT_LR_SHIFT["priot-s"])


@pytest.mark.parametrize("args,fragment", [
    (["--keep", "0"], "must be in (0, 1]"),
    (["--scored-fraction", "1.5"], "must be in (0, 1]"),
    (["--angle", "400"], "400"),
    (["--samples", "9000"], "= 12300 disjoint samples, at least 1 each, and the dataset has 5000"),
    (["--epochs", "0"], "0"),
])
def test_bad_options(cli, args, fragment):
    proc = cli("run", "priot-s", *args)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and fragment in proc.stderr


def test_missing_firmware(cli, tmp_path):
    proc = cli("run", "priot", "--samples", "5", "--test", "5", "--firmware", tmp_path / "none.elf")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "none.elf not found" in proc.stderr and "leave out the firmware path" in proc.stderr


def test_stale_firmware(cli, tmp_path):
    from priot.device.firmware import build
    from priot.methods import variant
    from priot.models import tiny_cnn
    other = build(tiny_cnn(), variant("sgd-all"), tmp_path)  # a real firmware, for another method
    proc = cli("run", "priot", "--samples", "5", "--test", "5", "--pretrain", "600", "--firmware", other)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "is stale" in proc.stderr and "leave out the firmware path" in proc.stderr


def test_run_lists_methods(cli):
    out = cli("run").stdout
    from priot.methods import names
    for name in names(device=True) + ["compare"]:  # every method with a device variant has its command
        assert name in out
    assert "float-all" not in out
