"""``m0sim run priot-s`` (and every other method with a device variant): a method trained on the
emulated Pico, epoch by epoch, in lockstep with the numpy integer model.

Per epoch: accuracy on the device (rotated test digits, inference on the emulated Pico), cycles and
instructions per training step, estimated ms per step at the clock, peak RAM against 264 KB and flash
against 2 MB. Device state is compared bit for bit with the host model every N steps and at every epoch end.
"""

import json
import os
import sys
import time
from pathlib import Path

import click
import numpy as np

from m0sim import cachefile, memmap
from m0sim.errors import InputError
from m0sim.params import FiniteFloatRange
from priot import data, methods, ref, train
from priot.device import fit
from priot.device.runner import open_device
from priot.errors import ConfigError, PriotError
from priot.models import get_model
from priot.experiments.compare import calib_digits, model_defaults, prepare

# A device run's configuration with its defaults: the `m0sim run NAME` options and `run_device` from Python
# (sweeps, notebooks) both start here. keep/lr_shift None: the method's tuned values (priot.methods).
# None: the model's value (compare.MODEL_DEFAULTS: data set, pretraining, scored layers, sample counts).
DEFAULTS = {"model": "tiny_cnn", "epochs": 3, "samples": None, "test": None, "pretrain": None, "angle": 45.0,
            "seed": 0, "keep": None, "frac": None, "score_layers": None,
            "init_shift": methods.DEFAULT_INIT_SHIFT, "lr_shift": None, "validate_every": 50,
            "clock_hz": memmap.CLOCK_HZ, "firmware": None, "dataset": None, "data_path": None,
            # not options of the command: the backbone's pretraining
            "angle_range": None, "pretrain_epochs": None, "pretrain_lr": None, "val_frac": 0.2}


