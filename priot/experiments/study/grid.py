"""The study's grid: which settings (width x angle), seeds and methods, and the cells they expand into.

A *setting* is one model width at one rotation (or the random-angle setting). A *cell* is one training run:
a tuning run (one method, one step, trained on the adaptation data minus its validation split, scored on
that split) or a final run (the method with its tuned step, trained on all adaptation data, scored on the
test split). Cells are small dicts of plain values, so a cell is a pure function of its config and its
result file is keyed by a hash of that config and the code version (``version``).

Three presets: ``quick`` (one width, two angles, 3 seeds, few samples), ``default`` (sized for a 2-core
machine: the tiny CNN at every angle, widths x2 and x4 at 90 degrees reusing the x1 steps tuned at 90
degrees, each setting's steps tuned on its first seed only, 300 training digits; about 900 cells) and ``full`` (every width at every angle, each
seed tuned on its own validation split; meant for a cluster).
"""

import hashlib
import json
from dataclasses import dataclass, replace

from priot import methods
from priot.errors import ConfigError
from priot.models import model_name
from priot.experiments.study.version import code_version
from priot.recipe import PRETRAIN, PRETRAIN_EPOCHS, Recipe

CELL_FORMAT = 1  # part of every cell's key: bump when a cell's meaning changes, so old results are not reused
ANGLES = (30.0, 45.0, 60.0, 90.0, 180.0, "random")
RANDOM_RANGE = (0.0, 360.0)  # the random-angle setting: every image its own angle, uniform over a full turn
WIDTHS = (1.0, 2.0, 4.0)
# Bounds checked before any work, so that no option makes the driver allocate more than a study can use:
MAX_SEEDS = 100
MAX_WIDTH = 64.0  # channel factor of the tiny CNN (as `m0sim run compare --width`)
MAX_ANGLE = 360.0  # |degrees|: a full turn either way
MAX_SETTINGS = 1_000  # widths x angles
MAX_CELLS = 200_000  # tuning plus final cells (the full preset at 100 seeds is 196,200)
RUN_FIRST = (45.0, 90.0)  # the default grid runs these settings first (the probes' angles; widths compare at 90)


@dataclass(frozen=True)
class Setting:
    """One width at one angle; ``tune_from`` names the setting whose tuned steps it reuses (None: its own)."""

    width: float
    angle: object  # degrees, or "random"
    tune_from: tuple | None = None

    @property
    def model(self) -> str:
        return model_name("tiny_cnn", self.width)

    @property
    def key(self) -> tuple:
        return (self.width, self.angle)

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
    """Everything that decides which cells run. ``tune_every_seed``: tune on each seed's own validation split
    (full) or on the first seed only and reuse the steps for the others (quick, default)."""

    settings: tuple
    seeds: tuple
    methods: tuple
    samples: int
    test: int
    epochs: int = 3
    pretrain: int = PRETRAIN
    pretrain_epochs: int = PRETRAIN_EPOCHS
    val_frac: float = 0.2
    tune_every_seed: bool = False
    device: bool = False
    device_every: int = 50
    dataset: str = "mnist5k"
    data_path: str | None = None
    preset: str = "custom"

    def tuning_seed(self, seed: int) -> int:
        """The seed whose validation split tunes the steps used by ``seed``."""
        return seed if self.tune_every_seed else self.seeds[0]


def preset(name: str, seeds: int = 3) -> Study:
    """The ``quick``, ``default`` or ``full`` grid with every registered method and ``seeds`` seeds."""
    if seeds < 1:
        raise ConfigError(f"seeds must be at least 1, got {seeds}")
    if seeds > MAX_SEEDS:
        raise ConfigError(f"seeds must be at most {MAX_SEEDS}, got {seeds}")
    every = tuple(methods.REGISTRY)
    s = tuple(range(seeds))
    if name == "quick":
        return Study(tuple(Setting(1.0, a) for a in (45.0, 90.0)), s, every, samples=200, test=300, epochs=2,
                     preset=name)
    if name == "default":
        x1 = tuple(Setting(1.0, a) for a in RUN_FIRST + tuple(a for a in ANGLES if a not in RUN_FIRST))
        wide = tuple(Setting(w, 90.0, tune_from=(1.0, 90.0)) for w in WIDTHS[1:])
        return Study(x1 + wide, s, every, samples=300, test=500, epochs=3, preset=name)
    if name == "full":
        return Study(tuple(Setting(w, a) for w in WIDTHS for a in ANGLES), s, every, samples=1000, test=1000,
                     epochs=3, tune_every_seed=True, preset=name)
    raise ConfigError(f"unknown preset {name!r} (quick, default, full)")


