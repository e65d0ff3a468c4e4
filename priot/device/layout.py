"""The device layout, defined once: model dimensions, the parameter block and the firmware variants.

`header(...)` generates the C header the kernels compile against (`priot_layout.h`), so Python and C cannot
disagree; the header's hash is compiled into the firmware and checked before every run.
"""

import hashlib
from dataclasses import dataclass

import numpy as np

from priot import methods
from priot.methods import priot as priot_method
from priot.errors import ConfigError
from priot.models import Conv3x3, Dense, MaxPool2, ReLU, weight_shape

LAYOUT_VERSION = 1
KIND = {Conv3x3: 1, ReLU: 2, MaxPool2: 3, Dense: 4}
N_EXP_TABLES = 32  # exp tables exported for the dynamic-scale method's logit exponents

# Firmware variants, read from the method registry: every method with a device variant (PRIOT_METHOD in C,
# numbered in registry order), what it trains (PRIOT_TRAINS) and its weight-update rule (PRIOT_UPDATE).
METHODS = {name: i for i, name in enumerate(methods.names(device=True))}
TRAINS = {"none": 0, "scores": 1, "weights": 2}
UPDATES = {rule: i for i, rule in enumerate(methods.registry.UPDATE_RULES, 1)}  # 0: no weight update


# The score knobs (priot.methods.registry: ROUNDINGS, RANKINGS, sized SELECTIONS), compiled into the firmware:
# knob -> macro prefix. A knob at its default adds nothing to the header (so the default variants' headers, names
# and hashes are the published ones); any other value defines PRIOT_<PREFIX>_<VALUE> as 1 (priot_device.c).
KNOB_MACROS = {"rounding": "PRIOT_SCORE_ROUND", "ranking": "PRIOT_RANK", "select": "PRIOT_SELECT"}


def knob_defines(v: methods.Variant) -> dict:
    """The #defines of a variant's score knobs that differ from their defaults."""
    out = {f"{KNOB_MACROS[k]}_{value.upper()}": 1 for k, value in v.knobs.items()}
    if v.knobs.get("select") == "random":
        out["PRIOT_SELECT_SALT"] = f"0x{priot_method.SELECT_SALT:08x}u"
    return out


@dataclass(frozen=True)
class Layout:
    """Everything about a model the C side needs at compile time."""

    model: object
    layers: list  # (kind, in_h, in_w, in_c, out_h, out_w, out_c, param index or -1)
    weight_offsets: list
    bias_offsets: list
    n_weights: int
    n_bias: int

    @property
    def n_param(self):
        return len(self.weight_offsets)

    @property
    def param_counts(self):
        return [int(np.prod(weight_shape(self.model.layers[i]))) for i in self.model.param_indices()]

    @property
    def n_out(self):
        return self.layers[-1][6]

    @property
    def input_size(self):
        h, w, c = self.model.input_shape
        return h * w * c

    def act_sizes(self):
        return [l[4] * l[5] * l[6] for l in self.layers]

    def act_offsets(self) -> tuple[list[int], int]:
        """Where each layer's int8 output lives in the activation arena (ReLU works in place); the total."""
        offs, total = [], 0
        for layer, size in zip(self.layers, self.act_sizes()):
            if layer[0] == KIND[ReLU] and offs:
                offs.append(offs[-1])
            else:
                offs.append(total)
                total += (size + 3) // 4 * 4  # word-aligned, for the 4-at-a-time MAC loops
        return offs, total


