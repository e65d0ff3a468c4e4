"""From cell records to the study's numbers: per-setting means, paired differences, verdicts, table.md.

Statistics: accuracy as mean ± sample std over seeds; PRIOT − baseline as the per-seed paired difference
(same splits, backbone and sample order), its mean and 95% t-interval over the seeds of the setting; the
pooled verdict treats settings as fixed strata (``stats``). The *best* baseline of a group is chosen on
validation data (the member whose tuning curve reaches the highest validation accuracy on the seed's tuning
split), never on the test set, and a seed whose chosen baseline (or PRIOT) has no test result is marked
missing, not replaced by another member. Each final run's tuned knob values (``result.knobs``) are shown per
method and seed, and every tuned knob at the edge of the grid searched (``result.edges``) is flagged: the step
with ‡ in the accuracy table, every knob in the edge section.
"""

import functools
import json
import math
import os
from pathlib import Path

from priot import data, methods
from priot.device import fit
from priot.experiments.study import stats
from priot.experiments.study.version import code_version
from priot.experiments.study.grid import (Study, angle_label, cell_key, cell_recipe, display_order, final_cell,
                                          tune_cells, tuning_source)
from priot.models import get_model

PAPER_CLAIM = "paper: ≥ +8"
PRIOTS = ("priot", "priot-s")
LABEL = {"priot": "PRIOT", "priot-s": "PRIOT-S"}
WHOLE = "whole-network static-scale"  # the comparison group of every competitor that trains all layers


def competitor_families():
    """Families PRIOT is judged against: static-scale integer competitors, not PRIOT or the references."""
    return [f for f in methods.FAMILIES if f not in ("priot", "reference")]


def mean_std(values) -> tuple:
    v = [float(x) for x in values]
    if not v:
        return (math.nan, math.nan)
    m = sum(v) / len(v)
    s = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return (m, s)


def _curves(study, setting, seed, records):
    """{method: {step: validation accuracy}} of the tuning group that sets ``setting``'s steps for ``seed``."""
    src = tuning_source(setting, study)
    curves = {}
    for c in tune_cells(study, src, study.tuning_seed(seed)):
        r = records.get(cell_key(c))
        if r and r["status"] == "ok":
            curves.setdefault(c["method"], {})[c["step"]] = r["result"]["accuracy"]
    return curves


def comparison_groups() -> dict:
    """What PRIOT is compared with: {group name: member methods}. Each competitor family, and the
    whole-network static-scale methods (every competitor that trains all layers: the abstract's claim is
    about training a network under static scales)."""
    groups = {fam: methods.names(family=fam) for fam in competitor_families()}
    groups[WHOLE] = [n for n in methods.REGISTRY if methods.spec(n).layers == "all"
                     and methods.spec(n).family in competitor_families()]
    return groups


def edge_of(name, step):
    """'lower'/'upper' when a tuned ``step`` sits at that edge of the method's grid, else None."""
    grid = methods.spec(name).grid
    if not grid or step is None:
        return None
    return "lower" if step == grid[0] else "upper" if step == grid[-1] else None


@functools.lru_cache(maxsize=512)
def _fits(model: str, variant) -> tuple:
    return fit.fits(get_model(model), variant)


def fits_pico(config: dict, knobs: dict) -> tuple:
    """(fits, why) of a final run: the firmware variant its recipe and tuned knobs build, against the Pico's
    SRAM and flash at the run's width (``priot.device.fit``)."""
    other = {k: v for k, v in (knobs or {}).items() if k != methods.STEP}
    return _fits(config["model"], cell_recipe(config, other).variant(config["method"]))


