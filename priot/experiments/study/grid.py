"""The study's grid: which settings (width x angle), seeds and methods, and the cells they expand into.

A *setting* is one model width at one rotation (or the random-angle setting). A *cell* is one task: a tuning
cell (one method at one step on one seed's validation split: successive halving over the method's other
knobs, ``priot.experiments.study.tuning``) or a final run (the method with the knobs its tuning chose, trained
on all adaptation data, scored on the test split). Every setting and seed is tuned on its own validation split:
nothing chosen on one seed or width is reused for another. Cells are small dicts of plain values, so a cell is
a pure function of its config and its result file is keyed by a hash of that config and the code version
(``version``).

Validation: ``val`` = 200 rotated digits of each seed's adaptation data, so one digit is 0.5 pp of validation
accuracy (the test split: 500 digits, one digit 0.2 pp).

Sizing of the default grid: at most 2 hours of wall time on 2 cores, 14,400 CPU-s, tuning included. CPU
(process) time measured on this code, one worker, ``OPENBLAS_NUM_THREADS=1``, on a loaded 2-core machine, default
preset (400 digits of which 200 held out, 3 epochs), 90 degrees, seed 0:

  x1: a baseline tuning cell (one configuration: 3 epochs on 200 digits, two validation passes) 0.58 s, the 88
      of the ten tuned baselines (8 steps each, 10 for the four last-layer ones) 51 s; PRIOT 0.62 s and PRIOT-S 0.60 s per configuration (every configuration
      one epoch and a validation pass, a third two more epochs and a pass); the 13 finals 19 s.
  x2: 2.4x the baselines' cost (1.56 s a cell), 1.8x PRIOT's (1.12 s a configuration).
  x4: 3.7x the baselines' cost (sgd-all's and sgd-last's tuning cells).

With the registry's grids (PRIOT 11 steps x 5 keep x 2 roundings = 110 configurations, PRIOT-S 11 steps x 5 keep
(0.35..0.9) x 3 fractions (0.25..0.75) x 3 selections x 2 roundings = 990) one seed of one setting costs 51 + 110 x
0.62 + 990 x 0.60 + 19 = 732 s at x1, 137 + 1,100 x 1.12 + 46 = 1,415 s at x2 and about 3.7 x 732 s at x4. The
default grid, x1 at 45, 90, 180 degrees and random, runs in two stages (``extension``): 3 seeds everywhere, 3 x 4 x
732 = 8,784 s, then 2 more seeds (1,464 s) at each setting where 3 leave the sign of a headline difference open;
at most 14,640 s plus 5 backbones' pretraining (a few seconds each): about 14,700 CPU-s, 102% of the budget as
measured (the measurement ran on a machine loaded by other jobs, which inflates CPU time; an idle machine has some
headroom). Wider models do not fit: x2 at 90 degrees alone would add 5 x 1,415 s, so widths are in ``full`` (and
``--widths 2,4 --angles 90``). A
sixth keep value or a fourth fraction for PRIOT-S would add 198 or 330 configurations (119 or 198 s a seed and
setting): over the budget. The per-configuration cost was measured at fractions up to 0.5; PRIOT-S at 0.75
scores more edges, so its third of the configurations costs somewhat more (at most PRIOT's 0.62 s).

VGG11 (``--model vgg11``; rotated Fashion-MNIST, backbones pretrained on 55,000 upright images, shipped for x0.125
and x0.25, seeds 0-2): its cells cost 4-5x the tiny CNN's at x0.125 and about 4x more at x0.25 (CPU time of one
epoch on 200 images, loaded machine: PRIOT 1.28 s at x0.125 and 5.16 s at x0.25, sgd-all 0.68 and 1.86 s). With
every knob over its whole grid one seed of one x0.125 setting would cost about 3,000 CPU-s, so both VGG11 presets
search each knob over its quick sub-grid (``Knob.quick``: PRIOT 6 steps x 4 = 24 configurations and PRIOT-S 6 x 16
= 96, against 4-5 per baseline: PRIOT still gets the largest budget). The quick preset as first run (x0.125 at 90
degrees, 3 seeds, PRIOT's steps 2..11, 189 cells) took 846 CPU-s summed over its cells, PRIOT-S's tuning 432. The default grid's cells see twice
the training images (200 against 100 while tuning) and 3 epochs, about 2x a quick cell: about 600 CPU-s per
seed of an x0.125 setting and 1,900 of an x0.25 setting (PRIOT-S's fraction capped at the 0.13 that fits, so
half its configurations), with 5 PRIOT steps; 6 steps add about 15%. x0.125 at 45, 90 and 180 degrees plus
x0.25 at 90 degrees, 3 seeds: 1.15 x 3 x (3 x 600 + 1,900) = about 12,800 CPU-s, within the 2-hour budget on 2
cores (14,400); x0.25 at all three angles would be about 25,900. The second stage adds 2 seeds where 3 leave a
headline sign open: about 1,400 CPU-s for an x0.125 setting and 4,400 for x0.25, plus each new seed's backbone
pretraining (not shipped: regenerated, about 4 and 7 CPU-minutes), beyond the 2-hour first stage.

Three presets: ``quick`` (x1 at 90 degrees, 3 seeds, 300 digits of which 200 held out, 2 epochs, 300 test
digits; every knob over its quick sub-grid, ``Knob.quick``: every other step, two keep values, two fractions,
two selections, so 4 steps x 1 configuration per baseline, 5 x 4 for PRIOT and 5 x 16 for PRIOT-S: minutes),
``default`` (x1 at 45, 90, 180 degrees and random, 3 seeds, 5 where 3 leave a headline sign open: sized above) and
``full`` (every width at every angle, 1,000 digits, 5 seeds; for a cluster).
"""

