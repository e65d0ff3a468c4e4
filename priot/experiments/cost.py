"""``m0sim run cost``: what a training step and an inference cost on the Pico, per method and phase.

Every number comes from the emulator's counters over real steps of each method's firmware (the same samples
for all methods, after a few warm-up steps so the XIP cache is in its steady state). Phases:
forward = an inference call on the same sample (the first part of a step is exactly that code path);
selection = the top-k threshold and mask building; update = the score or weight updates with their weight
gradients (including the conv input unrolling they need); backward = the rest of the step (loss gradient and
error back-propagation). The scale computation (tensor maxima, exponent alignment: NITI dynamic's scales, NITI's
largest-gradient search) is shown on its own; it is already inside the phases.
"""

import json
import time
from pathlib import Path

import click
import numpy as np

from m0sim import cachefile, energy, memmap
from m0sim.errors import InputError
from priot import data, ref, texttable
from priot.device import fit, macs, phases
from priot.device.runner import open_device
from priot.errors import PriotError
from priot.experiments.device import DEVICE_RUN, state_bytes
from priot.recipe import Recipe, model_defaults

ORDER = ("none", "sgd-last", "sgd-all", "niti-last", "niti-all", "niti-dynamic", "priot", "priot-s")


def measure(recipe: Recipe, name, qm, xs, labels, warmup, steps, epoch_steps, cores: int = 1):
    """Mean counters of ``steps`` training steps after ``warmup``, with the energy estimate per step and per epoch
    of ``epoch_steps`` steps (m0sim.energy: each core's active cycles)."""
    dev = open_device(recipe.make_method(name, qm), cores=cores)
    for i in range(warmup):
        dev.step(xs[i], int(labels[i]))
    rows, t_host = [], 0.0
    for i in range(warmup, warmup + steps):
        infer = dev.infer(xs[i]).stats
        t0 = time.process_time()  # CPU time: on a shared machine, waiting for a core does not count
        step = dev.step(xs[i], int(labels[i])).stats
        t_host += time.process_time() - t0
        rows.append({**phases.split(step, infer), "instructions": step.instructions, "inference": infer.cycles,
                     "stack": step.stack_bytes, "energy_mj": energy.of_stats(step).total_mj})
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    fp = dev.machine.program.footprint()
    stack = int(max(r["stack"] for r in rows))
    return {"method": name, **{k: v for k, v in mean.items() if k not in ("stack", "energy_mj")},
            "energy_mj_per_step": mean["energy_mj"], "energy_mj_per_epoch": mean["energy_mj"] * epoch_steps,
            "steps_per_epoch": epoch_steps, "energy_estimate": energy.LABEL,
            "ms_per_step": mean["step"] / memmap.CLOCK_HZ * 1e3, "state_bytes": state_bytes(dev.machine.program),
            "static_ram": fp["static_ram"], "stack_bytes": stack, "peak_ram": fp["static_ram"] + stack,
            "flash_bytes": fp["flash"], "host_seconds_per_step": t_host / steps,
            "realtime_factor": mean["step"] / memmap.CLOCK_HZ / max(t_host / steps, 1e-9)}


def refused(recipe: Recipe, name, model) -> dict | None:
    """The row of a method whose firmware does not fit the Pico (its budget), else None."""
    b = fit.budget(model, recipe.variant(name))
    if b.fits:
        return None
    return {"method": name, "fits": False, "sram_needed": b.sram_total, "flash_needed": b.flash_total,
            "sram": b.sram, "flash": b.flash, "breakdown": b.describe()}


# (header, row key, format): the table's columns after the method name
COLUMNS = (("cycles/step", "step", ",.0f"), ("ms/step", "ms_per_step", ".1f"),
           ("mJ/step*", "energy_mj_per_step", ".3f"), ("mJ/epoch*", "energy_mj_per_epoch", ",.1f"),
           ("forward", "forward", ",.0f"), ("backward", "backward", ",.0f"), ("selection", "selection", ",.0f"),
           ("update", "update", ",.0f"), ("scale calc", "scale", ",.0f"), ("inference", "inference", ",.0f"),
           ("state B", "state_bytes", ","), ("peak RAM B", "peak_ram", ","), ("flash B", "flash_bytes", ","),
           ("host s/step", "host_seconds_per_step", ".4f"), ("x real time", "realtime_factor", ".2f"))


def table(rows) -> str:
    """One line per method (COLUMNS), through priot.texttable so that no two columns ever run together."""
    lines = []
    for r in rows:
        if r.get("fits") is False:
            lines.append([r["method"], f"does not fit: {r['breakdown']}"])
            continue
        lines.append([r["method"]] + [format(r[k], f) for _, k, f in COLUMNS])
    return texttable.render(["method"] + [h for h, _, _ in COLUMNS], lines)


