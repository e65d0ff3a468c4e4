"""Top-k mask over int16 scores in O(n) time and 256 counters of scratch (two-pass radix select).

Key: ``u = score + 32768`` (uint16, order preserving). Pass 1 histograms the high byte and
walks the bins from 255 down until the running count reaches k: that bin ``b`` holds the k-th
largest key. Pass 2 histograms the low byte of the keys whose high byte is ``b`` and walks down
the same way, giving the threshold key ``t`` (the k-th largest). Keep every key > t, and of the
keys == t keep the lowest indices first until k are kept (tie rule: lower index wins).
k = 0 keeps nothing; k >= n keeps everything. The C side needs one uint16[256] histogram. With
``magnitude=True`` the key is ``|score|`` instead (edge-popup ranks magnitudes; PRIOT by default signed scores).
"""

import numpy as np

from priot.errors import ConfigError


def _walk_down(hist, need):
    """(bin, count strictly above it) for the bin where the top-down running count reaches ``need``."""
    above = 0
    for b in range(255, -1, -1):
        if above + int(hist[b]) >= need:
            return b, above
        above += int(hist[b])
    raise ConfigError("histogram holds fewer than k items")


def rank_key(scores, magnitude=False):
    """The uint16 ranking key of int16 scores: ``score + 32768`` (signed ranking, the project's rule) or
    ``|score|`` (edge-popup's rule, ``magnitude=True``; |-32768| = 32768 still fits). Both order-preserving."""
    s = np.asarray(scores).astype(np.int32)
    return np.abs(s) if magnitude else s + 32768


def threshold(scores, k, magnitude=False):
    """(threshold key t, how many keys equal to t to keep) for the top-k of int16 ``scores``."""
    key = rank_key(scores, magnitude)
    hi, above = _walk_down(np.bincount(key >> 8, minlength=256), k)
    sel = key[(key >> 8) == hi] & 255
    lo, above2 = _walk_down(np.bincount(sel, minlength=256), k - above)
    return hi * 256 + lo, k - above - above2


def topk_mask(scores, k, magnitude=False):
    """uint8 mask keeping the k largest int16 scores (or |scores|, ``magnitude``), ties at the threshold to
    the lowest indices."""
    scores = np.asarray(scores)
    if scores.dtype != np.int16 or scores.ndim != 1:
        raise ConfigError(f"scores must be a 1-D int16 array, got {scores.dtype} {scores.shape}")
    n = len(scores)
    if k <= 0:
        return np.zeros(n, np.uint8)
    if k >= n:
        return np.ones(n, np.uint8)
    t, n_eq = threshold(scores, k, magnitude)
    key = rank_key(scores, magnitude)
    eq = key == t
    return ((key > t) | (eq & (np.cumsum(eq) <= n_eq))).astype(np.uint8)


def topk_mask_sorted(scores, k, magnitude=False):
    """Reference: sort by (key descending, index ascending), keep the first k."""
    order = np.lexsort((np.arange(len(scores)), -rank_key(scores, magnitude).astype(np.int64)))
    mask = np.zeros(len(scores), np.uint8)
    mask[order[:max(k, 0)]] = 1
    return mask


def keep_count(n, keep):
    """Edges kept out of n for a keep fraction: floor(keep * n + 0.5), fixed on the host."""
    if not 0.0 <= keep <= 1.0:
        raise ConfigError(f"keep fraction {keep} outside [0, 1]")
    return int(np.floor(keep * n + 0.5))