def summarize_setting(study: Study, setting, records: dict, tuned: dict) -> dict:
    src = tuning_source(setting, study)
    rows, curves, missing = {}, {}, {}
    seeds = study.seeds_of(setting)
    for seed in seeds:
        g = (src.key, study.tuning_seed(seed))
        curves[str(g[1])] = _curves(study, setting, seed, records)
        for name in study.methods:
            step = tuned.get(g, {}).get(name) if methods.spec(name).grid else None
            r = records.get(cell_key(final_cell(study, setting, seed, name, step)))
            if r is None or r["status"] != "ok":
                missing.setdefault(name, []).append(str(seed))
                continue
            row = rows.setdefault(name, {"family": methods.spec(name).family, "seeds": {}, "steps": {},
                                         "state_bytes": r["result"]["state_bytes"], "device": {}, "edge": {}})
            row["seeds"][str(seed)] = r["result"]["accuracy"]
            row["steps"][str(seed)] = step
            ok, why = fits_pico(r["config"], r["result"].get("knobs"))
            row.setdefault("fits", {})[str(seed)] = ok
            row.setdefault("fits_why", {})[str(seed)] = why
            if "steps" in r["config"]:  # the grids its tuning searched (the fit caps some, per model)
                row["grids"] = {methods.STEP: r["config"]["steps"], **r["config"]["search"]}
            at = {k: side for k, side in r["result"].get("edges", {}).items() if side}
            if r["result"].get("knobs"):  # the grid searched decides (the quick preset's is a sub-grid)
                row.setdefault("knobs", {})[str(seed)] = r["result"]["knobs"]
                row.setdefault("knob_edges", {})
                if at:
                    row["knob_edges"][str(seed)] = at
            side = at.get(methods.STEP) if "knobs" in r["result"] else edge_of(name, step)
            if side:
                row["edge"][str(seed)] = side
            if "device" in r["result"]:
                row["device"][str(seed)] = r["result"]["device"]
    for row in rows.values():
        row["mean"], row["std"] = mean_std(row["seeds"].values())
    diffs = {}
    for p in PRIOTS:
        if p not in study.methods:
            continue
        for group, members in comparison_groups().items():
            d = paired_difference(p, [m for m in members if m in study.methods], rows, curves, study, seeds)
            if d is not None:
                diffs.setdefault(p, {})[group] = d
    return {"model": setting.model, "family": setting.family, "width": setting.width, "angle": setting.angle,
            "label": setting.label, "seeds": [str(x) for x in seeds], "extended": setting.key in study.extended,
            "tuned_on": {"setting": tuning_source(setting, study).label,
                         "seeds": "each seed" if study.tune_every_seed else f"seed {study.seeds[0]}"},
            "methods": rows, "missing": missing, "tuning_curves": curves, "differences": diffs}


def paired_difference(priot: str, members: list, rows: dict, curves: dict, study: Study, seeds) -> dict | None:
    """PRIOT − the group's best member (chosen on validation) per seed of ``seeds``, with the seeds'
    t-interval. A seed whose PRIOT or chosen baseline has no test result is listed under ``missing``, never
    replaced by another member. None when no member of the group is in the study."""
    if not members:
        return None
    per_seed, missing = {}, []
    for seed in seeds:
        k = str(seed)
        best = best_member(members, curves[str(study.tuning_seed(seed))])
        if best is None:
            missing.append(f"seed {seed}: no member tuned")
            continue
        gone = [n for n in (priot, best) if k not in rows.get(n, {}).get("seeds", {})]
        if gone:
            missing.append(f"seed {seed}: {' and '.join(gone)} not run")
            continue
        per_seed[k] = {"baseline": best, "diff": 100 * (rows[priot]["seeds"][k] - rows[best]["seeds"][k])}
    if not per_seed and not missing:
        return None
    ci = stats.t_interval([d["diff"] for d in per_seed.values()])
    return {"per_seed": per_seed, "missing": missing, "mean_pp": ci["mean"], "std_pp": ci["sd"],
            "ci_pp": [ci["lo"], ci["hi"]], "half_pp": ci["half"], "n": ci["n"],
            "baselines": sorted({d["baseline"] for d in per_seed.values()})}


def best_member(members, curves):
    """The member with the best validation accuracy on the seed's tuning split (tie: registry order). The
    choice uses validation only: whether the member's test run exists does not change it."""
    best = None
    for name in members:
        if not curves.get(name):
            continue
        v = max(curves[name].values())
        if best is None or v > best[1]:
            best = (name, v)
    return best[0] if best else None


def _fmt_ci(c) -> str:
    if math.isnan(c["half"]):
        return f"{c['mean']:+.1f} (no interval: {c.get('strata', c.get('n'))} usable)"
    return f"{c['mean']:+.1f} [{c['lo']:+.1f}, {c['hi']:+.1f}]"


