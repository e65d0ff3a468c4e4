"""The default backbone is shipped data: the same int8 bits on every CPU, whatever BLAS the machine has."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from priot import backbones, pretrain, quant
from priot.errors import ConfigError, DataError
from priot.models import get_model
from priot.recipe import Recipe, default_backbones

# The fingerprint of the int8 backbone `make run` uses (arrays' names, dtypes, shapes and bytes). It changes only
# when `python -m priot.backbones --regenerate` is run on purpose; then the README's numbers change with it.
DEFAULT_FINGERPRINT = "7168d85526efa9e8dd48289b658904958364b4e4f4a03cd3d8bbdc6745b68496"


def test_default_backbone_is_the_shipped_one(tmp_path, monkeypatch):
    monkeypatch.setenv("M0SIM_CACHE", str(tmp_path))
    qm, _, _ = Recipe.build().prepare()
    assert quant.fingerprint(qm) == DEFAULT_FINGERPRINT
    assert list(tmp_path.iterdir()) == []  # nothing pretrained, nothing cached


def test_tiny_cnn_cache_key_unchanged():
    """The pretraining settings VGG11 needs (learning rate, schedule, data content) stay out of the tiny CNN's key,
    so its cached and shipped backbones keep their names and bits."""
    key, rng_seed = Recipe.build().backbone_key()
    assert quant._key(quant.full_config(key, rng_seed)) == "backbone-tiny_cnn-mnist5k-s0-3d87d6e8207e.npz"


def test_vgg11_pretraining_recipe_keys_its_backbone():
    r = Recipe.build("vgg11", width=0.25)
    key = r.backbone_key()[0]
    assert (key["n_pretrain"], key["epochs"], key["lr"], key["schedule"]) == (55000, 3, 0.02, "drop-last")
    assert Recipe.build("vgg11", width=0.125).backbone_key()[0]["epochs"] == 4  # narrower: more passes to 90%
    names = {quant._key(quant.full_config(*Recipe.build("vgg11", width=0.25, **o).backbone_key()))
             for o in ({}, {"pretrain_schedule": "constant"}, {"pretrain_epochs": 2}, {"pretrain_lr": 0.01},
                       {"pretrain": 50000})}
    assert len(names) == 5


def test_unknown_pretraining_schedule_is_refused(small_splits):
    msg = "unknown pretraining schedule 'cosine' \\(have constant, drop-last\\)"
    with pytest.raises(ConfigError, match=msg):
        Recipe.build("vgg11_x0.25", pretrain_schedule="cosine")
    pre = small_splits[0]
    with pytest.raises(ConfigError, match=msg):
        pretrain.pretrain(get_model("tiny_cnn"), pre.images, pre.labels, np.random.default_rng(0), schedule="cosine")


def test_data_given_by_path_is_keyed_by_content(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
              "y_train": np.arange(40, dtype=np.uint8) % 10}
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    np.savez(tmp_path / "a" / "m.npz", **arrays)
    np.savez(tmp_path / "b" / "copy.npz", **arrays)
    arrays["x_train"][0, 0, 0] ^= 1
    np.savez(tmp_path / "b" / "other.npz", **arrays)
    monkeypatch.chdir(tmp_path)

    def key(path):
        return Recipe.build(dataset="mnist", data_path=path).backbone_key()

    assert key("a/m.npz") == key(tmp_path / "a" / "m.npz") == key("b/copy.npz")
    assert key("b/other.npz") != key("a/m.npz") and key("a/m.npz")[0]["data_path"].startswith("sha256:")


def test_every_shipped_backbone_is_a_default_and_the_tiny_cnn_ones_are_all_shipped():
    defaults = {quant._key(cfg): cfg for cfg, _ in default_backbones()}
    entries = backbones.manifest()
    assert all(defaults.get(name) == e["config"] for name, e in entries.items())
    tiny = [n for n in defaults if n.startswith("backbone-tiny_cnn")]
    assert len(tiny) == 15 and set(tiny) <= set(entries)
    assert all("sha256" in e for e in entries.values())


def _private_copy(tmp_path, monkeypatch):
    for f in backbones.HERE.iterdir():
        if f.suffix in (".npz", ".json"):
            shutil.copy(f, tmp_path / f.name)
    monkeypatch.setattr(backbones, "HERE", tmp_path)
    monkeypatch.setattr(backbones, "MANIFEST", tmp_path / "manifest.json")


def test_another_fingerprint_is_one_clear_error(tmp_path, monkeypatch):
    _private_copy(tmp_path, monkeypatch)
    entries = backbones.manifest()
    name = next(n for n, e in entries.items() if e["fingerprint"] == DEFAULT_FINGERPRINT)
    entries[name]["fingerprint"] = "0" * 64
    (tmp_path / "manifest.json").write_text(json.dumps(entries))
    with pytest.raises(DataError) as err:
        backbones.find(entries[name]["config"])
    msg = str(err.value)
    assert "\n" not in msg and "fingerprint 7168d85526ef... differs from the manifest's 000000000000..." in msg
    assert name in msg and "--regenerate" in msg


def test_a_listed_backbone_pretrained_here_is_checked(small_splits, tmp_path, monkeypatch):
    """An entry listed by fingerprint only (no file shipped) is pretrained on use and must match."""
    _private_copy(tmp_path, monkeypatch)
    monkeypatch.setenv("M0SIM_CACHE", str(tmp_path / "cache"))
    cfg = {"model": "tiny_cnn", "dataset": "mnist5k", "seed": 0, "epochs": 1, "n_pretrain": 300, "n_calib": 100}
    full = quant.full_config(cfg, 1)
    entries = backbones.manifest()
    entries[quant._key(full)] = {"config": full, "fingerprint": "f" * 64}
    (tmp_path / "manifest.json").write_text(json.dumps(entries))
    with pytest.raises(DataError, match="backbone fingerprint [0-9a-f]{12}... differs from the manifest's fffff"):
        backbones.backbone(small_splits[0], cfg, 1)
    good = quant.fingerprint(quant.backbone(small_splits[0], cfg, 1))
    entries[quant._key(full)]["fingerprint"] = good
    (tmp_path / "manifest.json").write_text(json.dumps(entries))
    assert quant.fingerprint(backbones.backbone(small_splits[0], cfg, 1)) == good


def test_manifest_matches_the_files():
    entries = backbones.manifest()
    assert any(e["fingerprint"] == DEFAULT_FINGERPRINT for e in entries.values())
    proc = subprocess.run([sys.executable, "-m", "priot.backbones"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.count(": ok") == len(entries), proc.stdout + proc.stderr


def test_damaged_shipped_backbone_is_one_clear_error(tmp_path, monkeypatch):
    _private_copy(tmp_path, monkeypatch)
    name, entry = next(iter(backbones.manifest().items()))
    blob = (tmp_path / name).read_bytes()
    (tmp_path / name).write_bytes(blob[:-10])
    with pytest.raises(DataError, match="damaged.*--regenerate"):
        backbones.find(entry["config"])


def test_other_configs_are_not_shipped(small_qm):
    cfg = quant.full_config({"model": "tiny_cnn", "dataset": "mnist5k", "seed": 0, "epochs": 1, "n_pretrain": 300,
                             "n_calib": 100}, 1)
    assert backbones.find(cfg) is None
