"""Runs on data given by --data-path: the JSON report is written, the backbone is keyed by the data's content (not
by how its path is spelt), and the cost table's columns never run together."""

import json
import os
import re

import numpy as np

from priot.device import macs
from priot.experiments import cost
from priot.recipe import Recipe


def write_mnist_npz(path, seed=0, n=400):
    rng = np.random.default_rng(seed)
    np.savez(path, x_train=rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), y_train=np.arange(n) % 10,
             x_test=rng.integers(0, 256, (n // 4, 28, 28), dtype=np.uint8), y_test=np.arange(n // 4) % 10)
    return path


def key_for(path, dataset="mnist"):
    return Recipe.build(dataset=dataset, data_path=path, seed=0, pretrain_epochs=1, pretrain=100).backbone_key()


def test_backbone_key_is_the_data_not_the_path_spelling(tmp_path, monkeypatch):
    write_mnist_npz(tmp_path / "mnist.npz")
    monkeypatch.chdir(tmp_path)
    relative = key_for("mnist.npz")
    absolute = key_for(str(tmp_path / "mnist.npz"))
    assert relative == absolute and relative[0]["data_path"].startswith("sha256:")
    write_mnist_npz(tmp_path / "other.npz", seed=1)
    assert key_for("other.npz")[0]["data_path"] != relative[0]["data_path"]
    built_in = key_for(None, "mnist5k")
    assert built_in[0]["data_path"] == "None"  # the shipped backbones' names stay as they are


def test_device_run_with_data_path_writes_its_json(cli, tmp_path):
    data = write_mnist_npz(tmp_path / "mnist.npz")
    out = tmp_path / "r.json"
    proc = cli("run", "none", "--dataset", "mnist", "--data-path", data, "--samples", "10", "--test", "10",
               "--pretrain", "100", "--epochs", "1", "--json", out)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert json.dumps(report).count(os.fspath(data)) >= 1


def fields(line):
    return re.split(r" {2,}", line.strip())


def test_cost_columns_never_run_together():
    row = dict(method="priot-s", step=208_089_080.0, ms_per_step=1664.7, energy_mj_per_step=59.4,
               energy_mj_per_epoch=5940.0, forward=208_089_080, backward=10 ** 9,
               selection=5, update=6, scale=7, inference=8, state_bytes=43_452, peak_ram=200_000,
               flash_bytes=1_900_000, host_seconds_per_step=1.23456, realtime_factor=0.01)
    head, line = cost.table([row]).splitlines()
    assert len(fields(line)) == len(fields(head)) == 16
    assert fields(line)[2] == "1664.7" and fields(line)[5] == "208,089,080"  # ran together as "1664.7208,089,080" once
    head, line = macs.table([dict(layer="conv1", masked=True, macs=10_616_832, cycles=123_456_789,
                                  cycles_per_mac=11.6, inner_cycles_per_product=None)]).splitlines()
    assert fields(line) == ["conv1", "yes", "10,616,832", "123,456,789", "11.60", "None"]
