"""The study's interval arithmetic (Student t quantile, per-setting t-interval, fixed-strata pooling) on
hand-made numbers."""

import math

import pytest

from priot.experiments.study import stats


@pytest.mark.parametrize("df, expected", [(1, 12.7062), (2, 4.3027), (4, 2.7764), (29, 2.0452), (1e9, 1.95996)])
def test_t_quantile_matches_the_table(df, expected):
    assert stats.t_quantile(0.975, df) == pytest.approx(expected, abs=1e-4)


def test_t_quantile_is_symmetric_and_inverts_the_cdf():
    assert stats.t_quantile(0.025, 4) == pytest.approx(-stats.t_quantile(0.975, 4))
    assert stats.t_cdf(stats.t_quantile(0.9, 2.5), 2.5) == pytest.approx(0.9, abs=1e-10)
    assert stats.t_cdf(1.0, 1) == pytest.approx(0.75)  # Cauchy: 1/2 + atan(1)/pi


def test_betainc_edges_and_a_closed_form():
    assert (stats.betainc(2, 3, 0.0), stats.betainc(2, 3, 1.0)) == (0.0, 1.0)
    assert stats.betainc(1, 1, 0.3) == pytest.approx(0.3)          # uniform
    assert stats.betainc(2, 1, 0.6) == pytest.approx(0.36)         # x^2
    with pytest.raises(ValueError):
        stats.t_quantile(1.0, 3)


def test_t_interval_of_three_values():
    ci = stats.t_interval([10.0, 10.0, 7.0])   # mean 9, sd sqrt(3), se 1
    assert (ci["mean"], ci["n"], ci["df"]) == (9.0, 3, 2)
    assert ci["sd"] == pytest.approx(math.sqrt(3))
    assert (ci["lo"], ci["hi"]) == pytest.approx((9 - 4.302653, 9 + 4.302653))


def test_one_value_has_no_interval():
    ci = stats.t_interval([5.0])
    assert ci["mean"] == 5.0 and math.isnan(ci["half"]) and math.isnan(ci["lo"])


def test_stratified_interval_by_hand():
    # strata means 2 and 5 (mean 3.5); s^2/n = 1/3 and 1; se = sqrt(4/3)/2;
    # Welch-Satterthwaite df = (4/3)^2 / ((1/3)^2/2 + 1^2/1) = 1.684...; the one-value stratum is left out
    ci = stats.stratified_interval([[1, 2, 3], [4, 6], [5]])
    assert (ci["mean"], ci["strata"], ci["excluded"], ci["n"]) == (3.5, 2, 1, 5)
    assert ci["se"] == pytest.approx(math.sqrt(4 / 3) / 2)
    assert ci["df"] == pytest.approx((16 / 9) / (1 / 18 + 1))
    assert ci["half"] == pytest.approx(stats.t_quantile(0.975, ci["df"]) * ci["se"])


def test_one_stratum_reduces_to_the_t_interval():
    one, t = stats.stratified_interval([[10, 10, 7]]), stats.t_interval([10, 10, 7])
    assert (one["lo"], one["hi"]) == pytest.approx((t["lo"], t["hi"]))
