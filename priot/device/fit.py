"""Does a firmware variant fit the Pico? Flash and SRAM needed against available, before anything is linked.

The model-dependent part of every figure is added up from the same constants the generated header gives the C
code (``layout.sizes``), buffer by buffer as ``kernels/priot/priot_device.c`` declares them; the rest (code,
newlib and start-up data) is measured once from the tiny CNN's firmware of the same method, built by the
same rules. The stack is the linker script's reserve. A two-core variant adds a "two cores" part: core 1's stack
and scratch (``two_core_bytes``). A variant that does not fit is refused with the
breakdown (``DoesNotFit``, exit 2) before the linker would have said only "region overflowed".
"""

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from m0sim import memmap
from m0sim.loader import load_program
from priot import methods
from priot.device import firmware
from priot.device.firmware import STACK_RESERVE
from priot.device.layout import CORE1_STACK_BYTES, make_layout, params_dtype, sizes
from priot.errors import ConfigError
from priot.models import get_model, split_name


class DoesNotFit(ConfigError):
    """A model/method that needs more flash or SRAM than the Pico has; the message is the breakdown."""


def _w(n: int) -> int:
    """Bytes rounded up to a word (every buffer is word-aligned or followed by one)."""
    return (int(n) + 3) // 4 * 4


@dataclass(frozen=True)
class Budget:
    """Bytes per part. SRAM: static (parameters, input, runtime data), training state, activations kept for
    the backward pass, scratch buffers, stack reserve. Flash: code, model tables, weights, biases, exp tables."""

    sram: dict
    flash: dict

    @property
    def sram_total(self):
        return sum(self.sram.values())

    @property
    def flash_total(self):
        return sum(self.flash.values())

    @property
    def fits(self):
        return self.sram_total <= memmap.SRAM.size and self.flash_total <= memmap.XIP.size

    def describe(self) -> str:
        def part(d):
            return ", ".join(f"{k} {v:,}" for k, v in d.items())
        return (f"SRAM {self.sram_total:,} of {memmap.SRAM.size:,} bytes ({part(self.sram)}); "
                f"flash {self.flash_total:,} of {memmap.XIP.size:,} bytes ({part(self.flash)})")


def model_parts(model, v: methods.Variant) -> Budget:
    """The model- and method-dependent bytes of one firmware variant (as priot_device.c declares them)."""
    layout = make_layout(model)
    d = sizes(layout, v)
    what, update = v.trains, v.update  # as priot_device.c's IS_PRIOT, IS_SGD, ...
    priot, sgd = what == "scores", what == "weights"
    static = params_dtype(layout.n_param).itemsize + _w(d["PRIOT_IN_SIZE"]) + _w(d["PRIOT_N_OUT"]) + 3 * 4
    state = 0
    if priot:
        row_start = 2 if d["PRIOT_ROW_START_T"] == "uint16_t" else 4
        state += _w(2 * d["PRIOT_SCORE_CAP"]) + _w(row_start * d["PRIOT_MAX_ROWS"]) + 8 * layout.n_param
        if v.random_update:  # stochastic score rounding: the rng counter and a layer's rounding base
            state += 8
        if v.selection == "random":  # each layer's selection hash base
            state += 4 * layout.n_param
    if sgd:
        state += _w(d["PRIOT_TRAIN_WEIGHTS"]) + (4 if v.random_update else 0)  # rng counter
    buffers = _w(d["PRIOT_IM2COL_BYTES"]) + _w(d["PRIOT_MAX_ROW_BYTES"])
    if priot:  # one layer's keep mask, expanded from the scores when the layer runs
        buffers += _w(d["PRIOT_MASK_BYTES"])
    if what != "none":  # the backward pass: two error tensors, the input-gradient accumulator, a gradient row
        buffers += 2 * _w(d["PRIOT_MAX_ERR"]) + 4 * d["PRIOT_MAX_PARAM_IN"]
    if update == "dynamic":  # aligned biases, int32 forward outputs and whole-layer gradients
        buffers += 4 * d["PRIOT_MAX_COUT"] + 4 * d["PRIOT_MAX_ACT"] + 4 * d["PRIOT_MAX_LAYER_WEIGHTS"]
    if d["PRIOT_CONV_ROW_GRAD"]:  # one conv output channel's weight gradient (no trained conv: none)
        buffers += 4 * d["PRIOT_MAX_CONV_ROW"]
    n_layers, n_param = len(layout.layers), layout.n_param
    tables = n_layers * 8 * 4 + 3 * n_param * 4 + n_layers * 4
    sram = {"static": static, "training state": state, "activations kept": _w(d["PRIOT_ACT_TOTAL"]),
            "buffers": buffers}
    if v.cores == 2:
        sram["two cores"] = two_core_bytes(d, v, bool(d["PRIOT_CONV_ROW_GRAD"]))
    sram["stack reserve"] = STACK_RESERVE
    flash = {"code": 0, "tables": tables, "weights": _w(d["PRIOT_N_WEIGHTS"]), "biases": 4 * d["PRIOT_N_BIAS"],
             "exp tables": 1024 * d["PRIOT_N_EXP_TABLES"]}
    return Budget(sram, flash)


