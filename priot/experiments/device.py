"""``m0sim run priot-s`` (and every other method with a device variant): a method trained on the
emulated Pico, epoch by epoch, in lockstep with the numpy integer model.

Per epoch: accuracy on the device (rotated test digits, inference on the emulated Pico), cycles and
instructions per training step, estimated ms per step at the clock, peak RAM against 264 KB and flash
against 2 MB. Device state is compared bit for bit with the host model every N steps and at every epoch end.
"""

import json
import os
import sys
from pathlib import Path

import click
import numpy as np

from m0sim import cachefile, memmap
from m0sim.errors import InputError
from m0sim.params import FiniteFloatRange
from priot import data, methods, ref
from priot.device import fit, lockstep, phases
from priot.device.lockstep import evaluate
from priot.device.runner import open_device
from priot.errors import PriotError
from priot.models import get_model
from priot.recipe import Recipe

# A device run's settings are a Recipe (priot.recipe): the `m0sim run NAME` options and `run_device` from Python
# (sweeps, notebooks) both build one with Recipe.build; what is left unset is the model's default (data set,
# pretraining, scored layers and fraction, sample counts) or the method's tuned value (keep, lr_shift).
DEVICE_RUN = Recipe.build()  # the defaults the command's options show


def state_bytes(program) -> int:
    """Training state the firmware holds in SRAM, from its symbol table (PRIOT's one-layer mask is scratch)."""
    names = ("priot_scores", "priot_train_w", "priot_rng_counter")
    return sum(program.symbols[n].size for n in names if n in program.symbols)


def memory_report(dev, stack_bytes: int) -> dict:
    fp = dev.machine.program.footprint()
    state = state_bytes(dev.machine.program)
    return {"flash_bytes": fp["flash"], "flash_total": memmap.XIP.size, "static_ram": fp["static_ram"],
            "state_bytes": state, "stack_bytes": stack_bytes, "peak_ram": fp["static_ram"] + stack_bytes,
            "sram_total": memmap.SRAM.size}


def core_speedup(name, recipe: Recipe, qm, x, labels) -> dict:
    """A two-core run's gain: one step, by phase, on a fresh one-core and a fresh two-core device of the same
    method (the second sample of the run, after a warm-up step on the first so the XIP cache is warm)."""
    i = 1 if len(x) > 1 else 0
    measured = {}
    for cores in (1, 2):
        dev = open_device(recipe.make_method(name, qm), recipe.firmware if cores == recipe.cores else None,
                          clock_hz=recipe.clock_hz, cores=cores)
        dev.step(x[0], int(labels[0]))
        infer = dev.infer(x[i]).stats
        measured[cores] = phases.split(dev.step(x[i], int(labels[i])).stats, infer)
    return {"one_core": measured[1], "two_cores": measured[2], "speedup": phases.speedup(measured[1], measured[2])}


def describe_speedup(gain: dict) -> str:
    one, two, x = gain["one_core"], gain["two_cores"], gain["speedup"]
    return "; ".join(f"{k} {one[k]:,.0f} -> {two[k]:,.0f}" + (f" ({x[k]:.2f}x)" if x[k] else "")
                     for k in phases.PHASES + ("step",))


