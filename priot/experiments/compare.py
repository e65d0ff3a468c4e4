"""``m0sim run compare``: every method on rotated MNIST on the host, with learning-rate tuning.

For each angle: the quantized backbone (pretrained on upright digits, cached) is adapted on
rotated digits. Each method's learning-rate shift is tuned on a validation split of the
rotated training data (train on the rest, same epochs), then the method is retrained on the
whole rotated training split with its best shift and tested on disjoint rotated test digits.
Every method sees the same samples in the same order (same sample budget).
"""

import json
import math
import os
from concurrent.futures import ProcessPoolExecutor

import click
import numpy as np

from m0sim import cachefile
from m0sim.errors import InputError
from m0sim.params import FiniteFloat
from priot import data, methods, quant, rotate, train
from priot.errors import PriotError
from priot.models import get_model, split_name


# The backbone every experiment adapts (it keys the cache, so host and device runs share it): pretrained on
# 3,000 upright digits for 4 epochs, its static scales calibrated on up to 300 of them.
PRETRAIN = 3000
PRETRAIN_EPOCHS = 4
SCORE_LAYERS = list(methods.DEFAULTS.score_layers)

# What depends on the model (keyed by the registry name without width): the data it adapts on offline, its
# backbone's pretraining (upright images, epochs, float learning rate; None = pretrain's default), the layers
# PRIOT scores (None: every layer but the first) and the device runs' sample counts (a VGG11 step on the
# emulated Pico costs about 100 tiny-CNN steps).
MODEL_DEFAULTS = {
    "tiny_cnn": {"dataset": "mnist5k", "pretrain": PRETRAIN, "pretrain_epochs": PRETRAIN_EPOCHS, "pretrain_lr": None,
                 "score_layers": SCORE_LAYERS, "samples": 500, "test": 300, "frac": methods.DEFAULT_FRAC},
    # frac None: on the device, the largest PRIOT-S scored fraction that fits the Pico (priot.device.fit)
    "vgg11": {"dataset": "fashion", "pretrain": 3000, "pretrain_epochs": 2, "pretrain_lr": 0.02,
              "score_layers": None, "samples": 100, "test": 20, "frac": None},
}


def model_defaults(name: str) -> dict:
    """MODEL_DEFAULTS of a model name with or without its width (``vgg11_x0.25`` -> vgg11's)."""
    get_model(name)  # an unknown model is refused with the list of known ones
    return MODEL_DEFAULTS[split_name(name)[0]]


def calib_digits(n_pretrain: int) -> int:
    return min(300, n_pretrain)


def prepare(cfg, angle):
    """(backbone, rotated adapt split, rotated test split) for one angle."""
    model = get_model(cfg.get("model", "tiny_cnn"))
    ds = data.load_dataset(cfg["dataset"], cfg["data_path"])
    n_test = cfg["test"]
    pre, adapt, test = rotate.make_splits(ds, cfg["pretrain"], cfg["samples"], n_test,
                                          np.random.default_rng(cfg["seed"]), angle=angle,
                                          angle_range=cfg["angle_range"], shape=model.input_shape)
    return quant.backbone(pre, *prepare_key(cfg, ds)), adapt, test


def prepare_key(cfg, ds=None):
    """(backbone recipe, pretraining seed) of an experiment config: what keys its backbone. Data read from a
    ``data_path`` are keyed by their content (``ds``, the loaded data, else read here), not by the path's
    spelling: a relative and an absolute path to the same files share one backbone. The built-in data keep the
    key "None" (the shipped backbones' names depend on it)."""
    if cfg["data_path"] is None:
        data_key = "None"
    else:
        loaded = ds if ds is not None else data.load_dataset(cfg["dataset"], cfg["data_path"])
        data_key = "sha256:" + loaded.fingerprint()
    key = {"model": get_model(cfg.get("model", "tiny_cnn")).name, "dataset": cfg["dataset"],
           "data_path": data_key, "seed": cfg["seed"],
           "epochs": cfg["pretrain_epochs"], "n_pretrain": cfg["pretrain"], "n_calib": cfg["calib"]}
    if cfg.get("pretrain_lr") is not None:  # only set for models that need it: the tiny CNN's cache key stays
        key["lr"] = cfg["pretrain_lr"]
    return key, cfg["seed"] + 1