import functools
import hashlib
import json
from dataclasses import dataclass, replace

from priot import backbones, methods, quant
from priot.errors import ConfigError
from priot.experiments.study.tuning import procedure
from priot.device import fit
from priot.models import get_model, model_name
from priot.experiments.study.version import of_cell
from priot.recipe import Recipe, model_defaults

CELL_FORMAT = 3  # part of every cell's key: bump when a cell's meaning changes, so old results are not reused
ANGLES = (30.0, 45.0, 60.0, 90.0, 180.0, "random")
RANDOM_RANGE = (0.0, 360.0)  # the random-angle setting: every image its own angle, uniform over a full turn
WIDTHS = (1.0, 2.0, 4.0)
DEFAULT_ANGLES = (45.0, 90.0, 180.0, "random")  # the default grid: x1 at these (wider models break its budget)
VAL = 200  # validation digits per seed (one digit = 0.5 pp)
PRESETS = ("quick", "default", "full")


def product(widths, angles) -> tuple:
    """Every (width, angle) pair, widths outermost."""
    return tuple((w, a) for w in widths for a in angles)


@dataclass(frozen=True)
class Plan:
    """A preset's grid for one model family: its (width, angle) settings, seeds, data sizes, and whether each
    knob is searched over its sub-grid (``Knob.quick``)."""

    settings: tuple  # (width, angle) pairs
    seeds: int  # the first stage: every setting
    samples: int
    test: int
    epochs: int
    small_grids: bool = False
    more_seeds: int = 0  # the second stage: added at a setting where the first leaves a headline sign open


