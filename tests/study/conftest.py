"""A tiny study (few digits, small backbone) shared by the study tests, with its own backbone cache."""

import pytest

TINY = ["--model", "tiny_cnn", "--widths", "1", "--angles", "45", "--seeds", "2", "--samples", "40", "--val", "10", "--test", "40", "--pretrain", "200",
        "--epochs", "1", "--methods", "none,sgd-last,priot-s"]


@pytest.fixture(scope="session")
def tiny_args():
    """`m0sim run paper-table` options of the tiny study: 48 cells of a few seconds each."""
    return list(TINY)


@pytest.fixture(scope="session")
def study_cache(tmp_path_factory):
    """M0SIM_CACHE for every test here and the Dask workers they start (workers inherit the environment)."""
    path = tmp_path_factory.mktemp("study-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("M0SIM_CACHE", str(path))
    yield path
    mp.undo()
