"""More seeds where the first ones leave a sign open: the study's two stages.

Three seeds give a wide t-interval (t = 4.30 at 2 degrees of freedom), so a few-point difference keeps its sign
open; five (t = 2.78) settle many of those. Running five everywhere would spend the budget on settings whose
sign three seeds already settle, so the default grids run in two stages, by a rule fixed before any result:

1. every setting runs the plan's first seeds (``Plan.seeds``);
2. a setting whose first-stage finals are all in gets ``Plan.more_seeds`` more seeds when the 95% interval of
   any *headline* difference there (PRIOT or PRIOT-S against the best engineered, the best published or the
   best whole-network static-scale method) contains 0, or has no interval.

The naive family does not decide: its members (floor and round-to-nearest shifts) collapse on some seeds and
not on others, so its interval spans tens of points whatever the seed count (the quick grids: ±95 pp at 3
seeds); adding seeds for it would extend every setting and settle nothing. Its rows are reported all the same.

Stopping on what the data showed makes the interval of an extended setting a little optimistic (the sequential
choice is not in the t-quantile); the report names the extended settings so a reader can discount them.
"""

from dataclasses import replace

from priot.experiments.study import report
from priot.experiments.study.grid import Study

NOT_DECIDING = ("naive",)  # comparison groups whose open sign does not add seeds (docstring)


def deciding_groups() -> list:
    return [g for g in report.comparison_groups() if g not in NOT_DECIDING]


def open_signs(study: Study, setting, outcome) -> list | None:
    """The headline differences of ``setting`` whose first-stage interval leaves the sign open, as "PRIOT −
    group" labels ([] when every sign is settled); None while a first-stage pair is missing (undecided)."""
    first = replace(study, extended=())
    s = report.summarize_setting(first, setting, outcome.records, outcome.tuned)
    out = []
    for p in report.PRIOTS:
        for group in deciding_groups():
            d = s["differences"].get(p, {}).get(group)
            if d is None:
                continue
            if d["n"] < len(study.seeds):
                return None
            lo, hi = d["ci_pp"]
            if not lo > 0 and not hi < 0:  # contains 0, or no interval (nan)
                out.append(f"{report.LABEL[p]} − {group}")
    return out


def extend(study: Study, outcome) -> Study:
    """``study`` with every setting whose first stage leaves a headline sign open marked ``extended`` (and those
    whose first stage is not finished marked ``undecided``)."""
    if not study.more_seeds:
        return study
    signs = {s.key: open_signs(study, s, outcome) for s in study.settings}
    wider = tuple(k for k, o in signs.items() if o)
    undecided = tuple(k for k, o in signs.items() if o is None)
    return replace(study, extended=wider, undecided=undecided) if wider or undecided else study


def run_in_stages(study: Study, run):
    """(study as run, outcome) of running ``study``'s first stage with ``run`` (a Study -> engine.Outcome), then
    its second where the first leaves a sign open. The second run finds the first stage's cells finished; the
    counts are of both stages together."""
    first = run(study)
    wider = extend(study, first)
    if not wider.extended:
        return wider, first
    second = run(wider)
    second.skipped -= first.ran  # the first stage's cells, which the second run found finished
    second.ran += first.ran
    second.backbones += first.backbones
    return wider, second
