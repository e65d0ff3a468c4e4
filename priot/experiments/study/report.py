"""From cell records to the study's numbers: per-setting means, paired differences, verdicts, table.md.

Statistics: accuracy as mean ± sample std over seeds; PRIOT − baseline as the per-seed paired difference
(same splits, backbone and sample order), mean ± std. The *best* baseline of a family is chosen on
validation data (the member whose tuning curve reaches the highest validation accuracy on the seed's
tuning split), never on the test set.
"""

import json
import math
import os
from pathlib import Path

from priot import methods
from priot.experiments.study.grid import Study, angle_label, display_order, cell_key, final_cell, tune_cells, tuning_source

PAPER_CLAIM = "paper: ≥ +8"
PRIOTS = ("priot", "priot-s")
LABEL = {"priot": "PRIOT", "priot-s": "PRIOT-S"}


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


def summarize_setting(study: Study, setting, records: dict, tuned: dict) -> dict:
    src = tuning_source(setting, study)
    rows, curves, steps = {}, {}, {}
    for seed in study.seeds:
        g = (src.key, study.tuning_seed(seed))
        curves[str(g[1])] = _curves(study, setting, seed, records)
        for name in study.methods:
            step = tuned.get(g, {}).get(name) if methods.spec(name).grid else None
            r = records.get(cell_key(final_cell(study, setting, seed, name, step)))
            if r is None or r["status"] != "ok":
                continue
            row = rows.setdefault(name, {"family": methods.spec(name).family, "seeds": {}, "steps": {},
                                         "state_bytes": r["result"]["state_bytes"], "device": {}})
            row["seeds"][str(seed)] = r["result"]["accuracy"]
            row["steps"][str(seed)] = step
            if "device" in r["result"]:
                row["device"][str(seed)] = r["result"]["device"]
            steps.setdefault(name, step)
    for row in rows.values():
        row["mean"], row["std"] = mean_std(row["seeds"].values())
    diffs = {}
    for p in PRIOTS:
        if p not in rows:
            continue
        for fam in competitor_families():
            per_seed = {}
            for seed in study.seeds:
                best = best_member(fam, curves[str(study.tuning_seed(seed))], rows, seed)
                if best is not None and str(seed) in rows[p]["seeds"]:
                    per_seed[str(seed)] = {"baseline": best,
                                           "diff": 100 * (rows[p]["seeds"][str(seed)] - rows[best]["seeds"][str(seed)])}
            if per_seed:
                m, s = mean_std(d["diff"] for d in per_seed.values())
                diffs.setdefault(p, {})[fam] = {"per_seed": per_seed, "mean_pp": m, "std_pp": s,
                                                "baselines": sorted({d["baseline"] for d in per_seed.values()})}
    return {"model": setting.model, "width": setting.width, "angle": setting.angle, "label": setting.label,
            "tuned_on": {"setting": tuning_source(setting, study).label,
                         "seeds": "each seed" if study.tune_every_seed else f"seed {study.seeds[0]}"},
            "methods": rows, "tuning_curves": curves, "differences": diffs}


def best_member(family, curves, rows, seed):
    """The family's member with the best validation accuracy (tie: registry order) that has a test result."""
    best = None
    for name in methods.names(family=family):
        if name not in rows or str(seed) not in rows[name]["seeds"] or name not in curves:
            continue
        v = max(curves[name].values())
        if best is None or v > best[1]:
            best = (name, v)
    return best[0] if best else None


def verdicts(settings: list) -> list:
    """One line per (PRIOT variant, competitor family), pooled over every setting and seed."""
    lines = []
    for p in PRIOTS:
        for fam in competitor_families():
            pairs = [d["diff"] for s in settings for d in s["differences"].get(p, {}).get(fam, {}).get(
                "per_seed", {}).values()]
            if not pairs:
                continue
            per_setting = [s["differences"][p][fam]["mean_pp"] for s in settings if fam in s["differences"].get(p, {})]
            seeds = {k for s in settings for k in s["differences"].get(p, {}).get(fam, {}).get("per_seed", {})}
            m, sd = mean_std(pairs)
            lines.append({"priot": p, "family": fam, "mean_pp": m, "std_pp": sd, "pairs": len(pairs),
                          "seeds": len(seeds), "settings": len(per_setting), "min_setting_pp": min(per_setting),
                          "max_setting_pp": max(per_setting),
                          "line": f"{LABEL[p]} − best {fam} baseline = {m:+.1f} ± {sd:.1f} pp over {len(seeds)} seeds"
                                  f" × {len(per_setting)} settings ({len(pairs)} paired runs; per setting "
                                  f"{min(per_setting):+.1f} to {max(per_setting):+.1f}) ({PAPER_CLAIM})"})
    return lines


