"""The default backbone is shipped data: the same int8 bits on every CPU, whatever BLAS the machine has."""

import shutil
import subprocess
import sys

import pytest

from priot import backbones, quant
from priot.errors import DataError
from priot.recipe import Recipe

# The fingerprint of the int8 backbone `make run` uses (arrays' names, dtypes, shapes and bytes). It changes only
# when `python -m priot.backbones --regenerate` is run on purpose; then the README's numbers change with it.
DEFAULT_FINGERPRINT = "7168d85526efa9e8dd48289b658904958364b4e4f4a03cd3d8bbdc6745b68496"


def test_default_backbone_is_the_shipped_one(tmp_path, monkeypatch):
    monkeypatch.setenv("M0SIM_CACHE", str(tmp_path))
    qm, _, _ = Recipe.build().prepare()
    assert quant.fingerprint(qm) == DEFAULT_FINGERPRINT
    assert list(tmp_path.iterdir()) == []  # nothing pretrained, nothing cached


def test_manifest_matches_the_files():
    entries = backbones.manifest()
    assert any(e["fingerprint"] == DEFAULT_FINGERPRINT for e in entries.values())
    proc = subprocess.run([sys.executable, "-m", "priot.backbones"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.count(": ok") == len(entries), proc.stdout + proc.stderr


def test_damaged_shipped_backbone_is_one_clear_error(tmp_path, monkeypatch):
    for f in backbones.HERE.iterdir():
        if f.suffix in (".npz", ".json"):
            shutil.copy(f, tmp_path / f.name)
    monkeypatch.setattr(backbones, "HERE", tmp_path)
    monkeypatch.setattr(backbones, "MANIFEST", tmp_path / "manifest.json")
    name, entry = next(iter(backbones.manifest().items()))
    blob = (tmp_path / name).read_bytes()
    (tmp_path / name).write_bytes(blob[:-10])
    with pytest.raises(DataError, match="damaged.*--regenerate"):
        backbones.find(entry["config"])


def test_other_configs_are_not_shipped(small_qm):
    cfg = quant.full_config({"model": "tiny_cnn", "dataset": "mnist5k", "seed": 0, "epochs": 1, "n_pretrain": 300,
                             "n_calib": 100}, 1)
    assert backbones.find(cfg) is None