def pretraining_split(cfg):
    """The upright pretraining images of an experiment config (the first split `prepare` makes)."""
    ds = data.load_dataset(cfg["dataset"], cfg["data_path"])
    return rotate.make_splits(ds, cfg["pretrain"], cfg["samples"], cfg["test"], np.random.default_rng(cfg["seed"]),
                              angle=cfg.get("angle", 45.0), angle_range=cfg["angle_range"],
                              shape=get_model(cfg.get("model", "tiny_cnn")).input_shape)[0]


def adapt_split(adapt, test, val_frac, tuning):
    """(train, evaluate) sets: for tuning, the adaptation data minus its last ``val_frac`` and that validation
    split; otherwise all adaptation data and the test split (never seen while tuning)."""
    if not tuning:
        return adapt, test
    n_fit = len(adapt) - int(round(val_frac * len(adapt)))
    return adapt.subset(np.arange(n_fit)), adapt.subset(np.arange(n_fit, len(adapt)))


def run_one(cfg, angle, name, lr_shift, tuning):
    """Train one method with one shift; accuracy on validation (tuning) or test (final)."""
    qm, adapt, test = prepare(cfg, angle)
    fit, ev = adapt_split(adapt, test, cfg["val_frac"], tuning)
    m = methods.make(name, qm, lr_shift=lr_shift, seed=cfg["seed"], keep=cfg["keep_s"] if name == "priot-s"
                     else cfg["keep"], frac=cfg["frac"], init_shift=cfg["init_shift"], layers=cfg["score_layers"])
    before = train.accuracy(m, ev.images, ev.labels)
    orders = train.epoch_orders(len(fit), cfg["epochs"], np.random.default_rng(cfg["seed"] + 2))
    train.train(m, fit.images, fit.labels, orders)
    return {"method": name, "lr_shift": lr_shift, "before": before, "after": train.accuracy(m, ev.images, ev.labels),
            "state_bytes": m.state_bytes()}


def _call(args):
    return run_one(*args)


def _map(jobs, tasks):
    """Run tasks in ``jobs`` processes (deterministic results: each task seeds itself)."""
    if jobs <= 1:
        return [_call(t) for t in tasks]
    with ProcessPoolExecutor(jobs) as ex:
        return list(ex.map(_call, tasks))


def compare(cfg, angles, names, jobs):
    """Tune then evaluate every method at every angle; returns a list of per-angle results."""
    for a in angles:  # build/cache backbones once, before forking workers
        prepare(cfg, a)
    out = []
    for a in angles:
        tasks = [(cfg, a, n, s, True) for n in names if cfg["tune"] for s in methods.spec(n).grid]
        tuned = _map(jobs, tasks)
        best, grid = {}, {}
        for n in names:
            rows = [r for r in tuned if r["method"] == n]
            grid[n] = {str(r["lr_shift"]): r["after"] for r in rows}
            best[n] = max(rows, key=lambda r: r["after"])["lr_shift"] if rows else None
        final = _map(jobs, [(cfg, a, n, best[n], False) for n in names])
        for r in final:
            r["tuning"] = grid[r["method"]]
        label = a if a is not None else "uniform({}, {})".format(*cfg["angle_range"])
        out.append({"angle": label, "model": cfg.get("model", "tiny_cnn"), "rows": final})
    return out


def table(result):
    """Plain-text table of one angle's results."""
    lines = [f"angle {result['angle']}: accuracy on rotated test digits" + (f" ({result['model']})" if "model" in result else ""),
             f"{'method':<14}{'lr_shift':>9}{'before':>8}{'after':>8}{'state B':>9}  validation accuracy per lr_shift"]
    for r in result["rows"]:
        tune = " ".join(f"{k}:{v:.3f}" for k, v in r["tuning"].items())
        lines.append(f"{r['method']:<14}{str(r['lr_shift']):>9}{100 * r['before']:>8.1f}{100 * r['after']:>8.1f}"
                     f"{r['state_bytes']:>9}  {tune}")
    return "\n".join(lines)


def _names(ctx, param, value):
    names = [n for v in value for n in v.split(",") if n] or list(methods.METHODS)
    known = methods.METHODS
    bad = [n for n in names if n not in known]
    if bad:
        raise click.BadParameter(f"unknown method {bad[0]!r} (choose from {', '.join(known)})")
    return names


def _angles(ctx, param, value):
    try:
        angles = [float(a) for v in value for a in str(v).split(",") if a] or [45.0]
    except ValueError:
        raise click.BadParameter(f"angles must be numbers, got {value!r}") from None
    if not all(math.isfinite(a) for a in angles):
        raise click.BadParameter(f"angles must be finite numbers, got {value!r}")
    return angles


