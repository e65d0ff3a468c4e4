"""Fixtures for the on-device training tests: a small backbone and rotated digits, built once per session."""

import pytest

from priot.recipe import Recipe

RECIPE = Recipe.build(seed=3, epochs=1, samples=40, test=20, pretrain=600, calib=200, pretrain_epochs=2,
                      dataset="mnist5k")


@pytest.fixture(scope="session")
def rotated():
    """(quantized backbone, rotated training split, rotated test split)."""
    return RECIPE.prepare()
