"""Cycles per multiply-accumulate of the conv and dense forward kernels, from the profiler.

The PRIOT firmware runs every layer through shared assembly MAC loops (``dot_m0.S``), so its flat profile
cannot say which layer spent what. The harness ``kernels/bench/layer_macs.c`` links the same layer kernels
and runs one layer per call on random int8 data, so each call's RunStats is one layer: the whole layer
(im2col, mask rows, requantization) per useful MAC, and the MAC loop alone per product it executed
(``dot_s8_channel`` for conv, ``conv3x3_c1_pixels`` for a one-channel conv, both of which also requantize
and store each output; ``dot_s8_words`` for dense).
"""

from pathlib import Path

import numpy as np

from m0sim.errors import InputError
from m0sim.machine import Machine
from priot import texttable
from priot.device.firmware import KERNEL_DIR, KERNELS, cached_build
from priot.device.layout import conv_row_bytes as row_bytes
from priot.models import Conv3x3, Dense

HARNESS_SOURCES = [KERNELS / "bench" / "layer_macs.c",
                   *(KERNEL_DIR / f for f in ("conv3x3.c", "conv3x3_c1.c", "conv3x3_c1_m0.S", "dense.c", "dot.c",
                                              "dot_m0.S"))]
INNER = ("dot_s8_channel", "dot_s8_words", "conv3x3_c1_pixels")


def _products_per_output(cin: int) -> int:
    """One input channel runs its own loop (conv3x3_c1_m0.S) over the 9 taps; the general one pads rows to words."""
    return 9 if cin == 1 else row_bytes(cin)


def harness() -> Path:
    """The harness ELF, from the cache (built on first use, or by `make kernels`)."""
    return cached_build("layer_macs", HARNESS_SOURCES)


def layer_jobs(model):
    """(label, harness function, args, useful MACs, inner-loop products) for every parameter layer."""
    jobs, (h, w, c) = [], model.input_shape
    shapes = model.shapes()
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Conv3x3):
            jobs.append((f"conv3x3 {h}x{w}x{layer.cin}->{layer.cout}", "mac_conv", (h, w, layer.cin, layer.cout),
                         h * w * layer.cout * 9 * layer.cin, h * w * layer.cout * _products_per_output(layer.cin)))
        elif isinstance(layer, Dense):
            jobs.append((f"dense {layer.cin}->{layer.cout}", "mac_dense", (layer.cin, layer.cout),
                         layer.cin * layer.cout, layer.cout * (layer.cin & ~3)))
        h, w, c = shapes[i]
    return jobs


def _check_fits(machine, fn, args):
    sizes = {s: machine.program.symbol(s).size for s in ("mac_x", "mac_w", "mac_out", "mac_col", "mac_row")}
    if fn == "mac_conv":
        h, w, cin, cout = args
        need = {"mac_x": h * w * cin, "mac_w": cout * 9 * cin, "mac_out": h * w * cout,
                "mac_col": w * row_bytes(cin), "mac_row": row_bytes(cin)}  # one output row unrolled
    else:
        cin, cout = args
        need = {"mac_x": cin, "mac_w": cin * cout, "mac_out": cout, "mac_row": cin}
    over = [f"{k} needs {v} bytes, has {sizes[k]}" for k, v in need.items() if v > sizes[k]]
    if over:
        raise InputError(f"{machine.program.path.name}: layer {args} does not fit the harness buffers "
                         f"({'; '.join(over)})")


def measure(model, seed: int = 0, path: Path | None = None) -> list[dict]:
    """One row per parameter layer, unmasked and with a random keep mask (PRIOT's path)."""
    m = Machine(harness() if path is None else path)
    rng = np.random.default_rng(seed)
    for sym, lo, hi in (("mac_x", 0, 128), ("mac_w", -127, 128), ("mac_mask", 0, 256), ("mac_bias", -2**12, 2**12)):
        s = m.program.symbol(sym)
        dtype = np.int32 if sym == "mac_bias" else np.uint8 if sym == "mac_mask" else np.int8
        m.write(sym, rng.integers(lo, hi, s.size // np.dtype(dtype).itemsize).astype(dtype))
    rows = []
    for label, fn, args, macs, products in layer_jobs(model):
        _check_fits(m, fn, args)
        for masked in (0, 1):
            m.call(fn, *args, masked)  # warm the XIP cache: the steady state of a training run
            m.call(fn, *args, masked)
            st = m.last_stats
            inner = sum(f.cycles for f in st.functions if f.name in INNER)
            rows.append({"layer": label, "masked": bool(masked), "macs": macs, "cycles": st.cycles,
                         "cycles_per_mac": st.cycles / macs, "inner_cycles": inner, "inner_products": products,
                         "inner_cycles_per_product": inner / products if products else None})
    return rows


def table(rows) -> str:
    header = ["layer", "mask", "MACs", "cycles", "cycles/MAC", "MAC loop cycles/product"]
    return texttable.render(header, [[r["layer"], "yes" if r["masked"] else "no", f"{r['macs']:,}", f"{r['cycles']:,}",
                                      f"{r['cycles_per_mac']:.2f}", "None" if r["inner_cycles_per_product"] is None
                                      else f"{r['inner_cycles_per_product']:.2f}"] for r in rows])