def run_device(name, recipe: Recipe | None = None, echo=click.echo):
    """Train `name` on the device with `recipe` (default: ``Recipe.build()``); returns the report as a dict."""
    recipe = Recipe.build() if recipe is None else recipe
    model = get_model(recipe.model)
    budget = fit.check(model, recipe.variant(name))
    echo(f"{model.name} with {name} fits the Pico: {budget.describe()}")
    qm, adapt, test = recipe.prepare()
    method = recipe.make_method(name, qm)
    lr = method.lr_shift  # the starting shift (the schedule raises it every epoch)
    dev = open_device(method, recipe.firmware, clock_hz=recipe.clock_hz, cores=recipe.cores)
    dev.compare("after priot_init")
    x, labels = ref.to_input(adapt.images), adapt.labels.astype(np.int64)
    xt, lt = ref.to_input(test.images), test.labels.astype(np.int64)
    acc0, _ = evaluate(dev, xt, lt)
    clock = recipe.clock_hz
    gain = None
    if recipe.cores == 2:
        gain = core_speedup(name, recipe, qm, x, labels)
        echo(f"two cores against one, cycles of one step by phase (phases timed on core 0, which waits for "
             f"core 1's share): {describe_speedup(gain)}")
    cores = ", both cores" if recipe.cores == 2 else ""
    echo(f"{name} ({qm.model.name}) on the emulated Pico ({clock / 1e6:g} MHz{cores}): {len(x)} rotated "
         f"{recipe.dataset} {data.items(recipe.dataset)} x {recipe.epochs} "
         f"epochs, angle {recipe.angle:g}, test {len(xt)}; firmware {dev.machine.program.path.name}")
    echo(f"accuracy before training: {100 * acc0:.1f}%")
    orders = recipe.epoch_orders(len(x))

    def progress(e, order):
        return click.progressbar(order, label=f"epoch {e}/{recipe.epochs}", file=sys.stderr, show_pos=True)

    epochs, total_steps, stack = [], 0, 0
    for ep in lockstep.train(dev, x, labels, orders, recipe.validate_every, progress=progress):
        e, n = ep.number, len(ep.results)
        total_steps += n
        stack = max([stack] + [r.stats.stack_bytes for r in ep.results])
        cycles = float(np.mean([r.stats.cycles for r in ep.results]))
        acc, host_acc = evaluate(dev, xt, lt)
        mem = memory_report(dev, stack)
        row = {"epoch": e, "device_accuracy": acc, "host_accuracy": host_acc, "train_accuracy": ep.correct / n,
               "cycles_per_step": cycles, "instructions_per_step": float(np.mean([r.stats.instructions
                                                                                  for r in ep.results])),
               "ms_per_step": cycles / clock * 1e3, "host_seconds_per_step": ep.emulated_seconds / n, **mem}
        epochs.append(row)
        echo(f"epoch {e}: device accuracy {100 * acc:.1f}% (host model {100 * host_acc:.1f}%), "
             f"{row['cycles_per_step']:,.0f} cycles / {row['instructions_per_step']:,.0f} instructions per step "
             f"= {row['ms_per_step']:.1f} ms at {clock / 1e6:g} MHz; RAM peak {mem['peak_ram'] / 1024:.1f} "
             f"of {mem['sram_total'] // 1024} KB (static {mem['static_ram'] / 1024:.1f} incl. state "
             f"{mem['state_bytes'] / 1024:.1f}, stack {mem['stack_bytes'] / 1024:.1f}); flash "
             f"{mem['flash_bytes'] / 1024:.1f} of {mem['flash_total'] // 1024} KB; "
             f"{row['host_seconds_per_step'] * 1e3:.0f} ms host time per step")
    last = epochs[-1]
    summary = {"method": name, "lr_shift": lr, "keep": getattr(method, "keep", None), "accuracy_before": acc0,
               "accuracy_after": last["device_accuracy"],
               "bit_exact": True, "steps": total_steps, **{k: last[k] for k in (
                   "cycles_per_step", "instructions_per_step", "ms_per_step", "host_seconds_per_step", "peak_ram",
                   "static_ram", "state_bytes", "stack_bytes", "flash_bytes")},
               "host_seconds_per_epoch": last["host_seconds_per_step"] * len(x),
               **({"two_cores": gain} if gain else {})}
    echo(f"summary: {name} {100 * acc0:.1f}% -> {100 * summary['accuracy_after']:.1f}% on rotated test {data.items(recipe.dataset)}, "
         f"bit-exact with the numpy model over {total_steps} steps; {summary['ms_per_step']:.1f} ms per step on a "
         f"Pico; peak RAM {summary['peak_ram'] / 1024:.1f} KB (state {summary['state_bytes'] / 1024:.1f} KB); "
         f"{summary['host_seconds_per_epoch']:.0f} s of host time per epoch")
    config = {k: v for k, v in recipe.as_dict().items() if k != "firmware"}
    return {"config": config, "epochs": epochs, "summary": summary}


def _fraction(ctx, param, value):
    if value is not None and not 0.0 < value <= 1.0:
        raise click.BadParameter(f"must be in (0, 1], got {value}")
    return value


def _layers(ctx, param, value):
    if value is None:
        return None
    try:
        return [int(v) for v in value.split(",") if v]
    except ValueError:
        raise click.BadParameter(f"expected parameter-layer indices like 1,2, got {value!r}") from None


