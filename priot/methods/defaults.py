"""The method settings every run starts from, as one typed value owned by the methods.

They shape a method's training state and so its firmware: the host comparison, the device runs and the
firmware build (`make kernels`, first use) all read them here, and nothing below the experiments imports them
from an experiment.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class MethodDefaults:
    frac: float = 0.25  # PRIOT-S scores a quarter of each scored layer's edges
    init_shift: int = 2  # scores start at |w| << 2
    score_layers: tuple[int, ...] = (1, 2)  # PRIOT scores the second conv and the dense layer; the first conv is used whole


DEFAULTS = MethodDefaults()
