"""Every on-device training method behind one interface (``priot.methods.base.Method``), registered in
``priot.methods.registry`` with its family, tuning grid and tuned default step."""

from dataclasses import replace

from priot.methods.base import Method, NoAdapt
from priot.methods.baselines import Niti, niti_mu
from priot.methods.defaults import DEFAULTS, MethodDefaults
from priot.methods.float_tune import FloatFineTune
from priot.methods.priot import Priot
from priot.methods.registry import (CORES, FAMILIES, GRID_POINTS, RANKINGS, REGISTRY, ROUNDINGS, SELECTIONS, STEP, Knob,
                                    MethodSpec, Variant, family_configurations, names, register, spec, variant)

DEFAULT_FRAC = DEFAULTS.frac  # PRIOT-S's scored fraction and score init: priot.methods.defaults
DEFAULT_INIT_SHIFT = DEFAULTS.init_shift
# Keep fractions chosen on validation splits of rotated digits (README, "PRIOT results"): PRIOT keeps 90% of
# its scored edges, PRIOT-S half of the edges it scores. They are the defaults of the keep knobs below.
DEFAULT_KEEP = {"priot": 0.9, "priot-s": 0.5}


def _weights(qm, step, seed, spec, **_):
    return Niti(qm, lr_shift=step, layers=spec.layers, update=spec.update, seed=seed)


def _priot(qm, step, seed, keep, frac, init_shift, layers, name, variant, **_):
    keep = DEFAULT_KEEP[name] if keep is None else keep
    select = "largest" if variant.selection == "every" else variant.selection  # at fraction 1 both score every edge
    return Priot(qm, lr_shift=step, keep=keep, init_shift=init_shift, frac=frac, layers=layers, seed=seed,
                 rounding=variant.rounding, ranking=variant.ranking, select=select)


def _grid(lo, points=GRID_POINTS):
    return tuple(range(lo, lo + points))


# PRIOT's knobs besides the step. Rounding of the score update: round-to-nearest loses every |dS| < 1/2 (small
# gradients never move a score), stochastic rounding keeps them on average. Ranking: "signed" keeps the top-K
# scores, "magnitude" the top-K |scores| (edge-popup's rule, for scores drawn signed at random). A run can set it,
# the study does not tune it: PRIOT's scores start at |w| << 2 >= 0, and measured with the class that takes it
# (h16a's, tiny CNN x1, 90 degrees, seed 0, 400 digits, every keep/fraction/selection/rounding) |score| ranking
# was never chosen (PRIOT at steps 4, 6, 8; PRIOT-S at step 3) and PRIOT's |score| runs scored 9-36% on
# validation after the first epoch against 43.5-64.5% signed: searching it would double PRIOT's configurations
# (the default grid's time budget, study/grid.py) for nothing.
ROUNDING = Knob("rounding", tuple(ROUNDINGS), next(iter(ROUNDINGS)), summary="score-update rounding")
RANKING = Knob("ranking", tuple(RANKINGS), next(iter(RANKINGS)), tuned=False,
               summary="rank signed scores or |scores| (not tuned: scores start non-negative)")
# Grids widened after the quick runs (`m0sim run paper-table --quick`). PRIOT: keep 0.95 was chosen once at the
# upper edge of 0.6..0.95 (0.6 never): with 0.7..0.98 no PRIOT choice sat on an edge (6 of 6 finals). PRIOT-S
# chose keep 0.3 and 0.7 (both edges of 0.3..0.7) and fraction 0.25 and 0.5; with keep 0.2..0.8 and fraction
# 0.125..0.5 it chose keep 0.8 with fraction 0.5 in 4 of 6 finals: both upper edges. So its grids move up: keep
# 0.35..0.9 and fraction 0.25..0.75 (at fraction 1 PRIOT-S is PRIOT, so 0.75 is the largest that still differs);
# five keep values and three fractions hold the default grid in its time budget (study/grid.py). The quick grids
# (``Knob.quick``) are sub-grids for the quick preset only: the same procedure on fewer configurations.
SELECT_GRID = tuple(k for k in SELECTIONS if k != "every")  # the sized selection rules
PRIOT_KNOBS = (Knob("keep", (0.7, 0.8, 0.9, 0.95, 0.98), DEFAULT_KEEP["priot"], quick=(0.8, 0.95),
                    summary="kept fraction of scored edges"),
               ROUNDING, RANKING)
PRIOT_S_KNOBS = (Knob("keep", (0.35, 0.5, 0.65, 0.8, 0.9), DEFAULT_KEEP["priot-s"], quick=(0.5, 0.8),
                      summary="kept fraction of scored edges"),
                 Knob("frac", (0.25, 0.5, 0.75), DEFAULT_FRAC, quick=(0.25, 0.5), fit_capped=True,
                      summary="scored fraction of each scored layer (searched up to the largest that fits)"),
                 Knob("select", SELECT_GRID, SELECT_GRID[0], quick=("largest", "random"), summary="which |w| get a score"),
                 ROUNDING, RANKING)


