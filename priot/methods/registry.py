"""The method registry: every training method is an entry, and its baseline family is data.

The host comparison, the study, the device runs and the firmware build all read this table, so adding a
baseline is adding an entry here (its class in ``priot.methods``; a C variant in the firmware when
``device`` is true). A method's settings are its ``knobs`` (``Knob``: name, grid, default, tuned or not): the
step (a learning-rate shift, or NITI's mu; ``grid`` and ``default_step`` are its grid and default, the value
tuned at 45 degrees that device runs start from) is one knob among others, and the study tunes every tuned
knob of a method on validation data over the product of their grids (``configurations``). The rule that keeps
the comparison fair is a budget: no family gets more configurations than PRIOT's (``family_configurations``).
A weight-training method names its ``update`` rule (``priot.methods.baselines.UPDATES``) and its trained
``layers`` ("all" or "last"); a score-training method names its ``selection`` rule (which edges get a score).
Score-training methods have three more knobs (``ROUNDINGS``, ``RANKINGS``, and PRIOT-S's ``select``, one of the
sized ``SELECTIONS``). ``variant(name, ...)`` turns an entry and a run's knobs into a ``Variant``, the one value layout, fit, firmware
and runner read: a new method is an entry here, its class and its C variant, and no other file tests its name.
"""

from dataclasses import dataclass, replace
from typing import Callable

from priot.errors import ConfigError
from priot.methods.defaults import DEFAULTS

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

# Selection rules of the score-training methods: which edges of a scored layer get a score. "every" is PRIOT's;
# the others take a scored fraction (PRIOT-S: "largest" by default, the rest through the ``select`` knob).
SELECTIONS = {
    "every": "every edge of the scored layers (scored fraction 1)",
    "largest": "each scored layer's largest-|w| edges, up to the scored fraction (no index memory)",
    "smallest": "each scored layer's smallest-|w| edges, up to the scored fraction (no index memory)",
    "random": "a seeded hash of each edge's index picks up to the scored fraction (no index memory)",
}
# The score-training methods' other knobs (priot.methods.priot), each compiled into the firmware; the first value
# is the default (the method as published here).
ROUNDINGS = {
    "nearest": "the score update dS is rounded to nearest (ties away from zero)",
    "stochastic": "dS is rounded by the seeded hash the SGD baselines use (small gradients move scores on average)",
}
RANKINGS = {
    "signed": "keep the top-K signed scores (the project's rule)",
    "magnitude": "keep the top-K |scores|; the update reaches |s| through the abs (edge-popup's rule)",
}

CORES = (1, 2)  # a firmware runs on core 0 alone, or on both cores of the RP2040

GRID_POINTS = 8  # the baselines' step grids: this many consecutive step values
STEP = "step"  # the name of the step knob


@dataclass(frozen=True)
class Knob:
    """One setting of a method. ``grid``: the values the study tries, in order (a numeric grid ascending, so
    its first and last values are its edges); ``default``: the value of a run nobody tunes; ``tuned``: whether
    the study searches the grid (an untuned knob stays at its default and says why in ``summary``)."""

    name: str
    grid: tuple
    default: object
    tuned: bool = True
    summary: str = ""
    quick: tuple | None = None  # the values the quick preset tries (a sub-grid; None: the whole grid)
    fit_capped: bool = False  # searched only up to the largest value that fits the Pico (a scored fraction)

    def __post_init__(self):
        object.__setattr__(self, "grid", tuple(self.grid))
        if self.quick is not None:
            object.__setattr__(self, "quick", tuple(self.quick))
            if not self.quick or not set(self.quick) <= set(self.grid):
                raise ConfigError(f"knob {self.name}: quick grid {self.quick} must be values of its grid {self.grid}")
        if len(self.grid) < 1 or len(set(self.grid)) != len(self.grid):
            raise ConfigError(f"knob {self.name}: grid {self.grid} must list distinct values")
        if self.default not in self.grid:
            raise ConfigError(f"knob {self.name}: default {self.default!r} is not in its grid {self.grid}")
        if self.ordered and list(self.grid) != sorted(self.grid):
            raise ConfigError(f"knob {self.name}: numeric grid {self.grid} must be ascending")

    @property
    def ordered(self) -> bool:
        """A numeric grid has edges (a categorical one, such as a rounding rule, has none)."""
        return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.grid)

    @property
    def values(self) -> tuple:
        """What the study tries: the grid when tuned, else the default alone."""
        return self.grid if self.tuned else (self.default,)

    def searched(self, quick: bool = False) -> tuple:
        """What a study tries: ``values``, or in the quick preset the quick sub-grid of a tuned knob."""
        return self.quick if quick and self.tuned and self.quick is not None else self.values

    def edge(self, value) -> str | None:
        """"lower"/"upper" when a tuned numeric knob's ``value`` sits at that end of its grid, else None: a
        choice at an edge may have its optimum outside the grid."""
        if not (self.tuned and self.ordered and len(self.grid) > 1):
            return None
        return "lower" if value == self.grid[0] else "upper" if value == self.grid[-1] else None