def two_core_bytes(d: dict, v: methods.Variant, has_row_grad: bool) -> int:
    """What a two-core firmware adds to the one-core firmware's SRAM (priot_device.c, PRIOT_CORES 2): core 1's
    stack, its weight-row scratch, one buffer for its im2col rows and (when it shares the update rows) its
    gradient row, the flag saying it was started; and core 0's gradient row when the one-core firmware has none
    (``has_row_grad`` false: no trained conv), as core 0's share of the update rows takes one."""
    row = 4 * d["PRIOT_MAX_CONV_ROW"] if d["PRIOT_SPLITS_UPDATE"] else 0
    return (CORE1_STACK_BYTES + max(_w(d["PRIOT_IM2COL_BYTES"]), row) + _w(d["PRIOT_MAX_ROW_BYTES"]) + 4
            + (0 if has_row_grad else row))


@lru_cache(maxsize=None)
def _runtime(method: str, cores: int = 1, rounding: str | None = None, ranking: str | None = None,
             select: str | None = None) -> tuple[int, int]:
    """(static RAM, flash) of the firmware beyond its model-dependent parts: measured on the tiny CNN's ELF of
    the method with the same score knobs (each knob brings its own code; the default variant is the one
    `make kernels` builds) on ``cores`` cores."""
    tiny = get_model("tiny_cnn")
    v = firmware.default_variant(method).on_cores(cores)
    if v.trains == "scores":
        v = replace(v, rounding=rounding, ranking=ranking, selection=select or v.selection)
    elf = load_program(firmware.locate(tiny, v))
    fp = elf.footprint()
    parts = model_parts(tiny, v)
    sram_model = parts.sram_total - parts.sram["stack reserve"]
    return fp["static_ram"] - sram_model, fp["flash"] - parts.flash_total


def budget(model, v: methods.Variant) -> Budget:
    """Flash and SRAM the variant needs, by part (the runtime's own data counted as static, its code as code)."""
    parts = model_parts(model, v)
    select = v.selection if v.sized else None
    ram, code = _runtime(v.method, v.cores, v.rounding, v.ranking, select)
    sram = dict(parts.sram, static=parts.sram["static"] + ram)
    return Budget(sram, dict(parts.flash, code=code))


def check(model, v: methods.Variant) -> Budget:
    """The budget of a variant that fits; ``DoesNotFit`` with the breakdown otherwise."""
    b = budget(model, v)
    if not b.fits:
        what = f"{v.method} at scored fraction {v.fraction:g}" if v.sized else v.method
        raise DoesNotFit(f"{model.name} with {what} does not fit the Pico: {b.describe()}")
    return b


def fits(model, v: methods.Variant) -> tuple[bool, str]:
    """(whether the variant fits the Pico, one line saying why): the budget's breakdown, or why it has none (a
    method without a firmware variant, a layout the kernels refuse). For reports: a method that does not fit is
    still measured on the host, and marked with this."""
    if not methods.spec(v.method).device:
        return False, f"{v.method} has no firmware variant (host only)"
    try:
        b = budget(model, v)
    except ConfigError as exc:  # the kernels refuse this model's layout
        return False, str(exc)
    return b.fits, b.describe()


def pico_width(base: str = "vgg11", steps: int = 64) -> float:
    """The widest width k/steps (k = steps..1) at which ``base``'s firmware without training fits the flash:
    int8 weights, biases and tables beside the code. Widths whose layout the kernels refuse are skipped."""
    for k in range(steps, 0, -1):
        try:
            model = get_model(base, k / steps)
            make_layout(model)
        except ConfigError:
            continue
        if budget(model, methods.variant("none")).flash_total <= memmap.XIP.size:
            return k / steps
    raise ConfigError(f"no width of {base} fits the Pico's flash")


def resolve(name: str):
    """A device run's model: a bare registry name other than the tiny CNN means its Pico-sized width."""
    base, width = split_name(name)
    get_model(base)  # an unknown name is refused with the list of models
    if width is None and base != "tiny_cnn":
        return get_model(base, pico_width(base))
    return get_model(name)


def largest_fraction(model, layers=None, grid=tuple(np.round(np.arange(0.005, 1.0001, 0.005), 3)),
                     cores: int = 1) -> float | None:
    """The largest PRIOT-S scored fraction on ``grid`` that fits SRAM (None when even the smallest does not), on
    one core or with the second core's stack and scratch beside it."""
    best = None
    for f in grid:
        if budget(model, methods.variant("priot-s", float(f), layers).on_cores(cores)).fits:
            best = float(f)
        else:
            break
    return best


__all__ = ["Budget", "DoesNotFit", "budget", "check", "fits", "pico_width", "resolve", "largest_fraction"]
