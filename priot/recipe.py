"""A run's recipe: every setting that decides its data, backbone and training, as one frozen value.

Every command (``m0sim run NAME``, ``compare``, ``cost``), the study's cells, the shipped backbones and the
tests build their settings with ``Recipe.build(model=..., **overrides)``: it parses the model name (and width)
once, fills what is left unset from the model's defaults (``MODEL_DEFAULTS``) and refuses an unknown setting.
A recipe is small and picklable (the study ships it to Dask workers as a cell's plain values).

Layer: above ``priot.device`` (a bare ``vgg11`` is its Pico-sized width, and its default PRIOT-S scored
fraction is the largest that fits, both from ``priot.device.fit``) and below ``priot.experiments``; only the
experiments, commands (``__main__`` modules) and tests import it.
"""

from dataclasses import asdict, dataclass, fields

import numpy as np

from m0sim import memmap
from priot import backbones, data, methods, quant, rotate, train
from priot.device import fit
from priot.errors import ConfigError
from priot.models import get_model, split_name

# The backbone every experiment adapts (it keys the cache, so host and device runs share it): pretrained on
# 3,000 upright digits for 4 epochs, its static scales calibrated on up to 300 of them.
PRETRAIN = 3000
PRETRAIN_EPOCHS = 4
MAX_CALIB = 300


@dataclass(frozen=True)
class ModelDefaults:
    """What depends on the model (keyed by the registry name without width): the data it adapts on offline, its
    backbone's pretraining (upright images, epochs, float learning rate; None = pretrain's default), the layers
    PRIOT scores (None: every layer but the first), the device runs' sample counts (a VGG11 step on the emulated
    Pico costs about 100 tiny-CNN steps) and PRIOT-S's scored fraction (None: the largest that fits the Pico)."""

    dataset: str
    pretrain: int
    pretrain_epochs: int
    pretrain_lr: float | None
    score_layers: tuple | None
    samples: int
    test: int
    frac: float | None


MODEL_DEFAULTS = {
    "tiny_cnn": ModelDefaults("mnist5k", PRETRAIN, PRETRAIN_EPOCHS, None, methods.DEFAULTS.score_layers, 500, 300,
                              methods.DEFAULTS.frac),
    "vgg11": ModelDefaults("fashion", 3000, 2, 0.02, None, 100, 20, None),
}


def model_defaults(name: str) -> ModelDefaults:
    """MODEL_DEFAULTS of a model name with or without its width (``vgg11_x0.25`` -> vgg11's)."""
    get_model(name)  # an unknown model is refused with the list of known ones
    return MODEL_DEFAULTS[split_name(name)[0]]


def calib_digits(n_pretrain: int) -> int:
    """Calibration images for the static scales: the first of the pretraining split, at most MAX_CALIB."""
    return min(MAX_CALIB, n_pretrain)


_FILLED = ("dataset", "pretrain", "pretrain_epochs", "calib", "samples", "test", "frac")


