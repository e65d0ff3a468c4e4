"""A training step's cycles by phase, from the emulator's per-function profile (``m0sim run cost``, and the
per-phase speedup of ``m0sim run NAME --cores 2``).

forward = an inference call on the same sample (the first part of a step is exactly that code path);
selection = the top-k threshold and mask building; update = the score or weight updates with their weight
gradients (including the conv input unrolling they need); backward = the rest of the step (loss gradient and
error back-propagation). The scale computation (tensor maxima, exponent alignment) is shown on its own; it is
already inside the phases. On two cores the phases are read from core 0's profile: core 0 runs the whole step
and waits for core 1's share inside the phase that handed it out, so its profile adds up to the elapsed time.
"""

SELECTION = {"select_layer", "topk_threshold", "walk_down"}
UPDATE = {"update_layer", "score_row", "sgd_row", "conv3x3_channel_grad", "trained_rank", "lowbias32", "grad_max"}
SCALE = {"max_abs", "align_exp", "dynamic_shift_of", "bitlen"}
IM2COL = "conv3x3_im2col"
PHASES = ("forward", "backward", "selection", "update")


def by_name(stats) -> dict:
    """Cycles per function, GCC's clones (``sgd_row.constprop.0``) counted under their source name; core 0's
    when both cores ran."""
    out = {}
    for f in (stats.cores[0] if stats.cores else stats).functions:
        name = f.name.split(".")[0] or f.name
        out[name] = out.get(name, 0) + f.cycles
    return out


def split(step, infer) -> dict:
    """The phases of one training step (``step``: its RunStats) beside an inference on the same sample."""
    f_step, f_inf = by_name(step), by_name(infer)
    selection = sum(f_step.get(n, 0) for n in SELECTION)
    update = sum(f_step.get(n, 0) for n in UPDATE) + f_step.get(IM2COL, 0) - f_inf.get(IM2COL, 0)
    return {"step": step.cycles, "forward": infer.cycles, "selection": selection, "update": update,
            "backward": step.cycles - infer.cycles - selection - update,
            "scale": sum(f_step.get(n, 0) for n in SCALE)}


def speedup(one: dict, two: dict) -> dict:
    """One core's cycles over two cores' per phase and for the step (None where a phase took no cycles on either)."""
    return {k: one[k] / two[k] if one[k] > 0 and two[k] > 0 else None for k in ("step",) + PHASES}
