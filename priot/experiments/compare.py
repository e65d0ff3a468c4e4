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
from dataclasses import replace

import click

from m0sim import cachefile
from m0sim.errors import InputError
from m0sim.params import FiniteFloat
from priot import data, methods, train
from priot.errors import PriotError
from priot.recipe import PRETRAIN, Recipe, fit_split


def run_one(recipe: Recipe, name, lr_shift, tuning):
    """Train one method with one shift; accuracy on validation (tuning) or test (final)."""
    qm, adapt, test = recipe.prepare()
    fit, ev = fit_split(adapt, test, recipe.val_frac, tuning)
    m = recipe.make_method(name, qm, lr_shift)
    before = train.accuracy(m, ev.images, ev.labels)
    train.train(m, fit.images, fit.labels, recipe.epoch_orders(len(fit)))
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


def compare(recipe: Recipe, angles, names, jobs, tune=True):
    """Tune then evaluate every method at every angle; returns a list of per-angle results."""
    recipes = [replace(recipe, angle=a) for a in angles]
    for r in recipes:  # build/cache backbones once, before forking workers
        r.prepare()
    out = []
    for a, r in zip(angles, recipes):
        tasks = [(r, n, s, True) for n in names if tune for s in methods.spec(n).grid]
        tuned = _map(jobs, tasks)
        best, grid = {}, {}
        for n in names:
            rows = [r for r in tuned if r["method"] == n]
            grid[n] = {str(r["lr_shift"]): r["after"] for r in rows}
            best[n] = max(rows, key=lambda r: r["after"])["lr_shift"] if rows else None
        final = _map(jobs, [(r, n, best[n], False) for n in names])
        for row in final:
            row["tuning"] = grid[row["method"]]
        label = a if a is not None else "uniform({}, {})".format(*recipe.angle_range)
        out.append({"angle": label, "model": recipe.model, "dataset": recipe.dataset, "rows": final})
    return out


def table(result):
    """Plain-text table of one angle's results."""
    lines = [f"angle {result['angle']}: accuracy on rotated test {data.items(result.get('dataset', 'mnist5k'))}" + (f" ({result['model']})" if "model" in result else ""),
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
@click.option("--score-layers", default=",".join(map(str, methods.DEFAULTS.score_layers)), show_default=True,
              callback=_layers,
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
        recipe = Recipe.build("tiny_cnn", width, seed=seed, epochs=epochs, samples=samples, test=n_test,
                              pretrain=pretrain, val_frac=val_frac, keep={"priot": keep, "priot-s": keep_s}, frac=frac,
                              init_shift=init_shift, score_layers=score_layers, dataset=dataset, data_path=data_path,
                              angle_range=angle_range)
    except PriotError as e:
        raise click.BadParameter(str(e), param_hint="--width") from None
    if angle_range:
        angles = [None]  # one run; every image draws its own angle
    if json_path:
        cachefile.check_writable(json_path, "--json file")
    try:
        results = compare(recipe, angles, names, jobs, tune)
    except PriotError as e:  # bad data or parameters: bad input (exit 2), as every other command
        raise InputError(str(e)) from None
    for r in results:
        click.echo(table(r) + "\n")
    if json_path:
        cachefile.write_text(json_path, json.dumps({"config": dict(recipe.as_dict(), tune=tune), "results": results},
                                                   indent=1, allow_nan=False))