def scopes(settings: list) -> list:
    """(name, settings) the verdicts pool: each model family's settings together (the study's settings when
    it has one family), then each model (width) of a family that has several. Families are never pooled with
    each other: their data, backbones and budgets differ."""
    out = []
    families = list(dict.fromkeys(s.get("family", "tiny_cnn") for s in settings))
    for fam in families:
        ss = [s for s in settings if s.get("family", "tiny_cnn") == fam]
        out.append(("all settings" if len(families) == 1 else fam, ss))
        models = list(dict.fromkeys(s["model"] for s in ss))
        if len(models) > 1:
            out += [(m, [s for s in ss if s["model"] == m]) for m in models]
    return out


def verdicts(settings: list) -> list:
    """One line per (PRIOT variant, comparison group) and scope (``scopes``). The interval treats settings as
    fixed strata (``stats.stratified_interval``)."""
    lines = []
    for scope, ss in scopes(settings):
        for p in PRIOTS:
            for group in comparison_groups():
                ds = [s["differences"][p][group] for s in ss if group in s["differences"].get(p, {})]
                strata = [[d["diff"] for d in x["per_seed"].values()] for x in ds]
                if not any(strata):
                    continue
                ci = stats.stratified_interval(strata)
                seeds = sorted({k for x in ds for k in x["per_seed"]}, key=int)
                counts = sorted({len(s["seeds"]) for s in ss if group in s["differences"].get(p, {})})
                over = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
                per_setting = [x["mean_pp"] for x in ds if x["n"]]
                n_missing = sum(len(x["missing"]) for x in ds)
                what = f"best {group} baseline" if group != WHOLE else f"best {WHOLE} method"
                df = "" if math.isnan(ci["half"]) else f", df {ci['df']:.1f}"
                lines.append({"priot": p, "family": group, "scope": scope, "mean_pp": ci["mean"],
                              "ci_pp": [ci["lo"], ci["hi"]],
                              "se_pp": ci["se"], "df": ci["df"], "pairs": sum(len(s) for s in strata),
                              "seeds": len(seeds), "settings": ci["strata"], "excluded_settings": ci["excluded"],
                              "missing_pairs": n_missing, "min_setting_pp": min(per_setting),
                              "max_setting_pp": max(per_setting),
                              "line": f"{LABEL[p]} − {what} = {_fmt_ci(ci)} pp (95% CI, settings as fixed strata{df}) "
                                      f"[{scope}] over {over} seeds × {ci['strata']} settings "
                                      f"({ci['n']} paired runs"
                                      + (f"; {ci['excluded']} setting(s) with < 2 seeds left out"
                                         if ci["excluded"] else "")
                                      + (f"; {n_missing} pair(s) missing" if n_missing else "")
                                      + f"; per setting {min(per_setting):+.1f} to {max(per_setting):+.1f})"
                                        f" ({PAPER_CLAIM})"})
    return lines


def model_header(study: Study) -> dict:
    """What a reader needs to know of one model family's grid."""
    return {"family": study.family, "preset": study.preset, "seeds": list(study.seeds),
            "more_seeds": study.more_seeds, "extended": [s.label for s in study.settings if s.key in study.extended],
            "undecided": [s.label for s in study.settings if s.key in study.undecided],
            "settings": [s.label for s in study.settings], "samples": study.samples, "test": study.test,
            "epochs": study.epochs, "pretrain": study.pretrain_images, "val": study.val, "val_frac": study.val_frac,
            "dataset": study.data, "small_grids": study.small_grids}


