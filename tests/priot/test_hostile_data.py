"""Damaged data and caches on the PRIOT side: one DataError naming the file, never a traceback."""

import struct

import numpy as np
import pytest

from m0sim.errors import InputError
from priot import data, quant
from priot.errors import DataError


def idx(path, dims, payload):
    path.write_bytes(struct.pack(">HBB", 0, 8, len(dims)) + struct.pack(f">{len(dims)}I", *dims) + payload)


def test_idx_with_other_image_size(tmp_path):
    idx(tmp_path / "train-images-idx3-ubyte", (2, 32, 32), bytes(2 * 32 * 32))
    idx(tmp_path / "train-labels-idx1-ubyte", (2,), bytes(2))
    with pytest.raises(DataError, match="32x32"):
        data.load_dataset("mnist", tmp_path)


def test_npz_that_is_not_a_zip(tmp_path):
    bad = tmp_path / "mnist.npz"
    np.save(bad.with_suffix(".npy"), np.zeros(3))  # a .npy renamed .npz: np.load returns an array
    bad.with_suffix(".npy").rename(bad)
    with pytest.raises(DataError, match="not an .npz"):
        data.load_dataset("mnist", bad)


def test_npz_labels_above_nine(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=np.zeros((3, 28, 28), np.uint8), y_train=np.array([0, 12, 3]))
    with pytest.raises(DataError, match="labels outside 0..9"):
        data.load_dataset("mnist", path)


@pytest.mark.parametrize("cut", [0, 100, -50])
def test_damaged_backbone_file(small_qm, tmp_path, cut):
    path = tmp_path / "b.npz"
    quant.save(small_qm, path, {"model": "tiny_cnn"})
    blob = path.read_bytes()
    path.write_bytes(blob[:cut] if cut else b"")
    with pytest.raises(DataError, match="not a readable backbone"):
        quant.load(path)


def test_damaged_backbone_cache_is_rebuilt_with_a_notice(small_splits, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("M0SIM_CACHE", str(tmp_path))
    cfg = {"model": "tiny_cnn", "dataset": "mnist5k", "seed": 0, "epochs": 1, "n_pretrain": 300, "n_calib": 100}
    first = quant.backbone(small_splits[0], cfg, 1)
    (cached,) = tmp_path.glob("backbone-*.npz")
    good = cached.read_bytes()
    cached.write_bytes(good[: len(good) // 2])
    again = quant.backbone(small_splits[0], cfg, 1)
    assert "rebuilding" in capsys.readouterr().err
    assert all(np.array_equal(a, b) for a, b in zip(first.weights, again.weights))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([cached.name, "float-" + cached.name])  # no temporaries


@pytest.mark.parametrize("which", ["backbone", "float"])
def test_directory_at_a_backbone_cache_file_is_refused_before_pretraining(small_splits, tmp_path, monkeypatch, which):
    monkeypatch.setenv("M0SIM_CACHE", str(tmp_path))
    cfg = {"model": "tiny_cnn", "dataset": "mnist5k", "seed": 0, "epochs": 1, "n_pretrain": 300, "n_calib": 100}
    name = quant._key(quant.full_config(cfg, 1))
    (tmp_path / (name if which == "backbone" else "float-" + name)).mkdir()
    monkeypatch.setattr(quant, "_pretrain", lambda *a: pytest.fail("pretrained although the result cannot be cached"))
    with pytest.raises(InputError, match="is a directory where the backbone cache file belongs"):
        quant.backbone(small_splits[0], cfg, 1)