@dataclass(frozen=True)
class MethodSpec:
    """One registered method. ``build(qm, step, seed=, keep=, frac=, init_shift=, layers=, name=, spec=,
    variant=)`` makes it (``variant``: its score knobs, ``Variant``). ``grid``/``default_step``/``step_name``
    describe its step knob (its quick grid: every other step); ``knobs`` lists the others (the step knob is
    prepended)."""

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
    selection: str | None = None  # score-training methods: which edges are scored (SELECTIONS)
    knobs: tuple = ()  # every knob, the step first (given: the knobs other than the step)

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ConfigError(f"method {self.name}: unknown family {self.family!r} (have {', '.join(FAMILIES)})")
        if self.grid and (len(self.grid) < 2 or list(self.grid) != list(range(self.grid[0], self.grid[0] + len(self.grid)))):
            raise ConfigError(f"method {self.name}: step grid {self.grid} is not consecutive integer steps")
        if self.grid and self.default_step not in self.grid:
            raise ConfigError(f"method {self.name}: default step {self.default_step} is not in its grid {self.grid}")
        step = (Knob(STEP, self.grid, self.default_step, quick=self.grid[::2],
                     summary=f"the step ({self.step_name})"),) if self.grid else ()
        others = tuple(k for k in self.knobs if k not in step)  # dataclasses.replace hands back the step knob
        if any(k.name == STEP for k in others):
            raise ConfigError(f"method {self.name}: the step knob comes from grid and default_step, not knobs")
        object.__setattr__(self, "knobs", step + others)
        if len({k.name for k in self.knobs}) != len(self.knobs):
            raise ConfigError(f"method {self.name}: knob names {[k.name for k in self.knobs]} repeat")
        if self.update is not None and self.update not in UPDATE_RULES:
            raise ConfigError(f"method {self.name}: unknown update rule {self.update!r} (have {', '.join(UPDATE_RULES)})")
        if (self.update is None) != (self.layers is None) or self.layers not in (None, "all", "last"):
            raise ConfigError(f"method {self.name}: a weight-training method needs an update rule and layers "
                              f"'all' or 'last' (got {self.update!r}, {self.layers!r})")
        if self.selection is not None and (self.selection not in SELECTIONS or self.update is not None):
            raise ConfigError(f"method {self.name}: selection rule {self.selection!r} must be one of "
                              f"{', '.join(SELECTIONS)}, on a method without a weight update")
        if self.device and not self.integer:
            raise ConfigError(f"method {self.name}: the firmware is integer-only, a float method cannot have a device variant")


    def knob(self, name: str) -> Knob:
        for k in self.knobs:
            if k.name == name:
                return k
        raise ConfigError(f"method {self.name} has no knob {name!r} (has {', '.join(k.name for k in self.knobs) or 'none'})")

    @property
    def tuned(self) -> tuple:
        """The knobs the study tunes (the step first)."""
        return tuple(k for k in self.knobs if k.tuned)

    def configurations(self) -> int:
        """How many knob configurations the study tries for this method: the product of its tuned grids."""
        n = 1
        for k in self.tuned:
            n *= len(k.grid)
        return n if self.tuned else 0

    def edges(self, values: dict) -> dict:
        """{knob: "lower"/"upper"} for each tuned numeric knob whose chosen value sits at an edge of its grid."""
        out = {}
        for k in self.tuned:
            if k.name in values and k.edge(values[k.name]):
                out[k.name] = k.edge(values[k.name])
        return out


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