def summarize(studies, outcomes, engine_info: dict, wall_seconds: float) -> dict:
    """The report of one study and its outcome, or of several (one per model family, ``studies`` and
    ``outcomes`` as parallel lists)."""
    if isinstance(studies, Study):
        studies, outcomes = [studies], [outcomes]
    settings = []
    for study, outcome in zip(studies, outcomes):
        settings += display_order([summarize_setting(study, s, outcome.records, outcome.tuned)
                                   for s in study.settings])
    records = {k: r for o in outcomes for k, r in o.records.items()}
    failed = [{"key": r["key"], "kind": r["config"]["kind"], "method": r["config"]["method"],
               "model": r["config"]["model"], "angle": r["config"]["angle"], "seed": r["config"]["seed"],
               "step": r["config"]["step"], "error": r["error"]} for r in records.values() if r["status"] != "ok"]
    first = studies[0]
    every = list(dict.fromkeys(m for st in studies for m in st.methods))
    return {"study": {"preset": first.preset, "methods": every, "models": [model_header(st) for st in studies],
                      "tuning": "each seed on its own validation split" if first.tune_every_seed else
                      "first seed's validation split, steps reused for the other seeds",
                      "device": first.device, "families": {m: methods.spec(m).family for m in every},
                      "code_version": code_version(), "device_code_version": code_version(device=True),
                      "code_sources": "priot.experiments.study.version.HOST (+ DEVICE for device cells)"},
            "engine": dict(engine_info, wall_seconds=round(wall_seconds, 1)),
            "cells": {"total": len(records), "ran": sum(o.ran for o in outcomes),
                      "skipped": sum(o.skipped for o in outcomes), "missing": sum(o.missing for o in outcomes),
                      "failed": len(failed), "backbones_built": sum(o.backbones for o in outcomes),
                      "cell_wall_seconds": round(sum(r.get("seconds", 0) for r in records.values()), 1),
                      "cell_cpu_seconds": round(sum(r.get("cpu_seconds", 0) for r in records.values()), 1),
                      "cells_with_cpu_time": sum("cpu_seconds" in r for r in records.values())},
            "settings": settings, "verdicts": verdicts(settings), "failed": failed}


def _pm(mean, std, scale=100.0):
    return "–" if math.isnan(mean) else f"{scale * mean:.1f} ± {scale * std:.1f}"


def _family_order(names):
    fams = list(methods.FAMILIES)
    return sorted(names, key=lambda n: (fams.index(methods.spec(n).family), list(methods.REGISTRY).index(n)))


def _steps_note(row) -> str:
    """' (7)', or ' (3/4)' when seeds were tuned apart; '‡' marks a step at the edge of its grid."""
    steps = [(st, k in row["edge"]) for k, st in row["steps"].items() if st is not None]
    if not steps:
        return ""
    shown = list(dict.fromkeys(f"{st}{'‡' if edge else ''}" for st, edge in steps))
    return f" ({'/'.join(shown)})"


def _missing_note(seeds) -> str:
    return f" [seed {', '.join(seeds)} missing]" if seeds else ""


def _diff_cell(v, baselines=False) -> str:
    ci = "" if math.isnan(v["half_pp"]) else f" [{v['ci_pp'][0]:+.1f}, {v['ci_pp'][1]:+.1f}]"
    mean = "–" if math.isnan(v["mean_pp"]) else f"{v['mean_pp']:+.1f}"
    return (f"{mean}{ci} (n={v['n']}" + (f"; {', '.join(v['baselines'])}" if baselines else "") + ")"
            + (f" missing: {'; '.join(v['missing'])}" if v["missing"] else ""))


def edge_flags(summary) -> list:
    """One line per (method, setting, knob value) whose tuned value sits at an edge of the grid searched, with
    the seeds it did so on. Finals that record their knobs' edges (``knob_edges``) flag every knob; older ones
    only the step."""
    out = []
    for s in summary["settings"]:
        for n, r in s["methods"].items():
            if "knob_edges" in r:
                at = {}
                for seed, edges in r["knob_edges"].items():
                    for k, side in edges.items():
                        at.setdefault((k, r["knobs"][seed][k], side), []).append(seed)
                order = [k.name for k in methods.spec(n).knobs]
                for (k, v, side), seeds in sorted(at.items(), key=lambda e: (order.index(e[0][0]), str(e[0][1]))):
                    grid = r["grids"][k]
                    out.append(f"{n} @ {s['label']}: {k} {v:g} ({side} edge) of {grid[0]:g}..{grid[-1]:g}, "
                               f"seed(s) {', '.join(sorted(seeds, key=int))}")
            elif r["edge"]:
                grid = methods.spec(n).grid
                at = sorted({f"{r['steps'][k]} ({side} edge)" for k, side in r["edge"].items()})
                out.append(f"{n} @ {s['label']}: step {', '.join(at)} of {grid[0]}..{grid[-1]}, seed(s) "
                           f"{', '.join(sorted(r['edge'], key=int))}")
    return out


def _fmt_knob(v) -> str:
    return f"{v:g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


