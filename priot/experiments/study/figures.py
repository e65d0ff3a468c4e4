"""The study's PNG figures (matplotlib, Agg backend: no display needed), drawn from results.json's summary."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from priot import methods  # noqa: E402
from priot.experiments.study.grid import angle_label  # noqa: E402
from priot.experiments.study.report import LABEL, PRIOTS, competitor_families, mean_std  # noqa: E402

STYLE = {"priot": "-", "engineered": "--", "published": "-.", "naive": ":", "reference": (0, (1, 3))}


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def _widest_angle_group(summary):
    """The settings of the model with the most angles (the paper-style table)."""
    by_model = {}
    for s in [s for s in summary["settings"] if s["methods"]] or summary["settings"]:
        by_model.setdefault(s["model"], []).append(s)
    return max(by_model.values(), key=len)


def accuracy_vs_angle(summary, path):
    ss = _widest_angle_group(summary)
    fig, ax = plt.subplots(figsize=(8, 5))
    xs = list(range(len(ss)))
    for n in summary["study"]["methods"]:
        pts = [(i, s["methods"][n]) for i, s in enumerate(ss) if n in s["methods"]]
        if not pts:
            continue
        ax.errorbar([i for i, _ in pts], [100 * r["mean"] for _, r in pts], yerr=[100 * r["std"] for _, r in pts],
                    label=f"{n} ({methods.spec(n).family})", capsize=3, marker="o", ms=4,
                    linestyle=STYLE[methods.spec(n).family])
    ax.set_xticks(xs, [angle_label(s["angle"]) for s in ss])
    ax.set(xlabel="rotation", ylabel="test accuracy (%)", title=f"{ss[0]['model']}: accuracy by angle (mean ± std over seeds)")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def differences(summary, path):
    ss = _widest_angle_group(summary)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), sharey=True)
    for ax, p in zip(axes, PRIOTS):
        for k, fam in enumerate(competitor_families()):
            pts = [(i, s["differences"][p][fam]) for i, s in enumerate(ss) if fam in s["differences"].get(p, {})]
            if pts:
                ax.errorbar([i + 0.08 * (k - 1) for i, _ in pts], [d["mean_pp"] for _, d in pts],
                            yerr=[d["std_pp"] for _, d in pts], capsize=3, marker="o", label=f"best {fam}")
        ax.axhline(0, color="k", lw=0.8)
        ax.axhline(8, color="r", lw=0.8, ls="--", label="paper: ≥ +8")
        ax.set_xticks(range(len(ss)), [angle_label(s["angle"]) for s in ss])
        ax.set(title=f"{LABEL[p]} − best baseline per family ({ss[0]['model']})", xlabel="rotation")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("paired difference (pp), mean ± std over seeds")
    return _save(fig, path)


def accuracy_vs_state(summary, path):
    ss = _widest_angle_group(summary)
    fig, ax = plt.subplots(figsize=(7, 5))
    for n in summary["study"]["methods"]:
        rows = [s["methods"][n] for s in ss if n in s["methods"]]
        if not rows or not rows[0]["state_bytes"]:
            continue
        m, sd = mean_std([r["mean"] for r in rows])
        ax.errorbar(rows[0]["state_bytes"], 100 * m, yerr=100 * sd, marker="o", capsize=3)
        ax.annotate(n, (rows[0]["state_bytes"], 100 * m), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set(xlabel="training state (bytes, log)", ylabel="test accuracy (%), mean over angles ± std across angles",
           title=f"{ss[0]['model']}: accuracy against training-state memory")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def tuning_curves(summary, path):
    ss = [s for s in summary["settings"] if s["tuned_on"]["setting"] == s["label"]]
    tuned = [n for n in summary["study"]["methods"] if methods.spec(n).grid]
    cols = 4
    rows = max(1, -(-len(tuned) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, n in zip(axes.flat, tuned):
        for s in ss:
            seed, curve = next(iter(s["tuning_curves"].items()))
            c = curve.get(n)
            if c:
                steps = sorted(c, key=int)
                ax.plot([int(k) for k in steps], [100 * c[k] for k in steps], marker=".", label=s["label"])
        ax.set_title(n, fontsize=9)
        ax.set_xlabel(methods.spec(n).step_name, fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(tuned):]:
        ax.axis("off")
    axes[0][0].set_ylabel("validation accuracy (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, fontsize=7, loc="lower right")
    fig.suptitle("tuning curves: validation accuracy per step (first tuning seed)", fontsize=10)
    return _save(fig, path)


def accuracy_vs_width(summary, path):
    by_angle = {}
    for s in [s for s in summary["settings"] if s["methods"]]:
        by_angle.setdefault(str(s["angle"]), []).append(s)
    groups = [g for g in by_angle.values() if len(g) > 1]
    if not groups:
        return None
    fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4.5), squeeze=False)
    for ax, ss in zip(axes[0], groups):
        ss = sorted(ss, key=lambda s: s["width"])
        for n in summary["study"]["methods"]:
            pts = [(s["width"], s["methods"][n]) for s in ss if n in s["methods"]]
            if pts:
                ax.errorbar([w for w, _ in pts], [100 * r["mean"] for _, r in pts],
                            yerr=[100 * r["std"] for _, r in pts], capsize=3, marker="o", label=n,
                            linestyle=STYLE[methods.spec(n).family])
        ax.set_xscale("log", base=2)
        ax.set_xticks([s["width"] for s in ss], [f"x{s['width']:g}" for s in ss])
        ax.set(xlabel="tiny CNN width factor", ylabel="test accuracy (%)",
               title=f"accuracy against width at {angle_label(ss[0]['angle'])}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def write_all(summary, out_dir: Path) -> list:
    """Every figure the data allows, as PNG files in ``out_dir``; returns their names."""
    out_dir = Path(out_dir)
    made = [accuracy_vs_angle(summary, out_dir / "accuracy_vs_angle.png"),
            differences(summary, out_dir / "priot_minus_baselines.png"),
            accuracy_vs_state(summary, out_dir / "accuracy_vs_state_bytes.png"),
            tuning_curves(summary, out_dir / "tuning_curves.png"),
            accuracy_vs_width(summary, out_dir / "accuracy_vs_width.png")]
    return [m for m in made if m]