# The model families the study knows, in report order, and each one's presets (sized in the module docstring).
VGG11_ANGLES = (45.0, 90.0, 180.0)
PLANS = {
    "tiny_cnn": {"quick": Plan(((1.0, 90.0),), 3, 300, 300, 2, small_grids=True),
                 "default": Plan(product((1.0,), DEFAULT_ANGLES), 3, 400, 500, 3, more_seeds=2),
                 "full": Plan(product(WIDTHS, ANGLES), 5, 1000, 1000, 3)},
    "vgg11": {"quick": Plan(((0.125, 90.0),), 3, 300, 300, 2, small_grids=True),
              "default": Plan(product((0.125,), VGG11_ANGLES) + ((0.25, 90.0),), 3, 400, 500, 3, small_grids=True,
                              more_seeds=2),
              "full": Plan(product((0.125, 0.25, 0.4375), ANGLES), 5, 1000, 1000, 3)},
}
FAMILIES = tuple(PLANS)
# Bounds checked before any work, so that no option makes the driver allocate more than a study can use:
MAX_SEEDS = 100
MAX_WIDTH = 64.0  # channel factor of the tiny CNN (as `m0sim run compare --width`)
MAX_ANGLE = 360.0  # |degrees|: a full turn either way
MAX_SETTINGS = 1_000  # widths x angles
MAX_CELLS = 200_000  # tuning plus final cells (the full preset at 100 seeds is 196,200)
RUN_FIRST = (45.0, 90.0)  # the default grid runs these settings first (the probes' angles; widths compare at 90)


@dataclass(frozen=True)
class Setting:
    """One width of a model family at one angle."""

    width: float
    angle: object  # degrees, or "random"
    family: str = "tiny_cnn"  # the model registry's name without width

    @property
    def model(self) -> str:
        return model_name(self.family, self.width)

    @property
    def key(self) -> tuple:
        return (self.family, self.width, self.angle)

    @property
    def label(self) -> str:
        return f"{self.model} @ {angle_label(self.angle)}"


def display_order(settings):
    """Settings sorted for tables and plots: by width, then angle, the random setting last."""
    return sorted(settings, key=lambda s: (s["width"], s["angle"] == "random", 0 if s["angle"] == "random"
                                           else s["angle"]))


def angle_label(angle) -> str:
    return "random" if angle == "random" else f"{angle:g}°"


@dataclass(frozen=True)
class Study:
    """Everything that decides which cells run, for one model family (``family``; a report may hold several
    studies). ``val``: validation images held out of the ``samples`` adaptation images while tuning (the
    finals train on all of them). Pretraining and data left None are the model's (``recipe.MODEL_DEFAULTS``).
    ``small_grids``: each knob over its sub-grid (``Knob.quick``)."""

    settings: tuple
    seeds: tuple
    methods: tuple
    samples: int
    test: int
    epochs: int = 3
    pretrain: int | None = None  # upright pretraining images
    pretrain_epochs: int | None = None  # None: the model's at each width
    val: int = VAL
    device: bool = False
    device_every: int = 50
    dataset: str | None = None
    data_path: str | None = None
    preset: str = "custom"
    family: str = "tiny_cnn"
    small_grids: bool = False
    more_seeds: int = 0  # seeds a setting gets on top of ``seeds`` when it is ``extended`` (``extension``)
    extended: tuple = ()  # keys of the settings that got them
    undecided: tuple = ()  # keys of the settings whose first stage is not finished: not decided yet

    def __post_init__(self):
        if not 1 <= self.val <= self.samples - 10:
            raise ConfigError(f"validation split of {self.val} digits needs at least {self.val + 10} adaptation "
                              f"digits (--samples {self.samples}); lower --val or raise --samples")

    @property
    def val_frac(self) -> float:
        """The held-out fraction of the adaptation digits (the recipe's setting)."""
        return self.val / self.samples

    # Every seed and setting is tuned on its own validation split; these two say so to the engine and report.
    tune_every_seed = True

    @property
    def quick(self) -> bool:
        """Whether each knob is tuned over its quick sub-grid (``Knob.quick``)."""
        return self.small_grids

    @property
    def pretrain_images(self) -> int:
        return self.pretrain if self.pretrain is not None else model_defaults(self.family).pretrain

    @property
    def data(self) -> str:
        """The data set the study adapts on."""
        return self.dataset or model_defaults(self.family).dataset

    def tuning_seed(self, seed: int) -> int:
        """The seed whose validation split tunes ``seed``'s knobs: its own."""
        return seed

    @property
    def extra_seeds(self) -> tuple:
        """The second stage's seeds: the ``more_seeds`` after the first stage's."""
        first = max(self.seeds) + 1
        return tuple(range(first, first + self.more_seeds))

    def seeds_of(self, setting: Setting) -> tuple:
        """The seeds ``setting`` runs: the first stage's, and the second's where it was ``extended``."""
        return self.seeds + (self.extra_seeds if setting.key in self.extended else ())