def knob_lines(summary) -> list:
    """Per setting, one table row per method whose tuning chose knobs besides the step: each seed's tuned
    values (the untuned ones left out), ‡ at an edge of the grid searched."""
    out = []
    for s in summary["settings"]:
        rows = []
        for n in _family_order(s["methods"]):
            r = s["methods"][n]
            tuned = [k.name for k in methods.spec(n).tuned]
            if not r.get("knobs") or not any(k != methods.STEP for k in tuned):
                continue
            per_seed = []
            for seed in sorted(r["knobs"], key=int):
                edges = r.get("knob_edges", {}).get(seed, {})
                vals = [f"{k} {_fmt_knob(r['knobs'][seed][k])}{'‡' if k in edges else ''}" for k in tuned
                        if k in r["knobs"][seed]]
                per_seed.append(f"seed {seed}: {', '.join(vals)}")
            rows.append(f"| {n} | {'; '.join(per_seed)} |")
        if rows:
            out += [f"### {s['label']}", "", "| method | tuned knobs per seed |", "|---|---|"] + rows + [""]
    return out


_FAMILY_NAME = {"tiny_cnn": "tiny CNN on rotated MNIST", "vgg11": "VGG11"}


def _model_title(m: dict) -> str:
    if m["family"] == "tiny_cnn":
        return _FAMILY_NAME["tiny_cnn"]
    return f"{_FAMILY_NAME.get(m['family'], m['family'])} on rotated {m['dataset']}"


def fits_cell(name: str, rows: list) -> str:
    """yes / no / host only, or "yes at n of m runs" when the tuned configurations differ."""
    if not methods.spec(name).device:
        return "host only"
    verdicts = [ok for r in rows for ok in r.get("fits", {}).values()]
    if not verdicts:
        return "–"
    if all(verdicts):
        return "yes"
    if not any(verdicts):
        return "no"
    return f"yes in {sum(verdicts)} of {len(verdicts)} runs"


def _seeds_note(m: dict) -> str:
    """'3 seeds', or the two stages: where the first leaves a headline sign open (``extension``)."""
    first = f"{len(m['seeds'])} seeds"
    if not m.get("more_seeds"):
        return first
    at = ", ".join(m["extended"]) if m["extended"] else "none"
    wait = f"; not decided yet at {', '.join(m['undecided'])}: first stage unfinished" if m.get("undecided") else ""
    return (f"{first}, {len(m['seeds']) + m['more_seeds']} where {len(m['seeds'])} leave the sign of a headline "
            f"difference open (at: {at}{wait})")


