"""Confidence intervals for the study's paired differences, with no dependency beyond the standard library.

Per setting, the seeds' paired differences get a Student t-interval: mean ± t(0.975, n−1)·s/√n. The pooled
verdict over settings treats the settings as *fixed strata* (they are chosen, not sampled): its estimate is
the unweighted mean over settings of the per-setting mean differences, its standard error
√(Σ s_k²/n_k)/K from the seed variances within each setting, and its degrees of freedom the
Welch–Satterthwaite value (Σ s_k²/n_k)² / Σ (s_k²/n_k)²/(n_k−1). A setting with fewer than two seeds has no
variance and is left out of the pooled interval (its count is reported).

The t quantile is found by bisection on the t distribution's CDF, written with the regularized incomplete
beta function (Lentz's continued fraction), so non-integer Welch–Satterthwaite degrees of freedom work too.
"""

import math

CONFIDENCE = 0.95
_EPS = 1e-15
_TINY = 1e-300


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) (modified Lentz), converging for x < (a+1)/(a+b+2)."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 10_000):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + num / c
            c = c if abs(c) > _TINY else _TINY
            h *= d * c
        if abs(d * c - 1.0) < _EPS:
            return h
    raise ArithmeticError(f"incomplete beta continued fraction did not converge (a={a}, b={b}, x={x})")


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"betainc: x must lie in [0, 1], got {x}")
    if x in (0.0, 1.0):
        return x
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` (> 0, not necessarily whole) degrees of freedom."""
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom, by bisection on ``t_cdf``."""
    if not 0.0 < p < 1.0 or not df > 0:
        raise ValueError(f"t_quantile: need 0 < p < 1 and df > 0, got p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def mean_sd(values) -> tuple:
    """(mean, sample standard deviation); sd is nan for one value, both nan for none."""
    v = [float(x) for x in values]
    if not v:
        return (math.nan, math.nan)
    m = sum(v) / len(v)
    return (m, math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else math.nan)


def t_interval(values, confidence: float = CONFIDENCE) -> dict:
    """Mean and two-sided t-interval of ``values`` (the seeds of one setting): keys mean, sd, n, df, half,
    lo, hi. With one value the interval is undefined (half, lo, hi are nan)."""
    v = [float(x) for x in values]
    m, sd = mean_sd(v)
    n = len(v)
    if n < 2:
        return {"mean": m, "sd": sd, "n": n, "df": 0, "half": math.nan, "lo": math.nan, "hi": math.nan}
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * sd / math.sqrt(n)
    return {"mean": m, "sd": sd, "n": n, "df": n - 1, "half": half, "lo": m - half, "hi": m + half}


def stratified_interval(strata, confidence: float = CONFIDENCE) -> dict:
    """The fixed-strata interval of the mean over strata of each stratum's mean (module docstring).

    ``strata`` is a list of value lists (one per setting). Strata with fewer than two values are left out
    (``excluded`` counts them). Keys: mean, se, df, half, lo, hi, strata, excluded, n (values used)."""
    used = [[float(x) for x in s] for s in strata if len(s) >= 2]
    excluded = sum(1 for s in strata if len(s) < 2)
    if not used:
        return {"mean": math.nan, "se": math.nan, "df": 0.0, "half": math.nan, "lo": math.nan, "hi": math.nan,
                "strata": 0, "excluded": excluded, "n": 0}
    k = len(used)
    means, var_of_mean = [], []
    for s in used:
        m, sd = mean_sd(s)
        means.append(m)
        var_of_mean.append(sd * sd / len(s))
    mean = sum(means) / k
    total = sum(var_of_mean)
    se = math.sqrt(total) / k
    denom = sum(v * v / (len(s) - 1) for v, s in zip(var_of_mean, used))
    if denom == 0.0:  # every stratum without spread: the interval is the point
        df, half = math.inf, 0.0
    else:
        df = total * total / denom
        half = t_quantile(0.5 + confidence / 2.0, df) * se
    return {"mean": mean, "se": se, "df": df, "half": half, "lo": mean - half, "hi": mean + half, "strata": k,
            "excluded": excluded, "n": sum(len(s) for s in used)}