def summarize(study: Study, outcome, engine_info: dict, wall_seconds: float) -> dict:
    settings = display_order([summarize_setting(study, s, outcome.records, outcome.tuned) for s in study.settings])
    failed = [{"key": r["key"], "kind": r["config"]["kind"], "method": r["config"]["method"],
               "model": r["config"]["model"], "angle": r["config"]["angle"], "seed": r["config"]["seed"],
               "step": r["config"]["step"], "error": r["error"]} for r in outcome.failed]
    return {"study": {"preset": study.preset, "seeds": list(study.seeds), "methods": list(study.methods),
                      "settings": [s.label for s in study.settings], "samples": study.samples, "test": study.test,
                      "epochs": study.epochs, "pretrain": study.pretrain, "val_frac": study.val_frac,
                      "tuning": "each seed on its own validation split" if study.tune_every_seed else
                      "first seed's validation split, steps reused for the other seeds",
                      "device": study.device, "families": {m: methods.spec(m).family for m in study.methods}},
            "engine": dict(engine_info, wall_seconds=round(wall_seconds, 1)),
            "cells": {"total": len(outcome.records), "ran": outcome.ran, "skipped": outcome.skipped,
                      "missing": outcome.missing, "failed": len(failed), "backbones_built": outcome.backbones,
                      "cell_seconds": round(sum(r.get("seconds", 0) for r in outcome.records.values()), 1),
                      "cell_cpu_seconds": round(sum(r.get("cpu_seconds", 0) for r in outcome.records.values()), 1),
                      "cells_with_cpu_time": sum("cpu_seconds" in r for r in outcome.records.values())},
            "settings": settings, "verdicts": verdicts(settings), "failed": failed}


def _pm(mean, std, scale=100.0):
    return "–" if math.isnan(mean) else f"{scale * mean:.1f} ± {scale * std:.1f}"


def _family_order(names):
    fams = list(methods.FAMILIES)
    return sorted(names, key=lambda n: (fams.index(methods.spec(n).family), list(methods.REGISTRY).index(n)))


def table_md(summary: dict) -> str:
    """The paper-style tables: per width, method × angle (mean ± std, tuned step), state bytes; differences;
    accuracy against width; verdicts."""
    st, eng = summary["study"], summary["engine"]
    partial = f"; PARTIAL: {summary['cells']['missing']} cells not run yet" if summary["cells"]["missing"] else ""
    out = [f"# PRIOT against the baselines: rotated MNIST, tiny CNN ({st['preset']} grid)", "",
           f"{len(st['seeds'])} seeds; {st['samples']} rotated training digits ({int(round(100 * st['val_frac']))}% "
           f"held out for tuning), {st['test']} test digits, {st['epochs']} epochs, backbone pretrained on "
           f"{st['pretrain']} upright digits. Steps tuned on validation: {st['tuning']}. Cells: {summary['cells']['total']} "
           f"({summary['cells']['ran']} run now, {summary['cells']['skipped']} reused, {summary['cells']['failed']} "
           f"failed{partial}); {summary['cells']['cell_seconds']:.0f} s of cell time; {eng['kind']} with {eng['workers']} "
           f"workers, {eng['wall_seconds']:.0f} s wall time this invocation.", ""]
    waiting = [s["label"] for s in summary["settings"] if not s["methods"]]
    if waiting:
        out += [f"Not finished yet (no final runs): {', '.join(waiting)}.", ""]
    done = [s for s in summary["settings"] if s["methods"]]
    by_width = {}
    for s in done:
        by_width.setdefault(s["model"], []).append(s)
    for model, ss in by_width.items():
        names = _family_order({n for s in ss for n in s["methods"]})
        out += [f"## {model}: test accuracy (%), mean ± std over seeds (tuned step)", "",
                "| family | method | " + " | ".join(angle_label(s["angle"]) for s in ss) + " | state B |",
                "|---|---|" + "---|" * len(ss) + "---|"]
        for n in names:
            cells = []
            for s in ss:
                r = s["methods"].get(n)
                if r is None:
                    cells.append("–")
                    continue
                step = next(iter(r["steps"].values()))
                cells.append(_pm(r["mean"], r["std"]) + ("" if step is None else f" ({step})"))
            sb = next(s["methods"][n]["state_bytes"] for s in ss if n in s["methods"])
            out.append(f"| {methods.spec(n).family} | {n} | " + " | ".join(cells) + f" | {sb:,} |")
        out += ["", f"Paired differences (pp), mean ± std over seeds; best baseline of each family chosen on validation:", "",
                "| difference | " + " | ".join(angle_label(s["angle"]) for s in ss) + " |",
                "|---|" + "---|" * len(ss)]
        for p in PRIOTS:
            for fam in competitor_families():
                vals = [s["differences"].get(p, {}).get(fam) for s in ss]
                if not any(vals):
                    continue
                cells = ["–" if v is None else f"{v['mean_pp']:+.1f} ± {v['std_pp']:.1f} ({', '.join(v['baselines'])})"
                         for v in vals]
                out.append(f"| {LABEL[p]} − best {fam} | " + " | ".join(cells) + " |")
        out.append("")
    by_angle = {}
    for s in done:
        by_angle.setdefault(str(s["angle"]), []).append(s)
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
            for fam in competitor_families():
                vals = [s["differences"].get(p, {}).get(fam) for s in ss]
                if any(vals):
                    out.append(f"| {LABEL[p]} − best {fam} (pp) | " + " | ".join(
                        "–" if v is None else f"{v['mean_pp']:+.1f} ± {v['std_pp']:.1f}" for v in vals) + " |")
        out.append("")
    out += ["## Verdicts", ""] + [f"- {v['line']}" for v in summary["verdicts"]]
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