def table_md(summary: dict) -> str:
    """The paper-style tables: per width, method × angle (mean ± std, tuned step), state bytes; differences;
    accuracy against width; verdicts."""
    st, eng, cells = summary["study"], summary["engine"], summary["cells"]
    partial = f"; PARTIAL: {cells['missing']} cells not run yet" if cells["missing"] else ""
    models = st["models"]
    out = [f"# PRIOT against the baselines: {', '.join(_model_title(m) for m in models)} ({st['preset']} grid)", ""]
    for m in models:
        items = data.items(m["dataset"])
        out += [f"- **{_FAMILY_NAME.get(m['family'], m['family'])}**: {_seeds_note(m)}; {m['samples']} rotated "
                f"training {items} ({m['val']} held out for tuning: one {items[:-1]} = {100 / m['val']:.2g} pp of "
                f"validation accuracy), {m['test']} test {items}, {m['epochs']} epochs, backbone pretrained on "
                f"{m['pretrain']:,} upright {items}; knobs searched over "
                + ("their quick sub-grids" if m["small_grids"] else "their whole grids") + "."]
    out += ["", f"Knobs tuned on validation: {st['tuning']}. Cells: {cells['total']} "
            f"({cells['ran']} run now, {cells['skipped']} reused, {cells['failed']} "
            f"failed{partial}); {cells['cell_wall_seconds']:.0f} s of cell wall time, {cells['cell_cpu_seconds']:.0f} s "
            f"of cell CPU time ({cells['cells_with_cpu_time']} cells timed); {eng['kind']} with {eng['workers']} "
            f"workers, {eng['wall_seconds']:.0f} s wall time this invocation. Code version {st['code_version']}.", ""]
    waiting = [s["label"] for s in summary["settings"] if not s["methods"]]
    if waiting:
        out += [f"Not finished yet (no final runs): {', '.join(waiting)}.", ""]
    done = [s for s in summary["settings"] if s["methods"]]
    by_width = {}
    for s in done:
        by_width.setdefault(s["model"], []).append(s)
    for model, ss in by_width.items():
        names = _family_order({n for s in ss for n in s["methods"]})
        out += [f"## {model}: test accuracy (%), mean ± std over seeds (tuned step; ‡ at the edge of its grid)", "",
                "*fits the Pico*: the firmware of the tuned configuration fits the RP2040's SRAM and flash at this "
                "width (`priot.device.fit`); “no” and “host only” rows were measured on the host all the same.", "",
                "| family | method | " + " | ".join(angle_label(s["angle"]) for s in ss) + " | state B | fits the Pico |",
                "|---|---|" + "---|" * len(ss) + "---|---|"]
        for n in names:
            cells = []
            for s in ss:
                r = s["methods"].get(n)
                if r is None:
                    cells.append("–")
                    continue
                cells.append(_pm(r["mean"], r["std"]) + _steps_note(r) + _missing_note(s["missing"].get(n)))
            sb = next(s["methods"][n]["state_bytes"] for s in ss if n in s["methods"])
            out.append(f"| {methods.spec(n).family} | {n} | " + " | ".join(cells) + f" | {sb:,} | "
                       f"{fits_cell(n, [s['methods'][n] for s in ss if n in s['methods']])} |")
        out += ["", "Paired differences (pp): mean [95% t-interval] over the seeds (n); best baseline of each group "
                "chosen on validation; “missing” names a seed without a pair:", "",
                "| difference | " + " | ".join(angle_label(s["angle"]) for s in ss) + " |",
                "|---|" + "---|" * len(ss)]
        for p in PRIOTS:
            for fam in comparison_groups():
                vals = [s["differences"].get(p, {}).get(fam) for s in ss]
                if not any(vals):
                    continue
                cells = ["–" if v is None else _diff_cell(v, baselines=True) for v in vals]
                out.append(f"| {LABEL[p]} − best {fam} | " + " | ".join(cells) + " |")
        out.append("")
    by_angle = {}
    for s in done:
        by_angle.setdefault((s["family"], str(s["angle"])), []).append(s)  # widths of one family
    for angle, ss in by_angle.items():
        if len(ss) < 2:
            continue
        names = _family_order({n for s in ss for n in s["methods"]})
        out += [f"## Accuracy against width at {angle_label(ss[0]['angle'])} (%; steps tuned on "
                f"{ss[-1]['tuned_on']['setting']})", "",
                "| method | " + " | ".join(f"{s['model']}" for s in ss) + " |", "|---|" + "---|" * len(ss)]
        for n in names:
            out.append(f"| {n} | " + " | ".join(_pm(s["methods"][n]["mean"], s["methods"][n]["std"])
                                                if n in s["methods"] else "–" for s in ss) + " |")
        for p in PRIOTS:
            for fam in comparison_groups():
                vals = [s["differences"].get(p, {}).get(fam) for s in ss]
                if any(vals):
                    out.append(f"| {LABEL[p]} − best {fam} (pp) | " + " | ".join(
                        "–" if v is None else _diff_cell(v) for v in vals) + " |")
        out.append("")
    knobs = knob_lines(summary)
    if knobs:
        out += ["## Tuned knobs (‡ at an edge of the grid searched)", ""] + knobs
    edges = edge_flags(summary)
    out += ["## Tuned knobs at the edge of their grid", ""] + ([f"- {e}" for e in edges] or ["- none"]) + [""]
    out += ["## Verdicts", "", f"Two readings: *best {{family}}* is PRIOT against the best member of each family; "
            f"*best {WHOLE}* is PRIOT against the best method that trains the whole network under static scales "
            f"({', '.join(comparison_groups()[WHOLE])}).", ""]
    out += [f"- {v['line']}" for v in summary["verdicts"]]
    if not summary["verdicts"]:
        out.append("- none: the grid has no PRIOT variant together with a competitor family")
    if summary["failed"]:
        out += ["", f"## Failed cells ({len(summary['failed'])})", ""]
        out += [f"- {f['kind']} {f['method']} step {f['step']} {f['model']} angle {f['angle']} seed {f['seed']}: "
                f"{f['error']}" for f in summary["failed"]]
    return "\n".join(out) + "\n"


def write(summary: dict, out_dir: Path):
    """results.json and table.md, each written atomically."""
    out_dir = Path(out_dir)
    for name, text in (("results.json", json.dumps(summary, indent=1)), ("table.md", table_md(summary))):
        tmp = out_dir / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, out_dir / name)
