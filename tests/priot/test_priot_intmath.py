import numpy as np
import pytest

from priot.errors import ConfigError
from priot.intmath import (align, dynamic_shift, rand32, requant8, rshift_round, sat16, sat8, sat_w8,
                           sround, to_int32)


def test_rshift_round_ties_go_up_including_negatives():
    x = np.array([5, 6, 7, -5, -6, -7, 2, -2, 0, 3, -3])
    # /4 : 1.25 1.5 1.75 -1.25 -1.5 -1.75 0.5 -0.5 0 0.75 -0.75
    assert rshift_round(x, 2).tolist() == [1, 2, 2, -1, -1, -2, 1, 0, 0, 1, -1]


def test_rshift_round_zero_shift_and_bad_shift():
    assert rshift_round(np.array([-3, 3]), 0).tolist() == [-3, 3]
    with pytest.raises(ConfigError):
        rshift_round(np.array([1]), -1)


def test_requant8_saturates_both_ends():
    acc = np.array([2 ** 30, -(2 ** 30), 127 * 256 + 127, 127 * 256 + 128, -128 * 256 - 128, -128 * 256 - 129])
    assert requant8(acc, 8).tolist() == [127, -128, 127, 127, -128, -128]
    assert requant8(acc, 8).dtype == np.int8


def test_saturation_ranges():
    v = np.array([-40000, -129, -128, -127, 127, 128, 40000])
    assert sat8(v).tolist() == [-128, -128, -128, -127, 127, 127, 127]
    assert sat_w8(v).tolist() == [-127, -127, -127, -127, 127, 127, 127]
    assert sat16(v).tolist() == [-32768, -129, -128, -127, 127, 128, 32767]


def test_to_int32_rejects_overflow_and_floats():
    assert to_int32(np.array([2 ** 31 - 1, -(2 ** 31)], dtype=np.int64)).dtype == np.int32
    with pytest.raises(ConfigError):
        to_int32(np.array([2 ** 31], dtype=np.int64))
    with pytest.raises(ConfigError):
        to_int32(np.array([1.0]))


def test_dynamic_shift_and_align():
    assert dynamic_shift(np.array([127, -3])) == 0
    assert dynamic_shift(np.array([128])) == 1
    assert dynamic_shift(np.array([-1000])) == 3  # 1000 < 1024 = 2^(7+3)
    assert align(np.array([3, -3]), 2).tolist() == [12, -12]
    assert align(np.array([6, -6]), -2).tolist() == [2, -1]


def test_rand32_matches_reference_hash():
    # lowbias32(0) == 0, and lowbias32(1) computed by hand with 32-bit wrap
    def lowbias32(x):
        x ^= x >> 16
        x = (x * 0x7FEB352D) & 0xFFFFFFFF
        x ^= x >> 15
        x = (x * 0x846CA68B) & 0xFFFFFFFF
        return x ^ (x >> 16)
    got = rand32(7, 3, 4)
    base = lowbias32(7 ^ 3)
    assert got.tolist() == [lowbias32((base + i) & 0xFFFFFFFF) for i in range(4)]


def test_sround_is_deterministic_unbiased_and_bounded():
    x = np.full(20000, 5)  # 5/4 = 1.25
    a, b = sround(x, 2, 1, 0), sround(x, 2, 1, 0)
    assert (a == b).all()
    assert set(np.unique(a).tolist()) == {1, 2}
    assert abs(a.mean() - 1.25) < 0.02
    assert not (sround(x, 2, 1, 1) == a).all()  # a new counter gives new bits
    neg = sround(np.full(20000, -5), 2, 1, 0)
    assert set(np.unique(neg).tolist()) == {-2, -1} and abs(neg.mean() + 1.25) < 0.02
    assert sround(np.array([12, -12]), 2, 1, 0).tolist() == [3, -3]  # exact values are not perturbed