def make_command(name: str) -> click.Command:
    """The `m0sim run NAME` command for one method."""

    @click.command(name, help=f"Train {name} on the emulated Pico in lockstep with the numpy integer model.",
                   epilog=f"{data.MNIST5K_NOTE}. The firmware is built on first use (arm-none-eabi-gcc) into "
                          f"$M0SIM_CACHE or ~/.cache/m0sim.")
    @click.option("--model", default=DEVICE_RUN.model, show_default=True,
                  help="Model name, width optional (tiny_cnn, tiny_cnn_x2, vgg11_x0.25; a bare vgg11 is its "
                       "Pico-sized width: the widest whose weights fit the flash).")
    @click.option("--dataset", default=None, type=click.Choice(["mnist5k", "mnist", "fashion", "cifar10"]),
                  help="Data set [model default: mnist5k for the tiny CNN, fashion for VGG11].")
    @click.option("--data-path", default=None, type=click.Path(path_type=Path),
                  help="Its file or directory (cifar10: the cifar-10-batches-py directory).")
    @click.option("--epochs", default=DEVICE_RUN.epochs, show_default=True, type=click.IntRange(1, 100))
    @click.option("--samples", default=None, type=click.IntRange(1), help="Rotated training samples [model default].")
    @click.option("--test", "n_test", default=None, type=click.IntRange(1), help="Rotated test samples [model default].")
    @click.option("--pretrain", default=None, type=click.IntRange(10), help="Upright pretraining samples [model default].")
    @click.option("--angle", default=DEVICE_RUN.angle, show_default=True, type=FiniteFloatRange(-360, 360), help="Rotation in degrees.")
    @click.option("--seed", default=DEVICE_RUN.seed, show_default=True, type=click.IntRange(0, 2**31 - 1))
    @click.option("--keep", default=None, type=float, callback=_fraction,
                  help="Fraction of the scored edges kept (PRIOT, PRIOT-S) [tuned default: "
                       + ", ".join(f"{k} {v}" for k, v in methods.DEFAULT_KEEP.items()) + "].")
    @click.option("--scored-fraction", "frac", default=None, type=float, callback=_fraction,
                  help="PRIOT-S: fraction of each layer's edges that get a score [tiny CNN 0.25; VGG11 the largest "
                       "that fits the Pico].")
    @click.option("--score-layers", default=None, callback=_layers,
                  help="Parameter layers PRIOT/PRIOT-S score [tiny CNN 1,2; VGG11 every layer but the first].")
    @click.option("--score-rounding", "rounding", default=DEVICE_RUN.rounding, show_default=True,
                  type=click.Choice(list(methods.ROUNDINGS)), help="PRIOT, PRIOT-S: rounding of the score update.")
    @click.option("--score-ranking", "ranking", default=DEVICE_RUN.ranking, show_default=True,
                  type=click.Choice(list(methods.RANKINGS)),
                  help="PRIOT, PRIOT-S: keep the top signed scores, or the top |scores| (edge-popup).")
    @click.option("--select", default=None, type=click.Choice([k for k in methods.SELECTIONS if k != "every"]),
                  help="PRIOT-S: which edges get a score, by |w| or a seeded hash [largest].")
    @click.option("--init-shift", default=DEVICE_RUN.init_shift, show_default=True, type=click.IntRange(0, 8), help="Score init |w| << this.")
    @click.option("--lr-shift", default=None, type=click.IntRange(0, 20), help="Learning-rate shift [tuned default].")
    @click.option("--width", default=None, type=click.FloatRange(0, 64, min_open=True),
                  help="Channel width factor of the model (tiny CNN 2: tiny_cnn_x2; VGG11 0.25: vgg11_x0.25); the "
                       "firmware layout follows the model.")
    @click.option("--validate-every", default=DEVICE_RUN.validate_every, show_default=True, type=click.IntRange(0),
                  help="Compare device and host state every N steps (0: only at epoch ends).")
    @click.option("--cores", default=DEVICE_RUN.cores, show_default=True, type=click.IntRange(1, 2),
                  help="2: the two-core firmware on both cores (heavy layer loops split between them); prints the "
                       "speedup of one step per phase against one core. An unset scored fraction is then the largest "
                       "that fits beside the second core.")
    @click.option("--clock-mhz", default=DEVICE_RUN.clock_hz / 1e6, show_default=True, type=FiniteFloatRange(1, 1000))
    @click.option("--firmware", default=None, type=click.Path(dir_okay=False, path_type=Path),
                  help="Use this firmware ELF instead of the cached build of the current sources (not rebuilt).")
    @click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
                  help="Write the per-epoch table and summary here.")
    def command(model, dataset, data_path, epochs, samples, n_test, pretrain, angle, seed, keep, frac, score_layers,
                rounding, ranking, select, init_shift, lr_shift, width, validate_every, cores, clock_mhz, firmware,
                json_path):
        if json_path:
            cachefile.check_writable(json_path, "--json file")
        try:  # --model vgg11 --width 0.25 is vgg11_x0.25
            recipe = Recipe.build(model, width, dataset=dataset, data_path=data_path, seed=seed, epochs=epochs,
                                  samples=samples, test=n_test, pretrain=pretrain, angle=angle,
                                  keep={} if keep is None else {name: keep}, frac=frac, score_layers=score_layers,
                                  rounding=rounding, ranking=ranking, select=select,
                                  init_shift=init_shift, lr_shift=lr_shift, validate_every=validate_every,
                                  clock_hz=int(clock_mhz * 1e6), firmware=firmware, cores=cores)
            report = run_device(name, recipe)
        except PriotError as exc:  # bad data or parameters: m0sim reports it as bad input (exit 2)
            raise InputError(str(exc)) from None
        if json_path:
            cachefile.write_text(json_path, json.dumps(report, indent=1, allow_nan=False, default=os.fspath))

    return command


priot_s = make_command("priot-s")
priot = make_command("priot")
sgd_all = make_command("sgd-all")
sgd_last = make_command("sgd-last")
niti_dynamic = make_command("niti-dynamic")
niti_all = make_command("niti-all")
niti_last = make_command("niti-last")
floor_all = make_command("floor-all")
floor_last = make_command("floor-last")
rtn_all = make_command("rtn-all")
rtn_last = make_command("rtn-last")
none = make_command("none")