def restrict(study: Study, names=None, families=None, widths=None, angles=None, **overrides) -> Study:
    """The study limited to some methods (by name or family); ``widths``/``angles`` replace the grid by their
    product (each setting tuned on its own), the preset's lists standing in for the one not given. Unknown
    names and an empty grid are errors."""
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
        settings = [Setting(float(w), a) for w in widths for a in angles]
    if not chosen:
        raise ConfigError("the grid is empty: no registered method matches --methods/--families")
    if not settings:
        raise ConfigError("the grid is empty: no width x angle setting left (--widths/--angles)")
    out = replace(study, methods=tuple(chosen), settings=tuple(settings), **overrides)
    if planned_cells(out) > MAX_CELLS:
        raise ConfigError(f"the grid has {planned_cells(out):,} cells, more than {MAX_CELLS:,} (fewer seeds, "
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
    per_group = sum(len(methods.spec(n).grid) for n in study.methods)
    groups = {(tuning_source(s, study).key, study.tuning_seed(seed)) for s in study.settings for seed in study.seeds}
    return len(groups) * per_group + len(study.settings) * len(study.seeds) * len(study.methods)


# The recipe settings a cell carries (with its method, step and keep): its result file is keyed by them, so this
# list and their values are part of CELL_FORMAT.
CELL_RECIPE = ("model", "angle", "angle_range", "seed", "samples", "test", "epochs", "pretrain", "pretrain_epochs",
               "calib", "val_frac", "dataset", "data_path", "frac", "init_shift", "score_layers", "rounding", "ranking",
               "select")
KNOB_RECIPE = ("rounding", "ranking", "select")  # PRIOT's score knobs: a cell written before them has their defaults


def setting_recipe(study: Study, setting: Setting, seed: int) -> Recipe:
    """The recipe every cell of ``setting`` and ``seed`` shares (it decides splits, backbone and order)."""
    random = setting.angle == "random"
    return Recipe.build(setting.model, angle=None if random else float(setting.angle),
                        angle_range=RANDOM_RANGE if random else None, seed=int(seed), samples=study.samples,
                        test=study.test, epochs=study.epochs, pretrain=study.pretrain,
                        pretrain_epochs=study.pretrain_epochs, val_frac=study.val_frac, dataset=study.dataset,
                        data_path=study.data_path, frac=methods.DEFAULTS.frac,
                        init_shift=methods.DEFAULTS.init_shift, score_layers=methods.DEFAULTS.score_layers)


def base_config(study: Study, setting: Setting, seed: int) -> dict:
    """The plain values every cell of ``setting`` and ``seed`` shares: its recipe's CELL_RECIPE settings."""
    plain = setting_recipe(study, setting, seed).as_dict()
    return {"format": CELL_FORMAT, **{k: plain[k] for k in CELL_RECIPE}}


def cell_recipe(cell: dict) -> Recipe:
    """The recipe a cell runs: its CELL_RECIPE settings, its step and its kept fraction."""
    keep = {} if cell.get("keep") is None else {cell["method"]: cell["keep"]}
    return Recipe.build(**{k: cell.get(k) if k in KNOB_RECIPE else cell[k] for k in CELL_RECIPE}, keep=keep)


def tune_cells(study: Study, setting: Setting, seed: int) -> list[dict]:
    """Every (method, step) of the registry grids, scored on the validation split of ``seed``."""
    base = base_config(study, setting, seed)
    return [dict(base, kind="tune", method=n, step=s, keep=methods.DEFAULT_KEEP.get(n)) for n in study.methods
            for s in methods.spec(n).grid]


def final_cell(study: Study, setting: Setting, seed: int, method: str, step) -> dict:
    cell = dict(base_config(study, setting, seed), kind="final", method=method, step=step,
                keep=methods.DEFAULT_KEEP.get(method))
    if study.device and methods.spec(method).device:
        cell.update(device=True, device_every=study.device_every)
    return cell


def backbone_key(cell: dict) -> tuple:
    """What decides a cell's backbone: one pretraining per model, seed and pretraining recipe."""
    return (cell["model"], cell["seed"], cell["pretrain"], cell["pretrain_epochs"], cell["dataset"], cell["data_path"])


def cell_key(cell: dict, code: str | None = None) -> str:
    """A stable name for a cell's result file: a hash of its whole config and the code version (this
    process's, unless ``code`` names another), so results of other code are never reused."""
    text = json.dumps({"config": cell, "code": code or code_version()}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def tuning_source(setting: Setting, study: Study) -> Setting:
    """The setting whose tuning cells choose ``setting``'s steps."""
    if setting.tune_from is None:
        return setting
    return next(s for s in study.settings if s.key == setting.tune_from)
