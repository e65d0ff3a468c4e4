"""The method registry: every training method is an entry, and its baseline family is data.

The host comparison, the study, the device runs and the firmware build all read this table, so adding a
baseline is adding an entry here (its class in ``priot.methods``; a C variant in the firmware when
``device`` is true). ``grid`` is the step the study tunes on validation data (a learning-rate shift, or
NITI's mu): consecutive integers, the same number of points for every method, so no method gets a finer
search than another. ``default_step`` is the value tuned at 45 degrees that device runs start from.
A weight-training method names its ``update`` rule (``priot.methods.baselines.UPDATES``) and its trained
``layers`` ("all" or "last"); the firmware variant and its C update rule follow from those two fields.
"""

from dataclasses import dataclass
from typing import Callable

from priot.errors import ConfigError

# Weight-update rules of the weight-training methods (described in priot.methods.baselines.UPDATES).
UPDATE_RULES = ("stochastic", "nearest", "floor", "niti-static", "dynamic")

# Families, in the order tables show them. The study reports PRIOT minus the best method of each family.
FAMILIES = {
    "priot": "PRIOT and PRIOT-S: int16 edge-popup scores over frozen int8 weights, static scales",
    "engineered": "static-scale integer SGD with unbiased hash-stochastic rounding and a tuned shift",
    "published": "NITI's published update rule (max-normalised to mu bits, PstoShift rounding), static scales",
    "naive": "the update a first C port would write (floor shift or round-to-nearest), static scales",
    "reference": "not a static-scale integer competitor: no adaptation, NITI dynamic scaling, float fine-tuning",
}

GRID_POINTS = 8  # every tuned method searches this many consecutive step values


@dataclass(frozen=True)
class MethodSpec:
    """One registered method. ``build(qm, step, seed=, keep=, frac=, init_shift=, layers=, spec=)`` makes it."""

    name: str
    family: str
    build: Callable
    grid: tuple = ()
    default_step: int | None = None
    step_name: str = "lr_shift"
    device: bool = True      # a firmware variant exists (the emulated Pico can run it)
    integer: bool = True     # False only for the float upper bound
    summary: str = ""
    update: str | None = None   # weight-training methods: their update rule (UPDATE_RULES)
    layers: str | None = None   # weight-training methods: "all" or "last"

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ConfigError(f"method {self.name}: unknown family {self.family!r} (have {', '.join(FAMILIES)})")
        if self.grid and list(self.grid) != list(range(self.grid[0], self.grid[0] + GRID_POINTS)):
            raise ConfigError(f"method {self.name}: grid {self.grid} is not {GRID_POINTS} consecutive steps")
        if self.update is not None and self.update not in UPDATE_RULES:
            raise ConfigError(f"method {self.name}: unknown update rule {self.update!r} (have {', '.join(UPDATE_RULES)})")
        if (self.update is None) != (self.layers is None) or self.layers not in (None, "all", "last"):
            raise ConfigError(f"method {self.name}: a weight-training method needs an update rule and layers "
                              f"'all' or 'last' (got {self.update!r}, {self.layers!r})")
        if self.device and not self.integer:
            raise ConfigError(f"method {self.name}: the firmware is integer-only, a float method cannot have a device variant")


REGISTRY: dict[str, MethodSpec] = {}


def register(spec: MethodSpec) -> MethodSpec:
    if spec.name in REGISTRY:
        raise ConfigError(f"method {spec.name!r} registered twice")
    REGISTRY[spec.name] = spec
    return spec


def spec(name: str) -> MethodSpec:
    """The entry for ``name``; an unknown name lists the known ones."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown method {name!r} (have {', '.join(REGISTRY)})")
    return REGISTRY[name]


def names(family: str | None = None, device: bool | None = None) -> list[str]:
    """Registered method names, optionally of one family or only those with (without) a device variant."""
    if family is not None and family not in FAMILIES:
        raise ConfigError(f"unknown method family {family!r} (have {', '.join(FAMILIES)})")
    return [n for n, s in REGISTRY.items()
            if (family is None or s.family == family) and (device is None or s.device == device)]