def make_layout(model) -> Layout:
    layers, wofs, bofs, nw, nb = [], [], [], 0, 0
    h, w, c = model.input_shape
    shapes = model.shapes()
    for layer, (oh, ow, oc) in zip(model.layers, shapes):
        kind = KIND.get(type(layer))
        if kind is None:
            raise ConfigError(f"layer {layer} has no device kernel")
        p = -1
        if isinstance(layer, (Conv3x3, Dense)):
            p = len(wofs)
            wofs.append(nw)
            bofs.append(nb)
            nw += int(np.prod(weight_shape(layer)))
            if nw % 4:
                raise ConfigError(f"{model.name}: layer {len(wofs) - 1} has {nw} weights so far; the device "
                                  f"kernels need every layer's weights to start on a word boundary")
            nb += layer.cout
        layers.append((kind, h, w, c, oh, ow, oc, p))
        h, w, c = oh, ow, oc
    if not isinstance(model.layers[-1], Dense):
        raise ConfigError(f"{model.name}: the device kernels expect a dense output layer")
    return Layout(model, layers, wofs, bofs, nw, nb)


def params_dtype(n_param: int) -> np.dtype:
    """The parameter block Python writes into SRAM before training (int32 fields; C struct generated)."""
    scalars = ["lr_shift", "seed", "logit_exp", "in_exp", "exp_table_base"]
    arrays = ["out_shift", "bwd_shift", "grad_shift", "w_exp", "act_exp", "score_t", "keep_k", "n_scored",
              "score_off", "trained", "train_off"]
    return np.dtype([(s, "<i4") for s in scalars] + [(a, "<i4", (n_param,)) for a in arrays])


def score_capacity(layout: Layout, v: methods.Variant) -> int:
    """int16 scores the firmware reserves over the scored layers: at most floor(fraction * n_j) per layer
    (every edge at fraction 1; the largest-|w| rule never scores more)."""
    if v.trains != "scores":
        return 0
    layers = scored_layers(layout, v.score_layers)
    return sum(int(np.floor(v.fraction * n)) for j, n in enumerate(layout.param_counts) if j in layers)


def scored_layers(layout: Layout, layers) -> list[int]:
    """The parameter layers PRIOT scores; default every layer but the first (see priot/methods/priot.py)."""
    n = layout.n_param
    return list(range(1, n)) if layers is None else sorted(set(int(j) % n for j in layers))


def trained_layers(layout: Layout, v: methods.Variant) -> list[int]:
    """The parameter layers whose weights a variant trains (the registry's ``layers``)."""
    layers = v.weight_layers
    return list(range(layout.n_param)) if layers == "all" else [layout.n_param - 1] if layers == "last" else []


def lowest_trained(layout: Layout, v: methods.Variant) -> int:
    """The lowest parameter layer a variant changes (n_param when none): where its backward pass ends."""
    if v.trains == "scores":
        changed = scored_layers(layout, v.score_layers)
    else:
        changed = trained_layers(layout, v)
    return min(changed, default=layout.n_param)


# Core 1's stack in a two-core firmware: it runs one kernel call per share (no recursion; measured peak in
# docs/priot.md), the worker loop and the job around it.
CORE1_STACK_BYTES = 1024

C1_TABLE_WORDS = 10  # conv3x3_c1.c: TABLE_WORDS, per output channel the bias and the 9 weights


def c1_scratch_bytes(h: int, w: int, cout: int) -> int:
    """What the one-input-channel conv loop needs in the im2col buffer (conv3x3_c1_scratch_bytes): the input
    widened to int32 with a zero border, and its weight table."""
    return 4 * ((h + 2) * (w + 2) + C1_TABLE_WORDS * cout)


def conv_row_bytes(cin: int) -> int:
    """One unrolled 3x3 window, 9*cin bytes rounded up to a word (as conv3x3_row_bytes in layers.h)."""
    return (9 * cin + 3) & ~3


def splits_update(v: methods.Variant) -> bool:
    """Whether a two-core firmware splits the update rows between the cores too (beside the forward and
    input-gradient loops): PRIOT's score rows and the weight rows of every SGD rule but the dynamic one, which
    scales each layer from its whole gradient at once. The firmware reads it as PRIOT_SPLITS_UPDATE; the fit
    check counts the buffers it declares for it."""
    return v.cores == 2 and (v.trains == "scores" or (v.trains == "weights" and v.update != "dynamic"))


