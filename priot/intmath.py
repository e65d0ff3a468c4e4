"""The integer arithmetic rules, written once; the C kernels follow exactly these.

Rounding rule (the only one in the deterministic path): ``rshift_round(x, s)`` is
``(x + (1 << (s - 1))) >> s`` for ``s > 0`` with an *arithmetic* right shift (round half
towards +inf, so -2.5 -> -2 and 2.5 -> 3), and ``x`` unchanged for ``s == 0``. Left shifts
are never used to requantize activations. Saturation clamps to the target range
(int8 activations/errors: [-128, 127]; int8 weights: [-127, 127] (symmetric);
int16 scores: [-32768, 32767]).

Pseudo-stochastic rounding (NITI baselines only): ``sround(x, s, key)`` returns
``(x + r) >> s`` where ``r = rand32 & ((1 << s) - 1)`` and ``rand32`` is the counter-based
hash ``lowbias32(lowbias32(seed ^ counter) + index)`` (uint32 wrap-around arithmetic), with
``index`` the element's flat row-major position in the tensor and ``counter`` a per-method
uint32 incremented once per rounded tensor. This is unbiased floor(x/2^s + U) rounding,
reproducible in C with two 32x32->32 multiplies per element.

The other weight-update roundings the baselines compare (priot/SPEC.md, "Baselines"):
``floor_shift`` (a plain arithmetic ``x >> s``, what a first C port writes: biased towards -inf),
``psto_shift`` (NITI's PstoShift: the magnitude shifted, rounded up iff the upper half of the dropped
bits exceeds the lower half) and ``niti_update`` (NITI's update: the accumulator normalised so its
maximum has ``mu`` bits, then PstoShift).

All host accumulations are computed in int64 and then checked to fit int32
(``to_int32``), so an overflow that C would silently wrap raises here instead.
"""

import numpy as np

from priot.errors import ConfigError

INT8_MIN, INT8_MAX = -128, 127
WEIGHT_MAX = 127
INT16_MIN, INT16_MAX = -32768, 32767
INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1


def to_int32(x):
    """Cast an integer array to int32, raising if any value would overflow int32 in C."""
    x = np.asarray(x)
    if x.dtype.kind not in "iu":
        raise ConfigError(f"integer path got dtype {x.dtype}")
    if x.size and (x.min() < INT32_MIN or x.max() > INT32_MAX):
        raise ConfigError(f"int32 overflow: range [{x.min()}, {x.max()}]")
    return x.astype(np.int32)


def _shift(s, hi=31):
    """A right-shift amount checked to lie in 0..hi (the rule every rounding helper here shares)."""
    s = int(s)
    if s < 0 or s > hi:
        raise ConfigError(f"shift {s} outside 0..{hi}")
    return s


def rshift_round(x, s):
    """Arithmetic right shift by ``s >= 0`` with round-half-up; result int64 (caller saturates)."""
    s = _shift(s)
    x = np.asarray(x).astype(np.int64)
    if s == 0:
        return x
    return (x + (1 << (s - 1))) >> s


def saturate(x, lo, hi, dtype):
    """Clamp to [lo, hi] and cast to ``dtype``."""
    return np.clip(np.asarray(x), lo, hi).astype(dtype)


def sat8(x):
    """Saturate to int8 [-128, 127]."""
    return saturate(x, INT8_MIN, INT8_MAX, np.int8)


def sat_w8(x):
    """Saturate to the symmetric weight range [-127, 127], int8."""
    return saturate(x, -WEIGHT_MAX, WEIGHT_MAX, np.int8)


def sat16(x):
    """Saturate to int16 [-32768, 32767]."""
    return saturate(x, INT16_MIN, INT16_MAX, np.int16)


def requant8(acc, s):
    """int32 accumulator -> int8: ``sat8(rshift_round(acc, s))``."""
    return sat8(rshift_round(acc, s))


def bitlen(m):
    """Number of bits of a non-negative integer (0 -> 0); C: 32 - clz(m)."""
    return int(m).bit_length()


def dynamic_shift(acc, bits=7):
    """NITI dynamic scaling: smallest s >= 0 with max|acc| < 2^(bits + s)."""
    m = int(np.abs(np.asarray(acc, dtype=np.int64)).max(initial=0))
    return max(0, bitlen(m) - bits)


