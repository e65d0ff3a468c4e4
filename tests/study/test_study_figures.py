"""The study's figures: one fixed colour per method, and the state-bytes labels never overlap."""

import matplotlib.pyplot as plt

from priot import methods
from priot.experiments.study import figures


def test_every_registered_method_has_its_own_colour():
    names = list(methods.REGISTRY)
    assert all(n in figures.COLOUR for n in names)
    assert len({figures.COLOUR[n].lower() for n in names}) == len(names)
    assert figures.colour("priot") != figures.colour("sgd-all")


def _crowded_summary():
    """Thirteen methods on three state sizes, mean accuracies a fraction of a point apart, spread over two
    angles by 40 points (so the axis spans far more than the labels' spacing)."""
    names = list(methods.REGISTRY)

    def setting(angle, sign):
        return {"model": "tiny_cnn", "angle": angle, "methods": {
            n: {"mean": 0.6 + sign * 0.2 + 0.0005 * i, "std": 0.01, "state_bytes": (4000, 7800, 9000)[i % 3]}
            for i, n in enumerate(names)}}

    return {"study": {"methods": names}, "settings": [setting(45.0, -1), setting(90.0, 1)]}


def test_state_bytes_labels_do_not_overlap():
    fig, ax, texts = figures.state_figure(_crowded_summary())
    try:
        assert len(texts) == len(methods.REGISTRY)
        assert not figures.labels_overlap(ax, texts)
    finally:
        plt.close(fig)


def test_isotonic_pools_violators():
    assert figures._isotonic([1.0, 3.0, 2.0, 4.0]) == [1.0, 2.5, 2.5, 4.0]