def preset(name: str, seeds: int | None = None, family: str = "tiny_cnn") -> Study:
    """The ``quick``, ``default`` or ``full`` grid of model ``family`` with every registered method and
    ``seeds`` seeds (None: the preset's, ``PLANS``)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r} ({', '.join(PRESETS)})")
    if family not in PLANS:
        raise ConfigError(f"--model: the study knows {', '.join(FAMILIES)}, not {family!r}")
    plan = PLANS[family][name]
    more = plan.more_seeds if seeds is None else 0  # --seeds fixes every setting's seeds
    seeds = plan.seeds if seeds is None else seeds
    if seeds < 1:
        raise ConfigError(f"seeds must be at least 1, got {seeds}")
    if seeds > MAX_SEEDS:
        raise ConfigError(f"seeds must be at most {MAX_SEEDS}, got {seeds}")
    settings = tuple(Setting(w, a, family) for w, a in plan.settings)
    return Study(settings, tuple(range(seeds)), tuple(methods.REGISTRY), samples=plan.samples, test=plan.test,
                 epochs=plan.epochs, preset=name, family=family, small_grids=plan.small_grids, more_seeds=more)


def restrict(study: Study, names=None, families=None, widths=None, angles=None, **overrides) -> Study:
    """The study limited to some methods (by name or family); ``widths``/``angles`` replace the grid by their
    product, the preset's lists standing in for the one not given. Unknown names and an empty grid are
    errors."""
    chosen = list(study.methods)
    if names:
        for n in names:
            methods.spec(n)  # unknown name: ConfigError listing the known ones
        chosen = [n for n in chosen if n in names] + [n for n in names if n not in chosen]
    if families:
        for f in families:
            methods.names(family=f)  # unknown family: ConfigError listing the known ones
        chosen = [n for n in chosen if methods.spec(n).family in families]
    settings = list(study.settings)
    if widths is not None or angles is not None:
        widths = list(dict.fromkeys(s.width for s in settings)) if widths is None else check_widths(widths)
        angles = list(dict.fromkeys(s.angle for s in settings)) if angles is None else check_angles(angles)
        if len(widths) * len(angles) > MAX_SETTINGS:
            raise ConfigError(f"{len(widths)} widths x {len(angles)} angles is more than {MAX_SETTINGS:,} settings")
        settings = [Setting(float(w), a, study.family) for w in widths for a in angles]
    if not chosen:
        raise ConfigError("the grid is empty: no registered method matches --methods/--families")
    if not settings:
        raise ConfigError("the grid is empty: no width x angle setting left (--widths/--angles)")
    out = replace(study, methods=tuple(chosen), settings=tuple(settings), **overrides)
    most = planned_cells(replace(out, extended=tuple(s.key for s in out.settings)))  # every setting extended
    if most > MAX_CELLS:
        raise ConfigError(f"the grid has {most:,} cells, more than {MAX_CELLS:,} (fewer seeds, "
                          f"widths, angles or methods)")
    return out


def check_widths(widths) -> list:
    """Width factors, distinct, each finite in (0, MAX_WIDTH]."""
    for w in widths:
        if not (isinstance(w, (int, float)) and 0 < w <= MAX_WIDTH):  # false for nan too
            raise ConfigError(f"--widths: a width factor must be in (0, {MAX_WIDTH:g}], got {w:g}")
    return list(dict.fromkeys(float(w) for w in widths))


def check_angles(angles) -> list:
    """Angles in degrees (finite, |a| <= MAX_ANGLE) or "random", distinct."""
    for a in angles:
        if a != "random" and not (isinstance(a, (int, float)) and -MAX_ANGLE <= a <= MAX_ANGLE):
            raise ConfigError(f"--angles: an angle must be a number of degrees in -{MAX_ANGLE:g}..{MAX_ANGLE:g} "
                              f"or 'random', got {a}")
    return list(dict.fromkeys(angles))


def planned_cells(study: Study) -> int:
    """How many cells ``study`` expands into (tuning groups x their grids, plus one final per setting, seed and
    method), counted without building them."""
    per_group = sum(len(steps(n, study.quick)) for n in study.methods)  # one tuning cell per method and step
    groups = {(tuning_source(s, study).key, study.tuning_seed(seed)) for s in study.settings
              for seed in study.seeds_of(s)}
    return len(groups) * per_group + sum(len(study.seeds_of(s)) for s in study.settings) * len(study.methods)


# The recipe settings a cell carries (with its method, step and search): its result file is keyed by them, so
# this list and their values are part of CELL_FORMAT.
CELL_RECIPE = ("model", "angle", "angle_range", "seed", "samples", "test", "epochs", "pretrain", "pretrain_epochs",
               "pretrain_lr", "pretrain_schedule", "calib", "val_frac", "dataset", "data_path", "frac", "init_shift",
               "score_layers", "rounding", "ranking", "select")
KNOB_RECIPE = ("rounding", "ranking", "select")  # PRIOT's score knobs: a cell written before them has their defaults


def setting_recipe(study: Study, setting: Setting, seed: int) -> Recipe:
    """The recipe every cell of ``setting`` and ``seed`` shares (it decides splits, backbone and order); what
    the study leaves unset (pretraining, data set, scored layers, PRIOT-S's fraction) is the model's."""
    random = setting.angle == "random"
    return Recipe.build(setting.model, angle=None if random else float(setting.angle),
                        angle_range=RANDOM_RANGE if random else None, seed=int(seed), samples=study.samples,
                        test=study.test, epochs=study.epochs, pretrain=study.pretrain,
                        pretrain_epochs=study.pretrain_epochs, val_frac=study.val_frac, dataset=study.dataset,
                        data_path=study.data_path)


def base_config(study: Study, setting: Setting, seed: int) -> dict:
    """The plain values every cell of ``setting`` and ``seed`` shares: its recipe's CELL_RECIPE settings."""
    plain = setting_recipe(study, setting, seed).as_dict()
    return {"format": CELL_FORMAT, **{k: plain[k] for k in CELL_RECIPE}}


def cell_recipe(cell: dict, knobs: dict | None = None) -> Recipe:
    """The recipe a cell runs with the method's knob values ``knobs`` besides the step (None: their defaults):
    each by the recipe field of its name (keep per method; frac, rounding, ranking, select)."""
    knobs = dict(knobs or {})
    keep = knobs.pop("keep", None)
    plain = {k: cell.get(k) if k in KNOB_RECIPE else cell[k] for k in CELL_RECIPE}
    unknown = sorted(set(knobs) - set(CELL_RECIPE))
    if unknown:
        raise ConfigError(f"method {cell['method']}: knob(s) {', '.join(unknown)} have no recipe setting")
    plain.update(knobs)
    return Recipe.build(**plain, keep={} if keep is None else {cell["method"]: keep})


def search(name: str, quick: bool = False, model: str | None = None) -> dict:
    """{knob: values} a tuning cell of method ``name`` searches besides the step, in the registry's order
    (``quick``: each knob's quick sub-grid). A knob capped by the fit (``Knob.fit_capped``, PRIOT-S's scored
    fraction: its point is to fit) is searched on ``model`` only up to the largest value that fits the Pico:
    the grid's values below it, then it."""
    out = {}
    for k in methods.spec(name).knobs:
        if k.name == methods.STEP:
            continue
        values = list(k.searched(quick))
        if k.fit_capped and model is not None:
            values = fit_capped(values, model)
        out[k.name] = values
    return out


@functools.lru_cache(maxsize=64)
def largest_fitting_fraction(model: str) -> float | None:
    """The largest scored fraction that fits the Pico at ``model`` with its default scored layers (a search of
    the fit's budget: computed once per model)."""
    return fit.largest_fraction(get_model(model), model_defaults(model).score_layers)


def fit_capped(values: list, model: str) -> list:
    """``values`` of a scored-fraction knob limited to what fits the Pico at ``model``."""
    largest = largest_fitting_fraction(model)
    if largest is None or largest >= max(values):
        return values
    return [v for v in values if v < largest] + [largest]


def steps(name: str, quick: bool = False) -> tuple:
    """The steps method ``name`` is tuned over: its step knob's grid (quick: its quick sub-grid); () without one."""
    s = methods.spec(name)
    return s.knob(methods.STEP).searched(quick) if s.grid else ()


def _method_config(study: Study, setting: Setting, seed: int, method: str, step) -> dict:
    """What a method's tuning and final cells at ``step`` share: base, method, step and what its tuning
    searches (so a final's key changes with the search that chose its knobs)."""
    cell = dict(base_config(study, setting, seed), method=method, step=step)
    if step is not None:
        cell.update(steps=list(steps(method, study.quick)), search=search(method, study.quick, setting.model),
                    halving=procedure(study.epochs))
    return cell


def tune_cells(study: Study, setting: Setting, seed: int) -> list[dict]:
    """One tuning cell per (method, step) of the registry's step grids, scored on ``seed``'s validation split."""
    return [dict(_method_config(study, setting, seed, n, s), kind="tune") for n in study.methods
            for s in steps(n, study.quick)]


def final_cell(study: Study, setting: Setting, seed: int, method: str, step) -> dict:
    """The final run of ``method`` at its tuned ``step`` (None: a method without knobs); its other knobs are
    the ones its tuning cell at that step chose (``tuning_cell_of``)."""
    cell = dict(_method_config(study, setting, seed, method, step), kind="final")
    if study.device and methods.spec(method).device:
        cell.update(device=True, device_every=study.device_every)
    return cell


def tuning_cell_of(final: dict) -> dict:
    """The tuning cell whose choice a final cell runs (the same config, kind "tune", no device run)."""
    return {k: v for k, v in final.items() if k not in ("device", "device_every")} | {"kind": "tune"}


def backbone_key(cell: dict) -> tuple:
    """What decides a cell's backbone: one pretraining per model, seed and pretraining recipe."""
    return tuple(cell[k] for k in ("model", "seed", "pretrain", "pretrain_epochs", "pretrain_lr", "pretrain_schedule",
                                   "calib", "dataset", "data_path"))


_FINGERPRINTS: dict = {}  # per process: backbone key -> fingerprint (the manifest does not change under a study)


def backbone_fingerprint(cell: dict) -> str:
    """The fingerprint of the shipped backbone a cell adapts (``priot.backbones``' manifest), or "not shipped":
    what a cell's result depends on of the shipped files, so that shipping another backbone changes no other
    cell's key."""
    key = backbone_key(cell)
    if key not in _FINGERPRINTS:
        listed = backbones.entry(quant.full_config(*cell_recipe(cell).backbone_key()))
        _FINGERPRINTS[key] = listed["fingerprint"] if listed is not None else "not shipped"
    return _FINGERPRINTS[key]


def cell_key(cell: dict, code: str | None = None) -> str:
    """A stable name for a cell's result file: a hash of its whole config, the code version that decides it
    (this process's, ``version.of_cell``, unless ``code`` names another) and its shipped backbone's fingerprint,
    so results of other code or another backbone are never reused."""
    text = json.dumps({"config": cell, "code": code or of_cell(cell), "backbone": backbone_fingerprint(cell)},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def tuning_source(setting: Setting, study: Study) -> Setting:
    """The setting whose tuning cells choose ``setting``'s knobs: itself (nothing is reused across settings)."""
    return setting