def family_configurations(family: str) -> int:
    """The configurations a family's methods try together: what "best of the family" is a maximum over."""
    return sum(spec(n).configurations() for n in names(family=family))


def names(family: str | None = None, device: bool | None = None) -> list[str]:
    """Registered method names, optionally of one family or only those with (without) a device variant."""
    if family is not None and family not in FAMILIES:
        raise ConfigError(f"unknown method family {family!r} (have {', '.join(FAMILIES)})")
    return [n for n, s in REGISTRY.items()
            if (family is None or s.family == family) and (device is None or s.device == device)]


@dataclass(frozen=True)
class Variant:
    """One method with the knobs that shape its training state and so its firmware, normalised once by
    ``variant()``: the scored fraction (1 unless the selection rule takes one), the scored layers (None: every
    layer but the first; none for a method that scores nothing), the weight update rule and trained layers, and
    a score-training method's selection rule, score rounding and ranking (None for the other methods); and the
    cores its firmware runs on (``on_cores``)."""

    method: str
    fraction: float = 1.0
    score_layers: tuple[int, ...] | None = None
    update: str | None = None
    weight_layers: str | None = None  # "all" or "last" (weight-training methods)
    selection: str | None = None
    rounding: str | None = "nearest"  # score-training methods: ROUNDINGS
    ranking: str | None = "signed"  # score-training methods: RANKINGS
    cores: int = 1  # the RP2040 cores the firmware uses (2: heavy layer loops split by output channel)

    @property
    def knobs(self) -> dict:
        """The score knobs that differ from their defaults (each makes its own firmware), in a fixed order."""
        if self.trains != "scores":
            return {}
        out = {"rounding": self.rounding, "ranking": self.ranking, "select": self.selection}
        defaults = {"rounding": next(iter(ROUNDINGS)), "ranking": next(iter(RANKINGS)),
                    "select": spec(self.method).selection}
        return {k: v for k, v in out.items() if v != defaults[k]}

    def on_cores(self, cores: int) -> "Variant":
        """The same method on 1 or 2 cores (a two-core firmware splits its heavy layer loops between them)."""
        if cores not in CORES:
            raise ConfigError(f"cores must be one of {', '.join(map(str, CORES))}, got {cores!r}")
        return replace(self, cores=cores)

    @property
    def trains(self) -> str:
        """What the variant trains: "scores", "weights" or "none"."""
        return "scores" if self.selection else "weights" if self.update else "none"

    @property
    def sized(self) -> bool:
        """Its scored fraction is its own (a selection rule that takes one): part of its firmware's name."""
        return self.selection is not None and self.selection != "every"

    @property
    def random_update(self) -> bool:
        """Its update draws from a rounding counter (the device keeps one)."""
        return self.update in ("stochastic", "dynamic") or self.rounding == "stochastic"


def _knob(what: str, value, table, default):
    if value is None:
        return default
    if value not in table:
        raise ConfigError(f"unknown {what} {value!r} (have {', '.join(table)})")
    return value


def variant(name: str, fraction: float | None = None, score_layers=None, rounding: str | None = None,
            ranking: str | None = None, select: str | None = None) -> Variant:
    """The ``Variant`` of method ``name`` with a run's scored fraction (None: ``DEFAULTS.frac``), scored layers
    and score knobs (None: the default; ``select``: PRIOT-S's selection rule, a sized one of ``SELECTIONS``);
    knobs the method does not have are dropped, so equal variants build the same firmware."""
    s = spec(name)
    rounding = _knob("score rounding", rounding, ROUNDINGS, next(iter(ROUNDINGS)))
    ranking = _knob("score ranking", ranking, RANKINGS, next(iter(RANKINGS)))
    sized = [k for k in SELECTIONS if k != "every"]
    select = _knob("selection rule", select, sized, None)
    if s.selection is None:
        return Variant(name, 1.0, None, s.update, s.layers, None, None, None)
    frac = 1.0 if s.selection == "every" else DEFAULTS.frac if fraction is None else float(fraction)
    layers = None if score_layers is None else tuple(sorted({int(j) for j in score_layers}))
    selection = s.selection if s.selection == "every" or select is None else select
    return Variant(name, frac, layers, None, None, selection, rounding, ranking)