def two_cores(one: dict, two: dict) -> dict:
    """What the second core gives a method: one core's and two cores' cycles per phase, the speedup, and the SRAM
    the two-core firmware adds (its linked static RAM over the one-core firmware's: core 1's stack and scratch)."""
    return {"method": one["method"], "one_core": {k: one[k] for k in ("step",) + phases.PHASES},
            "two_cores": {k: two[k] for k in ("step",) + phases.PHASES}, "speedup": phases.speedup(one, two),
            "extra_sram": two["static_ram"] - one["static_ram"]}


def speedup_table(rows) -> str:
    header = ["method", "1 core cycles", "2 cores cycles", "speedup"] + [f"{p} x" for p in phases.PHASES] \
        + ["extra SRAM B"]
    def x(v):
        return "-" if v is None else f"{v:.2f}"
    return texttable.render(header, [[r["method"], f"{r['one_core']['step']:,.0f}", f"{r['two_cores']['step']:,.0f}",
                                      x(r["speedup"]["step"])] + [x(r["speedup"][p]) for p in phases.PHASES]
                                     + [f"{r['extra_sram']:,}"] for r in rows])


@click.command("cost", epilog=data.MNIST5K_NOTE + ".")
@click.option("--steps", default=5, show_default=True, type=click.IntRange(1, 1000), help="Measured steps per method.")
@click.option("--warmup", default=3, show_default=True, type=click.IntRange(1, 1000),
              help="Steps before measuring, so the XIP cache is in its steady state.")
@click.option("--keep", default=None, type=click.FloatRange(0.001, 1.0),
              help="Keep fraction for PRIOT and PRIOT-S [their tuned defaults].")
@click.option("--scored-fraction", "frac", default=None, type=click.FloatRange(0.001, 1.0),
              help="PRIOT-S scored fraction [tiny CNN 0.25; VGG11 the largest that fits].")
@click.option("--model", default=DEVICE_RUN.model, show_default=True,
              help="Model name, width optional (a bare vgg11 is its Pico-sized width).")
@click.option("--cores", default=1, show_default=True, type=click.IntRange(1, 2),
              help="2: the two-core firmware, against the one-core firmware (speedup per phase, extra SRAM); a "
                   "scored fraction left unset is the largest that fits beside the second core.")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False, path_type=Path))
def experiment(steps, warmup, keep, frac, model, cores, json_path):
    """Cycles per training step and inference, by phase, with RAM and flash, for every method; a method whose
    firmware does not fit the Pico is listed with its flash/SRAM breakdown instead."""
    if json_path:
        cachefile.check_writable(json_path, "--json file")
    try:  # the device runs' backbone and rotation
        recipe = Recipe.build(model, frac=frac, samples=warmup + steps, test=10, cores=cores,
                              keep={} if keep is None else dict.fromkeys(ORDER, keep))
    except PriotError as exc:
        raise InputError(str(exc)) from None
    try:
        qm, adapt, _ = recipe.prepare()
    except PriotError as exc:  # bad data: m0sim reports it as bad input (exit 2)
        raise InputError(str(exc)) from None
    xs, labels = ref.to_input(adapt.images), adapt.labels
    epoch_steps = model_defaults(recipe.model).samples  # one step per rotated training sample of a device run
    rows = [refused(recipe, n, qm.model) or measure(recipe, n, qm, xs, labels, warmup, steps, epoch_steps, cores)
            for n in ORDER]
    both = [two_cores(measure(recipe, r["method"], qm, xs, labels, warmup, steps, epoch_steps, 1), r)
            for r in rows if cores == 2 and r.get("fits") is not False]
    try:
        mac_rows, mac_note = macs.measure(qm.model), None
    except InputError as exc:  # the harness is sized for the tiny CNN's layers
        mac_rows, mac_note = [], str(exc)
    click.echo(f"{qm.model.name} on rotated {recipe.dataset}, {steps} steps per method after {warmup} warm-up, cycles at "
               f"{memmap.CLOCK_HZ / 1e6:g} MHz (forward = one inference)"
               + ("; the two-core firmware (phases timed on core 0, which waits for core 1's share)" if both else ""))
    click.echo(table(rows))
    click.echo(f"* energy at DVDD, each core for its active cycles: an {energy.LABEL}; an epoch is {epoch_steps:,} steps (the "
               f"device run's rotated training samples)")
    click.echo(energy.describe())
    if both:
        click.echo(f"\ntwo cores against one (the same steps, scored fraction {recipe.frac:g}): cycles per step, "
                   f"speedup per phase, SRAM the second core's stack and scratch add")
        click.echo(speedup_table(both))
    click.echo(f"\nforward layers one at a time ({macs.HARNESS_SOURCES[0].name}): the whole layer per useful MAC, "
               f"and the MAC loop (dot_m0.S, conv3x3_c1_m0.S) per product it ran (general rows padded to words)")
    click.echo(macs.table(mac_rows) if mac_rows else f"skipped: {mac_note}")
    if json_path:
        out = {"methods": rows, "mac_loops": mac_rows, **({"two_cores": both} if both else {})}
        cachefile.write_text(json_path, json.dumps(out, indent=1, allow_nan=False))