# Default steps: the tuned optimum at 45 degrees (`m0sim run compare --host --angle 45`, validation split of the
# rotated training digits, seed 0; the curves are in the README). floor-all scores 10% at every step (the tie
# goes to the smallest step).
# The last-layer baselines' steps reach two lower (2..11; NITI's mu two higher, 0..9) than the 8-point grids: on
# VGG11 (the quick run, x0.125 at 90 degrees) sgd-last, floor-last and rtn-last chose their lowest step 4 and
# niti-last its highest mu 6 on every seed, edges a fair comparison may not leave.
LAST_STEPS = _grid(2, 10)
register(MethodSpec("none", "reference", lambda qm, step, **_: NoAdapt(qm), summary="the int8 backbone as shipped"))
register(MethodSpec("sgd-all", "engineered", _weights, _grid(6), 9, update="stochastic", layers="all",
                    summary="integer SGD on every layer, hash-stochastic rounding, static scales"))
register(MethodSpec("sgd-last", "engineered", _weights, LAST_STEPS, 7, update="stochastic", layers="last",
                    summary="integer SGD on the last layer, hash-stochastic rounding, static scales"))
register(MethodSpec("niti-all", "published", _weights, _grid(0), 2, step_name="mu",
                    update="niti-static", layers="all",
                    summary="NITI's published update (mu bits from max|g|, PstoShift, mu schedule) on every layer, static scales"))
register(MethodSpec("niti-last", "published", _weights, _grid(0, 10), 6, step_name="mu",
                    update="niti-static", layers="last",
                    summary="NITI's published update (mu bits from max|g|, PstoShift, mu schedule) on the last layer, static scales"))
register(MethodSpec("floor-all", "naive", _weights, _grid(6), 6, update="floor", layers="all",
                    summary="integer SGD on every layer, w -= g >> s (floor), static scales"))
register(MethodSpec("floor-last", "naive", _weights, LAST_STEPS, 5, update="floor", layers="last",
                    summary="integer SGD on the last layer, w -= g >> s (floor), static scales"))
register(MethodSpec("rtn-all", "naive", _weights, _grid(6), 9, update="nearest", layers="all",
                    summary="integer SGD on every layer, round-to-nearest update, static scales"))
register(MethodSpec("rtn-last", "naive", _weights, LAST_STEPS, 8, update="nearest", layers="last",
                    summary="integer SGD on the last layer, round-to-nearest update, static scales"))
register(MethodSpec("niti-dynamic", "reference", _weights, _grid(0), 4, step_name="mu", update="dynamic", layers="all",
                    summary="NITI with dynamic per-tensor scales recomputed every step (the costly reference)"))
register(MethodSpec("float-all", "reference", lambda qm, step, **_: FloatFineTune(qm, lr_shift=step), _grid(3), 5,
                    device=False, integer=False,
                    summary="NOT INTEGER: float32 SGD fine-tuning of the float backbone, every layer (an upper bound)"))
# PRIOT's steps: 1..11. The VGG11 quick run (2..11, quick sub-grid 2, 4, .., 10) chose PRIOT's 2 (the lower edge)
# and PRIOT-S's 2 and 10 (both edges of the sub-grid); 1..11 puts both ends of the sub-grid (1, 3, .., 11) beyond.
PRIOT_STEPS = _grid(1, 11)
register(MethodSpec("priot", "priot", _priot, PRIOT_STEPS, 7, selection="every", knobs=PRIOT_KNOBS,
                    summary="edge-popup scores on every edge of the scored layers"))
register(MethodSpec("priot-s", "priot", _priot, PRIOT_STEPS, 5, selection="largest", knobs=PRIOT_S_KNOBS,
                    summary="edge-popup scores on the largest-|w| fraction of each scored layer"))

DEFAULT_LR_SHIFT = {n: s.default_step for n, s in REGISTRY.items()}
METHODS = tuple(REGISTRY)


def make(name, qm, lr_shift=None, seed=1, keep=None, frac=DEFAULT_FRAC, init_shift=DEFAULT_INIT_SHIFT, layers=None,
         rounding=None, ranking=None, select=None):
    """Build a registered method by name; ``layers`` are PRIOT's scored layers, ``keep=None`` and
    ``lr_shift=None`` are the method's tuned values (``DEFAULT_KEEP``, the registry's ``default_step``);
    ``rounding``, ``ranking`` and ``select`` are the score knobs (``variant``; None: the default)."""
    s, v = spec(name), variant(name, frac, layers, rounding, ranking, select)
    step = s.default_step if lr_shift is None else lr_shift
    method = s.build(qm, step, seed=seed, keep=keep, frac=v.fraction, init_shift=init_shift, layers=layers, name=name,
                     spec=s, variant=v)
    method.name = name
    if v.trains == "scores":  # the layers it scores, as the method resolved them (default: all but the first)
        v = replace(v, score_layers=tuple(method.score_layers))
    method.variant = v
    return method


__all__ = ["Method", "NoAdapt", "Niti", "FloatFineTune", "niti_mu", "Priot", "make", "METHODS", "DEFAULT_KEEP",
           "DEFAULT_LR_SHIFT", "DEFAULT_FRAC", "DEFAULT_INIT_SHIFT", "FAMILIES", "GRID_POINTS", "REGISTRY", "MethodSpec",
           "names", "register", "spec", "DEFAULTS", "MethodDefaults", "SELECTIONS", "ROUNDINGS", "RANKINGS", "Variant",
           "variant", "CORES", "Knob", "STEP", "family_configurations"]