def config(**overrides) -> dict:
    """DEFAULTS with `overrides`, the model's own defaults filling what is left None; an unknown key is an
    error rather than silently ignored. A bare ``vgg11`` is its Pico-sized width (``fit.resolve``)."""
    unknown = sorted(set(overrides) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown device-run setting(s) {', '.join(unknown)} (known: {', '.join(DEFAULTS)})")
    cfg = {**DEFAULTS, **overrides}
    cfg["model"] = fit.resolve(cfg["model"]).name
    own = model_defaults(cfg["model"])
    for k, v in own.items():
        if cfg.get(k) is None:
            cfg[k] = v
    if cfg["frac"] is None:  # the largest PRIOT-S scored fraction that fits (the default's refusal if none does)
        cfg["frac"] = fit.largest_fraction(get_model(cfg["model"]), cfg["score_layers"]) or methods.DEFAULT_FRAC
    cfg["calib"] = calib_digits(cfg["pretrain"])  # calibration digits come from the pretraining split
    return cfg


def state_bytes(program) -> int:
    """Training state the firmware holds in SRAM, from its symbol table (PRIOT's one-layer mask is scratch)."""
    names = ("priot_scores", "priot_train_w", "priot_rng_counter")
    return sum(program.symbols[n].size for n in names if n in program.symbols)


def evaluate(dev, x, labels):
    """Device accuracy on int8 inputs; also checks every logit against the host model."""
    correct = 0
    for i in range(len(x)):
        correct += int(dev.infer(x[i]).predicted == labels[i])
    host = dev.method.predict(x)
    dev.compare_logits(x[-1], "test-set inference")
    return correct / len(x), float((host.argmax(1) == labels).mean())


def memory_report(dev, stack_bytes: int) -> dict:
    fp = dev.machine.program.footprint()
    state = state_bytes(dev.machine.program)
    return {"flash_bytes": fp["flash"], "flash_total": memmap.XIP.size, "static_ram": fp["static_ram"],
            "state_bytes": state, "stack_bytes": stack_bytes, "peak_ram": fp["static_ram"] + stack_bytes,
            "sram_total": memmap.SRAM.size}


def run_device(name, cfg=None, echo=click.echo):
    """Train `name` on the device with `cfg` (from `config()`; default: DEFAULTS); returns the report as a dict."""
    cfg = config() if cfg is None else cfg
    model = get_model(cfg["model"])
    frac = cfg["frac"] if name == "priot-s" else 1.0
    budget = fit.check(model, name, frac, cfg["score_layers"] if name.startswith("priot") else None)
    echo(f"{model.name} with {name} fits the Pico: {budget.describe()}")
    qm, adapt, test = prepare(cfg, cfg["angle"])
    method = methods.make(name, qm, lr_shift=cfg["lr_shift"], seed=cfg["seed"], keep=cfg["keep"], frac=cfg["frac"],
                          init_shift=cfg["init_shift"], layers=cfg["score_layers"])
    lr = getattr(method, "lr_shift", None)  # the starting shift (the schedule raises it every epoch)
    dev = open_device(method, cfg["firmware"], clock_hz=cfg["clock_hz"])
    dev.compare("after priot_init")
    x, labels = ref.to_input(adapt.images), adapt.labels.astype(np.int64)
    xt, lt = ref.to_input(test.images), test.labels.astype(np.int64)
    acc0, _ = evaluate(dev, xt, lt)
    echo(f"{name} ({qm.model.name}) on the emulated Pico ({cfg['clock_hz'] / 1e6:g} MHz): {len(x)} rotated "
         f"{cfg['dataset']} images x {cfg['epochs']} "
         f"epochs, angle {cfg['angle']:g}, test {len(xt)}; firmware {dev.machine.program.path.name}")
    echo(f"accuracy before training: {100 * acc0:.1f}%")
    orders = train.epoch_orders(len(x), cfg["epochs"], np.random.default_rng(cfg["seed"] + 2))
    method.begin(len(orders))  # before the first step: schedules that depend on the run's length (NITI's mu)
    if getattr(method, "lr_shift", None) is not None and method.lr_shift != lr:
        dev.set_lr_shift(method.lr_shift)
    every = cfg["validate_every"]
    epochs, total_steps, stack = [], 0, 0
    for e, order in enumerate(orders, 1):
        cycles, insns, correct, t_emul = [], [], 0, 0.0
        with click.progressbar(order, label=f"epoch {e}/{cfg['epochs']}", file=sys.stderr,
                               show_pos=True) as bar:
            for i in bar:
                t0 = time.perf_counter()
                r = dev.step(x[i], int(labels[i]))
                t_emul += time.perf_counter() - t0
                method.step(x[i], int(labels[i]))
                total_steps += 1
                correct += int(r.predicted == labels[i])
                cycles.append(r.stats.cycles)
                insns.append(r.stats.instructions)
                stack = max(stack, r.stats.stack_bytes)
                if every and total_steps % every == 0:
                    dev.compare(f"epoch {e}, step {total_steps}")
        dev.compare(f"end of epoch {e}")
        method.end_epoch()
        if getattr(method, "lr_shift", None) is not None:
            dev.set_lr_shift(method.lr_shift)
        acc, host_acc = evaluate(dev, xt, lt)
        mem = memory_report(dev, stack)
        row = {"epoch": e, "device_accuracy": acc, "host_accuracy": host_acc, "train_accuracy": correct / len(order),
               "cycles_per_step": float(np.mean(cycles)), "instructions_per_step": float(np.mean(insns)),
               "ms_per_step": float(np.mean(cycles)) / cfg["clock_hz"] * 1e3,
               "host_seconds_per_step": t_emul / len(order), **mem}
        epochs.append(row)
        echo(f"epoch {e}: device accuracy {100 * acc:.1f}% (host model {100 * host_acc:.1f}%), "
             f"{row['cycles_per_step']:,.0f} cycles / {row['instructions_per_step']:,.0f} instructions per step "
             f"= {row['ms_per_step']:.1f} ms at {cfg['clock_hz'] / 1e6:g} MHz; RAM peak {mem['peak_ram'] / 1024:.1f} "
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
               "host_seconds_per_epoch": last["host_seconds_per_step"] * len(x)}
    echo(f"summary: {name} {100 * acc0:.1f}% -> {100 * summary['accuracy_after']:.1f}% on rotated test digits, "
         f"bit-exact with the numpy model over {total_steps} steps; {summary['ms_per_step']:.1f} ms per step on a "
         f"Pico; peak RAM {summary['peak_ram'] / 1024:.1f} KB (state {summary['state_bytes'] / 1024:.1f} KB); "
         f"{summary['host_seconds_per_epoch']:.0f} s of host time per epoch")
    return {"config": {k: v for k, v in cfg.items() if k != "firmware"}, "epochs": epochs, "summary": summary}


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
    @click.option("--model", default=DEFAULTS["model"], show_default=True,
                  help="Model name, width optional (tiny_cnn, tiny_cnn_x2, vgg11_x0.25; a bare vgg11 is its "
                       "Pico-sized width: the widest whose weights fit the flash).")
    @click.option("--dataset", default=None, type=click.Choice(["mnist5k", "mnist", "fashion", "cifar10"]),
                  help="Data set [model default: mnist5k for the tiny CNN, fashion for VGG11].")
    @click.option("--data-path", default=None, type=click.Path(path_type=Path),
                  help="Its file or directory (cifar10: the cifar-10-batches-py directory).")
    @click.option("--epochs", default=DEFAULTS["epochs"], show_default=True, type=click.IntRange(1, 100))
    @click.option("--samples", default=None, type=click.IntRange(1), help="Rotated training samples [model default].")
    @click.option("--test", "n_test", default=None, type=click.IntRange(1), help="Rotated test samples [model default].")
    @click.option("--pretrain", default=None, type=click.IntRange(10), help="Upright pretraining samples [model default].")
    @click.option("--angle", default=DEFAULTS["angle"], show_default=True, type=FiniteFloatRange(-360, 360), help="Rotation in degrees.")
    @click.option("--seed", default=DEFAULTS["seed"], show_default=True, type=click.IntRange(0, 2**31 - 1))
    @click.option("--keep", default=None, type=float, callback=_fraction,
                  help="Fraction of the scored edges kept (PRIOT, PRIOT-S) [tuned default: "
                       + ", ".join(f"{k} {v}" for k, v in methods.DEFAULT_KEEP.items()) + "].")
    @click.option("--scored-fraction", "frac", default=None, type=float, callback=_fraction,
                  help="PRIOT-S: fraction of each layer's edges that get a score [tiny CNN 0.25; VGG11 the largest "
                       "that fits the Pico].")
    @click.option("--score-layers", default=None, callback=_layers,
                  help="Parameter layers PRIOT/PRIOT-S score [tiny CNN 1,2; VGG11 every layer but the first].")
    @click.option("--init-shift", default=DEFAULTS["init_shift"], show_default=True, type=click.IntRange(0, 8), help="Score init |w| << this.")
    @click.option("--lr-shift", default=None, type=click.IntRange(0, 20), help="Learning-rate shift [tuned default].")
    @click.option("--width", default=None, type=click.FloatRange(0, 64, min_open=True),
                  help="Channel width factor of the model (tiny CNN 2: tiny_cnn_x2; VGG11 0.25: vgg11_x0.25); the "
                       "firmware layout follows the model.")
    @click.option("--validate-every", default=DEFAULTS["validate_every"], show_default=True, type=click.IntRange(0),
                  help="Compare device and host state every N steps (0: only at epoch ends).")
    @click.option("--clock-mhz", default=DEFAULTS["clock_hz"] / 1e6, show_default=True, type=FiniteFloatRange(1, 1000))
    @click.option("--firmware", default=None, type=click.Path(dir_okay=False, path_type=Path),
                  help="Use this firmware ELF instead of the cached build of the current sources (not rebuilt).")
    @click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
                  help="Write the per-epoch table and summary here.")
    def command(model, dataset, data_path, epochs, samples, n_test, pretrain, angle, seed, keep, frac, score_layers,
                init_shift, lr_shift, width, validate_every, clock_mhz, firmware, json_path):
        if json_path:
            cachefile.check_writable(json_path, "--json file")
        try:
            if width is not None:  # --model vgg11 --width 0.25 is vgg11_x0.25
                model = get_model(model, width).name
            cfg = config(model=model, dataset=dataset, data_path=data_path, seed=seed, epochs=epochs, samples=samples,
                         test=n_test, pretrain=pretrain, angle=angle,
                         keep=keep, frac=frac, score_layers=score_layers, init_shift=init_shift, lr_shift=lr_shift,
                         validate_every=validate_every, clock_hz=int(clock_mhz * 1e6), firmware=firmware)
            report = run_device(name, cfg)
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
