"""Deterministic image rotation (nearest neighbour) and the disjoint upright/rotated splits.

Rotation maps every output pixel (row r, column c) back to its source pixel
``(cy + cos(a) (r - cy) + sin(a) (c - cx),  cx - sin(a) (r - cy) + cos(a) (c - cx))``
with the centre ``((H-1)/2, (W-1)/2)``, rounds with ``np.rint`` (half to even) and fills
outside pixels with 0. Positive angles turn the image counter-clockwise as displayed (rows
down), so 90 degrees equals ``np.rot90(x, 1, axes=(1, 2))``. It is host-side data
preparation, so float coordinates are fine; the result is uint8 and bit-reproducible.
"""

import math

import numpy as np

from priot.data import Dataset, fit_to
from priot.errors import ConfigError


def _source_index(h, w, angle_deg):
    """Flat source index per output pixel and its validity mask, for one angle."""
    # cos/sin from the C library (math), not numpy: numpy picks a SIMD implementation by CPU (AVX-512 has its
    # own), and a last-bit difference could move a pixel rounded at .5 on another machine.
    t = math.radians(float(angle_deg))
    cos_t, sin_t = math.cos(t), math.sin(t)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    r, c = np.meshgrid(np.arange(h) - cy, np.arange(w) - cx, indexing="ij")
    sr = np.rint(cy + cos_t * r + sin_t * c).astype(np.int64)
    sc = np.rint(cx - sin_t * r + cos_t * c).astype(np.int64)
    ok = (sr >= 0) & (sr < h) & (sc >= 0) & (sc < w)
    return np.where(ok, sr * w + sc, 0), ok


def rotate_images(images, angles):
    """Rotate uint8 [N,H,W,C] images; ``angles`` is one number or one angle per image (degrees)."""
    images = np.asarray(images)
    n, h, w, ch = images.shape
    angles = np.broadcast_to(np.asarray(angles, dtype=np.float64), (n,))
    out = np.zeros_like(images)
    flat = images.reshape(n, h * w, ch)
    for a in np.unique(angles):
        sel = np.nonzero(angles == a)[0]
        src, ok = _source_index(h, w, a)
        out[sel] = (flat[sel][:, src.ravel()] * ok.reshape(1, -1, 1)).reshape(len(sel), h, w, ch)
    return out


def draw_angles(n, angle, angle_range, rng):
    """One angle per sample: the fixed ``angle``, or uniform in ``angle_range=(lo, hi)`` from ``rng``."""
    if angle_range is None:
        return np.full(n, float(angle))
    lo, hi = angle_range
    if hi < lo:
        raise ConfigError(f"angle range ({lo}, {hi}) is empty")
    return rng.uniform(lo, hi, size=n)


def stratified_order(labels, rng):
    """A permutation interleaving the classes (so any prefix is roughly class-balanced)."""
    perm = rng.permutation(len(labels))
    key = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        members = perm[labels[perm] == c]
        key[members] = np.arange(len(members))
    return perm[np.lexsort((labels[perm], key[perm]))]


def check_split_sizes(n_pretrain, n_adapt, n_test, available) -> int:
    """The samples three disjoint splits take, refused when they do not fit ``available`` (checked by a driver
    before it hands work out, and by ``make_splits``)."""
    need = n_pretrain + n_adapt + n_test
    if min(n_pretrain, n_adapt, n_test) < 1 or need > available:
        raise ConfigError(f"the splits need {n_pretrain} pretraining + {n_adapt} training + {n_test} test = {need} "
                          f"disjoint samples, at least 1 each, and the dataset has {available} (lower --samples, "
                          f"--test or --pretrain)")
    return need


def make_splits(ds, n_pretrain, n_adapt, n_test, rng, angle=45.0, angle_range=None, shape=None):
    """Disjoint splits: upright ``pretrain``, rotated ``adapt`` (on-device training) and rotated ``test``.

    ``shape``: the model's input (H, W, C); each split is fitted to it (``data.fit_to``: padded, channels
    repeated) before rotating, so content turned past the original border is kept."""
    need = check_split_sizes(n_pretrain, n_adapt, n_test, len(ds))
    order = stratified_order(ds.labels, rng)
    fit = (lambda d: fit_to(d, shape)) if shape is not None else (lambda d: d)
    pre = fit(ds.subset(order[:n_pretrain]))
    parts = []
    for idx in (order[n_pretrain:n_pretrain + n_adapt], order[n_pretrain + n_adapt:need]):
        sub = fit(ds.subset(idx))
        ang = draw_angles(len(sub), angle, angle_range, rng)
        parts.append(Dataset(rotate_images(sub.images, ang), sub.labels, f"{ds.name}-rot"))
    return pre, parts[0], parts[1]