def _layers(ctx, param, value):
    if value == "all":
        return [0, 1, 2]
    try:
        return [int(v) for v in value.split(",") if v]
    except ValueError:
        raise click.BadParameter(f"expected layer indices like 1,2 or 'all', got {value!r}") from None


@click.command("compare", epilog=data.MNIST5K_NOTE + ".")
@click.option("--host", is_flag=True, help="Run on the host (numpy integer model); the only mode so far.")
@click.option("--angle", "angles", multiple=True, callback=_angles, help="Rotation angle(s) in degrees, repeatable or comma list [45].")
@click.option("--angle-range", nargs=2, type=FiniteFloat(), default=None, help="Random angle per image, uniform in LO HI (overrides --angle).")
@click.option("--methods", "names", multiple=True, callback=_names, help="Methods, comma list [every registered method].")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**32 - 1))
@click.option("--epochs", default=3, show_default=True, type=click.IntRange(1, 100))
@click.option("--samples", default=1000, show_default=True, type=click.IntRange(10), help="Rotated training digits.")
@click.option("--test", "n_test", default=1000, show_default=True, type=click.IntRange(10), help="Rotated test digits.")
@click.option("--pretrain", default=PRETRAIN, show_default=True, type=click.IntRange(10), help="Upright pretraining digits.")
@click.option("--val-frac", default=0.2, show_default=True, type=click.FloatRange(0.05, 0.5))
@click.option("--keep", default=methods.DEFAULT_KEEP["priot"], show_default=True, type=click.FloatRange(0, 1), help="PRIOT keep fraction.")
@click.option("--keep-s", default=methods.DEFAULT_KEEP["priot-s"], show_default=True, type=click.FloatRange(0, 1), help="PRIOT-S keep fraction of scored edges.")
@click.option("--frac", default=methods.DEFAULT_FRAC, show_default=True, type=click.FloatRange(0.001, 1), help="PRIOT-S scored fraction.")
@click.option("--init-shift", default=methods.DEFAULT_INIT_SHIFT, show_default=True, type=click.IntRange(0, 8), help="Score init |w| << this.")
@click.option("--score-layers", default=",".join(map(str, SCORE_LAYERS)), show_default=True, callback=_layers,
              help="Parameter layers PRIOT/PRIOT-S score (comma list of indices, or 'all').")
@click.option("--tune/--no-tune", default=True, show_default=True, help="Tune each lr_shift on validation data.")
@click.option("--width", default=1.0, show_default=True, type=click.FloatRange(0, 64, min_open=True),
              help="Channel width factor of the tiny CNN (2: tiny_cnn_x2, with its own backbone).")
@click.option("--dataset", default="mnist5k", show_default=True, type=click.Choice(["mnist5k", "mnist", "fashion"]))
@click.option("--data-path", default=None, help="Dataset file or directory (mnist/fashion).")
@click.option("--jobs", default=os.cpu_count() or 1, show_default=True, type=click.IntRange(1, 64))
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False), help="Also write results as JSON.")
def experiment(host, angles, angle_range, names, seed, epochs, samples, n_test, pretrain, val_frac, keep, keep_s,
               frac, init_shift, score_layers, tune, width, dataset, data_path, jobs, json_path):
    """Train every method on rotated digits on the host; print accuracy before/after and state bytes."""
    try:
        model = get_model("tiny_cnn", width).name
    except PriotError as e:
        raise click.BadParameter(str(e), param_hint="--width") from None
    cfg = {"model": model, "seed": seed, "epochs": epochs, "samples": samples, "test": n_test, "pretrain": pretrain,
           "calib": calib_digits(pretrain), "pretrain_epochs": PRETRAIN_EPOCHS, "val_frac": val_frac, "keep": keep, "keep_s": keep_s,
           "frac": frac, "init_shift": init_shift, "score_layers": score_layers, "tune": tune, "dataset": dataset, "data_path": data_path,
           "angle_range": tuple(angle_range) if angle_range else None}
    if angle_range:
        angles = [None]  # one run; every image draws its own angle
    if json_path:
        cachefile.check_writable(json_path, "--json file")
    try:
        results = compare(cfg, angles, names, jobs)
    except PriotError as e:  # bad data or parameters: bad input (exit 2), as every other command
        raise InputError(str(e)) from None
    for r in results:
        click.echo(table(r) + "\n")
    if json_path:
        cachefile.write_text(json_path, json.dumps({"config": cfg, "results": results}, indent=1, allow_nan=False))
