"""The one tuning procedure every method goes through: per step, successive halving over its other knobs.

A tuning cell holds one method at one step (a learning-rate shift, or NITI's mu) on one seed's validation
split. It trains every configuration of the method's other searched knobs (their grids' product, in grid
order) for the short budget (``SHORT_EPOCHS``), scores each on validation, and lets the best third
(ceil(n / ``RATE``); ties: grid order) continue, the same runs, to the study's full number of epochs; the best
of those on validation (ties: grid order) is the cell's choice and its validation accuracy the cell's
accuracy. The engine then takes the step whose cell scores highest (ties: the smaller step).

Why halving within a step and not across steps: an early rung favours large steps (they move fast and then
overshoot or collapse), so the step, the knob that sets the speed, is searched whole at the full budget, for
every method alike; halving trims only the knobs that do not set the speed. A method with the step as its only
knob (every baseline) has one configuration per cell: it runs the full budget directly, as before. A run that
continues is the same run (``begin`` is told the full number of epochs up front), so its accuracy equals that
of a fresh full-budget run of that configuration.
"""

import itertools
import math

RATE = 3  # the best 1/RATE of a step's configurations continue
SHORT_EPOCHS = 1  # the short budget


def procedure(epochs: int) -> dict:
    """The procedure's parameters, as a cell carries them (its key changes with them)."""
    return {"rule": "successive halving per step", "rate": RATE, "short_epochs": min(SHORT_EPOCHS, epochs),
            "epochs": epochs}


def configurations(search: dict) -> list[dict]:
    """Every configuration of ``search`` ({knob: values}) in grid order (the first knob varies slowest)."""
    names = list(search)
    return [dict(zip(names, values)) for values in itertools.product(*(search[n] for n in names))]


def successive_halving(configs: list, start, advance, score, short: int, full: int, rate: int = RATE) -> dict:
    """Run the procedure over ``configs``: ``start(config)`` makes a run, ``advance(run, epochs)`` trains it
    that many more epochs, ``score(run)`` is its validation accuracy. Returns the chosen index, its accuracy,
    and per configuration its short-budget and (if it continued) full-budget accuracy."""
    if not configs:
        raise ValueError("successive halving needs at least one configuration")
    runs = [start(c) for c in configs]
    first = []
    for run in runs:
        advance(run, short)
        first.append(score(run))
    if short >= full:
        last = dict(enumerate(first))
    else:
        ranked = sorted(range(len(runs)), key=lambda i: (-first[i], i))
        last = {}
        for i in sorted(ranked[:math.ceil(len(runs) / rate)]):
            advance(runs[i], full - short)
            last[i] = score(runs[i])
    best = max(last, key=lambda i: (last[i], -i))
    return {"index": best, "accuracy": last[best],
            "trials": [{"config": c, "short": first[i], "full": last.get(i)} for i, c in enumerate(configs)]}


def edges(search: dict, chosen: dict) -> dict:
    """Per searched numeric knob (more than one value): "lower"/"upper" when ``chosen`` sits at that end of its
    grid, else None. Categorical knobs (a rounding rule) have no edges."""
    out = {}
    for name, values in search.items():
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if numeric and len(values) > 1 and name in chosen:
            v = chosen[name]
            out[name] = "lower" if v == min(values) else "upper" if v == max(values) else None
    return out
