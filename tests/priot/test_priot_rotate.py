import numpy as np
import pytest

from priot import rotate
from priot.errors import ConfigError


def test_rotation_is_deterministic_and_zero_is_identity(mnist5k):
    x = mnist5k.images[:20]
    a = rotate.rotate_images(x, 37.0)
    assert (a == rotate.rotate_images(x, 37.0)).all()
    assert (rotate.rotate_images(x, 0.0) == x).all()
    assert not (a == x).all()


def test_quarter_turn_equals_rot90(mnist5k):
    x = mnist5k.images[:5]
    assert (rotate.rotate_images(x, 90.0) == np.rot90(x, 1, axes=(1, 2))).all()


def test_per_image_angles_and_range(mnist5k):
    x = mnist5k.images[:6]
    ang = rotate.draw_angles(6, 0, (-30, 30), np.random.default_rng(3))
    assert ang.min() >= -30 and ang.max() <= 30 and len(set(ang.tolist())) == 6
    out = rotate.rotate_images(x, ang)
    assert (out[2] == rotate.rotate_images(x[2:3], ang[2])[0]).all()
    with pytest.raises(ConfigError):
        rotate.draw_angles(3, 0, (10, -10), np.random.default_rng(0))


def test_splits_disjoint_balanced_and_reproducible(mnist5k):
    def split():
        return rotate.make_splits(mnist5k, 1000, 300, 300, np.random.default_rng(4), angle=45)
    pre, ad, te = split()
    pre2, ad2, te2 = split()
    assert (ad.images == ad2.images).all() and (pre.labels == pre2.labels).all()
    assert np.bincount(pre.labels).tolist() == [100] * 10
    # disjoint: no upright pretraining image, rotated the same way, appears among the rotated splits
    rot_pre = rotate.rotate_images(pre.images, 45)
    keys = {r.tobytes() for r in rot_pre}
    assert not any(r.tobytes() in keys for r in np.concatenate([ad.images, te.images]) if r.any())
    assert not {r.tobytes() for r in ad.images} & {r.tobytes() for r in te.images}
    with pytest.raises(ConfigError):
        rotate.make_splits(mnist5k, 4000, 1000, 1000, np.random.default_rng(0))