def sizes(layout: Layout, v: methods.Variant) -> dict:
    """Every compile-time constant of one firmware variant: the header's #defines (buffer sizes in elements),
    also what ``priot.device.fit`` adds up before anything is linked."""
    if v.method not in METHODS:
        raise ConfigError(f"no firmware variant for method {v.method!r} (have {', '.join(METHODS)})")
    trained = trained_layers(layout, v)
    scored = scored_layers(layout, v.score_layers)
    counts = layout.param_counts
    acts = layout.act_sizes()
    lowest = lowest_trained(layout, v)
    first = [i for i, l in enumerate(layout.layers) if l[7] == lowest][:1]  # its position in the layer list
    # the backward pass stops at the lowest trained layer: no error below its output, no input gradient for it
    max_err = max([a for i, a in enumerate(acts) if first and i >= first[0]] + [layout.n_out])
    max_param_in = max([l[1] * l[2] * l[3] for l in layout.layers if l[7] > lowest] + [1])
    defs = {
        "PRIOT_METHOD": METHODS[v.method],
        "PRIOT_TRAINS": TRAINS[v.trains],
        "PRIOT_UPDATE": UPDATES.get(v.update, 0),
        **{f"PRIOT_TRAINS_{k.upper()}": v for k, v in TRAINS.items()},
        **{f"PRIOT_UPDATE_{k.upper().replace('-', '_')}": v for k, v in UPDATES.items()},
        "PRIOT_N_LAYERS": len(layout.layers),
        "PRIOT_N_PARAM": layout.n_param,
        "PRIOT_IN_SIZE": layout.input_size,
        "PRIOT_N_OUT": layout.n_out,
        "PRIOT_N_WEIGHTS": layout.n_weights,
        "PRIOT_N_BIAS": layout.n_bias,
        # one layer's keep mask at a time (priot_device.c: layer_mask)
        "PRIOT_MASK_BYTES": max((counts[j] + 7) // 8 for j in scored) if v.trains == "scores" and scored else 1,
        "PRIOT_SCORE_CAP": max(score_capacity(layout, v), 1),
        "PRIOT_TRAIN_WEIGHTS": max(sum(counts[j] for j in trained), 1),
        "PRIOT_ACT_TOTAL": layout.act_offsets()[1],
        "PRIOT_MAX_ACT": max(acts + [layout.input_size]),
        "PRIOT_MAX_ERR": max_err,
        "PRIOT_LOWEST_TRAINED": lowest,
        "PRIOT_MAX_PARAM_IN": max_param_in,
        "PRIOT_MAX_COUT": max(l[6] for l in layout.layers if l[7] >= 0),
        "PRIOT_MAX_LAYER_WEIGHTS": max(counts),
        "PRIOT_MAX_CONV_ROW": max([9 * l[3] for l in layout.layers if l[0] == KIND[Conv3x3]] + [1]),
        # a trained conv layer's weight gradient is made one output channel at a time (row_grad; the dynamic
        # update keeps the whole layer's instead): 1 iff the firmware declares that buffer
        "PRIOT_CONV_ROW_GRAD": int(v.trains != "none" and v.update != "dynamic"
                                   and any(l[0] == KIND[Conv3x3] and l[7] >= lowest for l in layout.layers)),
        # scratch of the conv kernels: one output row of unrolled windows, or the one-input-channel loop's
        # input and table (layers.h, conv3x3_c1.h; the row is checked by priot_init)
        "PRIOT_IM2COL_BYTES": max([l[2] * conv_row_bytes(l[3]) for l in layout.layers if l[0] == KIND[Conv3x3]]
                                  + [c1_scratch_bytes(l[1], l[2], l[6]) for l in layout.layers
                                     if l[0] == KIND[Conv3x3] and l[3] == 1] + [4]),
        "PRIOT_MAX_ROW_BYTES": max([conv_row_bytes(l[3]) if l[0] == KIND[Conv3x3] else l[1] * l[2] * l[3]
                                    for l in layout.layers if l[7] >= 0]),
        "PRIOT_N_EXP_TABLES": N_EXP_TABLES if v.update == "dynamic" else 1,
        "PRIOT_MAX_ROWS": max(l[6] for l in layout.layers if l[7] >= 0) * layout.n_param,
        # a row's first scored edge within its layer: 16 bits unless a layer scores more edges than that
        "PRIOT_ROW_START_T": "uint16_t" if max(counts) < 1 << 16 else "uint32_t",
        "KIND_CONV3X3": KIND[Conv3x3], "KIND_RELU": KIND[ReLU], "KIND_MAXPOOL2": KIND[MaxPool2],
        "KIND_DENSE": KIND[Dense],
    }
    defs.update(knob_defines(v))
    if v.cores == 2:  # named only for two cores: the one-core headers stay as they were
        defs["PRIOT_CORES"] = 2
        defs["PRIOT_CORE1_STACK_BYTES"] = CORE1_STACK_BYTES
        defs["PRIOT_SPLITS_UPDATE"] = int(splits_update(v))
    return defs


def header(layout: Layout, v: methods.Variant) -> str:
    """The generated C header for one firmware variant (its score knobs named when not their defaults)."""
    defs = sizes(layout, v)
    dt = params_dtype(layout.n_param)
    lines = [f"/* Generated by priot/device/layout.py for {layout.model.name}, method {v.method} "
             f"({v.update or v.trains} update)"
             f"{f', scored fraction {v.fraction}' if v.sized else ''}"
             f"{f', scored layers {scored_layers(layout, v.score_layers)}' if v.trains == 'scores' else ''}"
             f"{''.join(f', {k} {value}' for k, value in v.knobs.items())}"
             f"{', 2 cores' if v.cores == 2 else ''}"
             ": do not edit. */",
             "#pragma once", "#include <stdint.h>"]
    lines += [f"#define {k} {v}" for k, v in defs.items()]
    lines.append("typedef struct { int32_t kind, in_h, in_w, in_c, out_h, out_w, out_c, param; } priot_layer_t;")
    rows = ",\n    ".join("{" + ", ".join(map(str, l)) + "}" for l in layout.layers)
    lines.append(f"static const priot_layer_t priot_layers[PRIOT_N_LAYERS] = {{\n    {rows}\n}};")
    lines.append(f"static const int32_t priot_weight_off[PRIOT_N_PARAM] = {{{', '.join(map(str, layout.weight_offsets))}}};")
    lines.append(f"static const int32_t priot_bias_off[PRIOT_N_PARAM] = {{{', '.join(map(str, layout.bias_offsets))}}};")
    lines.append(f"static const int32_t priot_weight_count[PRIOT_N_PARAM] = {{{', '.join(map(str, layout.param_counts))}}};")
    lines.append(f"static const int32_t priot_act_off[PRIOT_N_LAYERS] = {{{', '.join(map(str, layout.act_offsets()[0]))}}};")
    fields = []
    for name in dt.names:
        sub = dt.fields[name][0]
        fields.append(f"    int32_t {name}" + (f"[{sub.shape[0]}]" if sub.shape else "") + ";")
    lines += ["typedef struct {", *fields, "} priot_params_t;"]
    text = "\n".join(lines) + "\n"
    digest = int(hashlib.sha256(f"{LAYOUT_VERSION}\n{text}".encode()).hexdigest()[:8], 16)
    return text + f"#define PRIOT_LAYOUT_HASH 0x{digest:08x}u\n"


def layout_hash(text: str) -> int:
    """The hash a generated header carries (compiled into the firmware as `priot_layout_hash`)."""
    for line in text.splitlines():
        if line.startswith("#define PRIOT_LAYOUT_HASH"):
            return int(line.split()[2].rstrip("u"), 16)
    raise ConfigError("generated header has no PRIOT_LAYOUT_HASH")
