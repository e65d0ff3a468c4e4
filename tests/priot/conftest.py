"""Shared fixtures for the priot tests: a small quantized backbone built once per session."""

import numpy as np
import pytest

from priot import data, quant, rotate


@pytest.fixture(scope="session")
def mnist5k():
    return data.load_dataset("mnist5k")


@pytest.fixture(scope="session")
def small_splits(mnist5k):
    """300 upright pretraining digits, 60 rotated training, 60 rotated test (45 degrees)."""
    return rotate.make_splits(mnist5k, 300, 60, 60, np.random.default_rng(0), angle=45)


@pytest.fixture(scope="session")
def small_qm(small_splits, tmp_path_factory):
    """Tiny CNN pretrained 1 epoch on 300 digits, quantized (cache in a temporary directory)."""
    pre = small_splits[0]
    mp = pytest.MonkeyPatch()
    mp.setenv("M0SIM_CACHE", str(tmp_path_factory.mktemp("cache")))
    qm = quant.backbone(pre, {"model": "tiny_cnn", "dataset": "mnist5k", "seed": 0, "epochs": 1,
                              "n_pretrain": 300, "n_calib": 100}, 1)
    mp.undo()
    return qm
