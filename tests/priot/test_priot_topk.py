import numpy as np
import pytest

from priot.errors import ConfigError
from priot.methods.priot import score_threshold
from priot.topk import keep_count, topk_mask, topk_mask_sorted


@pytest.mark.parametrize("seed", range(6))
def test_radix_select_equals_sort_reference_with_ties(seed):
    rng = np.random.default_rng(seed)
    for _ in range(150):
        n = int(rng.integers(1, 400))
        kind = rng.integers(4)
        if kind == 0:
            s = rng.integers(-32768, 32768, n)           # full range
        elif kind == 1:
            s = rng.integers(-2, 3, n)                   # heavy ties within one low byte
        elif kind == 2:
            s = rng.integers(-3, 3, n) * 256             # ties spread over high bytes
        else:
            s = rng.choice([-32768, 32767, 0, -1], n)    # the extremes
        s = s.astype(np.int16)
        k = int(rng.integers(0, n + 1))
        got = topk_mask(s, k)
        assert got.sum() == k
        assert (got == topk_mask_sorted(s, k)).all()


def test_tie_rule_keeps_lowest_indices():
    s = np.array([5, 3, 3, 3, 7, 3], np.int16)
    assert topk_mask(s, 3).tolist() == [1, 1, 0, 0, 1, 0]
    assert topk_mask(s, 0).sum() == 0 and topk_mask(s, 9).sum() == 6


def test_topk_rejects_wrong_dtype_and_keep():
    with pytest.raises(ConfigError):
        topk_mask(np.array([1, 2], np.int32), 1)
    with pytest.raises(ConfigError):
        keep_count(10, 1.5)
    assert keep_count(10, 0.25) == 3 and keep_count(9064, 0.7) == 6345


def test_priot_s_threshold_rule():
    w = np.array([1, -1, 2, -2, 2, 3, -3, 5, 0, 7], np.int8)
    # counts of |w| >= T: T=3 -> 4, T=4 -> 2; budget floor(0.3 * 10) = 3 -> T = 4
    assert score_threshold(w, 0.3) == 4
    assert score_threshold(w, 0.4) == 3
    assert score_threshold(w, 1.0) == 0
    with pytest.raises(ConfigError):
        score_threshold(w, 0.0)