@dataclass(frozen=True)
class Recipe:
    """One run's settings. Build it with ``Recipe.build``; ``dataclasses.replace`` gives a variation (another
    angle) of a built one."""

    model: str = "tiny_cnn"  # registry name with width (tiny_cnn_x2, vgg11_x0.25)
    dataset: str | None = None
    data_path: str | None = None
    pretrain: int | None = None  # upright pretraining images
    pretrain_epochs: int | None = None
    pretrain_lr: float | None = None
    calib: int | None = None  # calibration images (the first of the pretraining split)
    seed: int = 0  # splits, pretraining and sample order
    samples: int | None = None  # rotated adaptation images
    test: int | None = None  # rotated test images
    angle: float | None = 45.0  # None: every image its own angle from angle_range
    angle_range: tuple | None = None
    val_frac: float = 0.2  # the adaptation data's validation split when tuning
    epochs: int = 3
    frac: float | None = None  # PRIOT-S scored fraction
    score_layers: tuple | None = None  # layers PRIOT scores (None: every layer but the first)
    init_shift: int = methods.DEFAULTS.init_shift
    rounding: str = "nearest"  # PRIOT's score rounding (methods.ROUNDINGS)
    ranking: str = "signed"  # PRIOT's score ranking (methods.RANKINGS)
    select: str | None = None  # PRIOT-S's selection rule (None: the registry's, largest |w|)
    keep: tuple = ()  # (method, kept fraction) pairs; a method not listed keeps its tuned fraction
    lr_shift: int | None = None  # None: each method's tuned step
    validate_every: int = 50  # device runs: compare state every N steps (0: epoch ends only)
    clock_hz: int = memmap.CLOCK_HZ
    firmware: str | None = None  # device runs: this ELF instead of the cached build

    def __post_init__(self):
        missing = [k for k in _FILLED if getattr(self, k) is None]
        if missing:
            raise ConfigError(f"recipe without {', '.join(missing)}: build it with Recipe.build")

    @classmethod
    def build(cls, model: str = "tiny_cnn", width: float | None = None, **overrides) -> "Recipe":
        """The recipe of ``model`` (``width``: its channel width factor) with ``overrides``; a setting left None
        is the model's default. An unknown setting is an error, not silently ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(f"unknown recipe setting(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        name = get_model(model, width).name if width is not None else model
        name = fit.resolve(name).name  # a bare vgg11 is its Pico-sized width
        given = {k: v for k, v in overrides.items() if v is not None}
        own = model_defaults(name)
        for k in ("dataset", "pretrain", "pretrain_epochs", "pretrain_lr", "score_layers", "samples", "test"):
            given.setdefault(k, getattr(own, k))
        if given.get("frac") is None:  # the model's, else the largest PRIOT-S fraction that fits (or the default)
            given["frac"] = own.frac or fit.largest_fraction(get_model(name), given["score_layers"]) \
                or methods.DEFAULTS.frac
        given.setdefault("calib", calib_digits(given["pretrain"]))
        for k in ("angle_range", "score_layers"):
            if given.get(k) is not None:
                given[k] = tuple(given[k])
        for k in ("data_path", "firmware"):
            if given.get(k) is not None:
                given[k] = str(given[k])
        if "angle" in overrides and overrides["angle"] is None:  # the random-angle setting
            given["angle"] = None
        given["keep"] = tuple(sorted(dict(given.get("keep", ())).items()))
        methods.variant("priot-s", None, None, given.get("rounding"), given.get("ranking"), given.get("select"))  # refuse a bad knob now
        return cls(model=name, **given)

    # --- data and backbone --------------------------------------------------------------------------------
    def backbone_key(self, ds=None) -> tuple[dict, int]:
        """(backbone recipe, pretraining seed): what keys the backbone in the cache and the shipped files. Data
        read from a ``data_path`` are keyed by their content (``ds``, the loaded data, else read here), not by
        the path's spelling: a relative and an absolute path to the same files share one backbone. The built-in
        data keep the key "None" (the shipped backbones' names depend on it)."""
        if self.data_path is None:
            data_key = "None"
        else:
            loaded = ds if ds is not None else data.load_dataset(self.dataset, self.data_path)
            data_key = "sha256:" + loaded.fingerprint()
        key = {"model": self.model, "dataset": self.dataset, "data_path": data_key, "seed": self.seed,
               "epochs": self.pretrain_epochs, "n_pretrain": self.pretrain, "n_calib": self.calib}
        if self.pretrain_lr is not None:  # only set for models that need it: the tiny CNN's cache key stays
            key["lr"] = self.pretrain_lr
        return key, self.seed + 1

    def splits(self, ds=None):
        """(upright pretraining, rotated adaptation, rotated test) splits of the data set."""
        ds = data.load_dataset(self.dataset, self.data_path) if ds is None else ds
        return rotate.make_splits(ds, self.pretrain, self.samples, self.test, np.random.default_rng(self.seed),
                                  angle=self.angle, angle_range=self.angle_range,
                                  shape=get_model(self.model).input_shape)

    def prepare(self):
        """(quantized backbone, rotated adaptation split, rotated test split)."""
        ds = data.load_dataset(self.dataset, self.data_path)
        pre, adapt, test = self.splits(ds)
        return backbones.backbone(pre, *self.backbone_key(ds)), adapt, test

    # --- training ------------------------------------------------------------------------------------------
    def keep_for(self, name: str) -> float | None:
        return dict(self.keep).get(name)

    def variant(self, name: str) -> methods.Variant:
        """Method ``name``'s firmware variant with this recipe's scored fraction, layers and score knobs."""
        return methods.variant(name, self.frac, self.score_layers, self.rounding, self.ranking, self.select)

    def make_method(self, name: str, qm, step: int | None = None):
        """Method ``name`` on backbone ``qm`` with this recipe's knobs (``step``: its learning-rate shift or mu;
        None: the recipe's, else the method's tuned one)."""
        return methods.make(name, qm, lr_shift=self.lr_shift if step is None else step, seed=self.seed,
                            keep=self.keep_for(name), frac=self.frac, init_shift=self.init_shift,
                            layers=None if self.score_layers is None else list(self.score_layers),
                            rounding=self.rounding, ranking=self.ranking, select=self.select)

    def epoch_orders(self, n: int):
        """The sample order of every epoch (the same for every method of one seed)."""
        return train.epoch_orders(n, self.epochs, np.random.default_rng(self.seed + 2))

    def as_dict(self) -> dict:
        """Plain JSON values (tuples as lists), for reports."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def fit_split(adapt, test, val_frac, tuning):
    """(train, evaluate) sets: for tuning, the adaptation data minus its last ``val_frac`` and that validation
    split; otherwise all adaptation data and the test split (never seen while tuning)."""
    if not tuning:
        return adapt, test
    n_fit = len(adapt) - int(round(val_frac * len(adapt)))
    return adapt.subset(np.arange(n_fit)), adapt.subset(np.arange(n_fit, len(adapt)))


def default_backbones() -> list[tuple[dict, object]]:
    """(full backbone config, upright pretraining split) of every shipped backbone: the default recipe's (the
    device runs' defaults, `make run`; compare and cost share its backbone)."""
    out = []
    for r in (Recipe.build(),):
        key, rng_seed = r.backbone_key()
        out.append((quant.full_config(key, rng_seed), r.splits()[0]))
    return out