def align(x, d):
    """Multiply by 2^d: left shift for d >= 0, ``rshift_round`` for d < 0 (int64 result)."""
    x = np.asarray(x).astype(np.int64)
    return x << d if d >= 0 else rshift_round(x, -d)


_M32 = np.uint64(0xFFFFFFFF)


def lowbias32(x):
    """Chris Wellons' lowbias32 integer hash over uint32 (C: same constants, uint32 wrap)."""
    x = np.asarray(x, dtype=np.uint64) & _M32
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & _M32
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & _M32
    x ^= x >> np.uint64(16)
    return x


def rand32(seed, counter, n):
    """``n`` pseudo-random uint32 words for rounding call ``counter``: lowbias32(lowbias32(seed ^ counter) + i)."""
    base = lowbias32(np.uint64((int(seed) ^ int(counter)) & 0xFFFFFFFF))
    return lowbias32((base + np.arange(n, dtype=np.uint64)) & _M32)


def sround(x, s, seed, counter):
    """Pseudo-stochastic rounding of ``x / 2^s`` (floor after adding ``s`` random low bits); int64."""
    s = int(s)
    if s < 0 or s > 30:
        raise ConfigError(f"stochastic shift {s} outside 0..30")
    x = np.asarray(x).astype(np.int64)
    if s == 0:
        return x
    r = rand32(seed, counter, x.size).reshape(x.shape) & np.uint64((1 << s) - 1)
    return (x + r.astype(np.int64)) >> s


def floor_shift(x, s):
    """``x >> s`` with an arithmetic shift: floor(x / 2^s), so -1 >> 3 = -1 (int64)."""
    s = _shift(s)
    return np.asarray(x).astype(np.int64) >> s


def ceil_log2(m):
    """ceil(log2(m)) of a non-negative integer, exactly (0 and 1 -> 0); C: m > 1 ? 32 - clz(m - 1) : 0.

    NITI's ``RangeEstimate`` computes this in float32 (``ceil(log2(float(m)))``); the integer form is
    the same for every m below 2^20 and exact above (float32 rounds log2(2^k + 1) down to k there).
    """
    m = int(m)
    return (m - 1).bit_length() if m > 1 else 0


def psto_shift(x, s):
    """NITI's PstoShift pseudo-stochastic rounding of ``x / 2^s`` (int64), no random numbers drawn.

    Per element: magnitude ``a = |x|``, kept ``q = a >> s``, dropped ``r = a & (2^s - 1)``, split into
    its upper ``s - s//2`` bits ``hi = r >> (s//2)`` and lower ``s//2`` bits ``lo = r & (2^(s//2) - 1)``
    (doubled when s is odd, so both halves have the same width); the result is ``sign(x) * (q + (hi > lo))``.
    Symmetric in the sign (NITI's ``input // 2**shift`` on integer tensors truncated toward zero in the
    PyTorch of its time, 1.7): -5 >> 2 gives -1 (r = 1: hi 0, lo 1, not up), 5 >> 2 gives 1.
    """
    s = _shift(s)
    x = np.asarray(x).astype(np.int64)
    if s == 0:
        return x
    a = np.abs(x)
    q, r = a >> s, a & ((1 << s) - 1)
    h = s // 2
    hi, lo = r >> h, (r & ((1 << h) - 1)) << (s & 1)
    return np.sign(x) * (q + (hi > lo))


def niti_update(acc, mu):
    """NITI's weight update from an int32 gradient accumulator, at most ``mu`` bits (int64, |g| <= 127).

    ``b = ceil_log2(max|acc|)``; b == 0 (max|acc| <= 1): no update; ``b <= mu``: the accumulator itself;
    else ``psto_shift(acc, b - mu)``. Clipped to [-127, 127] as NITI's ``int8_clip`` (NITI casts the
    unshifted case to int8 instead of clipping; the two differ only for max|acc| = 128 with mu >= 7).
    """
    mu = int(mu)
    if mu < 0 or mu > 31:
        raise ConfigError(f"NITI mu {mu} outside 0..31")
    acc = np.asarray(acc).astype(np.int64)
    b = ceil_log2(np.abs(acc).max(initial=0))
    if b == 0:
        return np.zeros_like(acc)
    g = acc if b <= mu else psto_shift(acc, b - mu)
    return np.clip(g, -WEIGHT_MAX, WEIGHT_MAX)
