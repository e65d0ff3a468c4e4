"""The study's PNG figures (matplotlib, Agg backend: no display needed), drawn from results.json's summary."""

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.text import Text  # noqa: E402

from priot import methods  # noqa: E402
from priot.experiments.study.grid import angle_label  # noqa: E402
from priot.experiments.study.report import LABEL, PRIOTS, WHOLE, comparison_groups, mean_std  # noqa: E402

STYLE = {"priot": "-", "engineered": "--", "published": "-.", "naive": ":", "reference": (0, (1, 3))}
# One colour per method, the same in every figure (a test checks every registered method has its own).
COLOUR = {"priot": "#d62728", "priot-s": "#e377c2", "sgd-all": "#1f77b4", "sgd-last": "#17becf",
          "niti-all": "#2ca02c", "niti-last": "#bcbd22", "floor-all": "#8c564b", "floor-last": "#c49c94",
          "rtn-all": "#9467bd", "rtn-last": "#c5b0d5", "niti-dynamic": "#ff7f0e", "float-all": "#000000",
          "none": "#7f7f7f"}
UNLISTED = "#aaaaaa"  # a method registered after this table was written (tests' throw-away methods)
# The comparison groups of the differences figure (darker shades of their members' hues).
GROUP_COLOUR = {"engineered": "#08306b", "published": "#00441b", "naive": "#67000d", WHOLE: "#3f007d"}


def colour(name: str) -> str:
    return COLOUR.get(name, UNLISTED)


def _isotonic(values):
    """The non-decreasing sequence closest to ``values`` in least squares (pool adjacent violators)."""
    blocks = []  # [sum, count]
    for v in values:
        blocks.append([v, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, c = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += c
    return [b[0] / b[1] for b in blocks for _ in range(b[1])]


def _text_box(t, renderer):
    """The box of an annotation's text alone (an Annotation's own extent also covers its leader line)."""
    return Text.get_window_extent(t, renderer)


def place_labels(ax, texts, pad_px=2.0):
    """Stack annotation labels vertically so no two overlap: labels whose boxes share horizontal extent form
    a column, and each column's labels are moved as little as possible (least squares) to be at least
    their half-heights plus ``pad_px`` apart, keeping their order. Offsets are in points from the data
    point, so call this on the final layout."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    pt_per_px = 72.0 / fig.dpi
    boxes = [_text_box(t, renderer) for t in texts]
    parent = list(range(len(texts)))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            if boxes[i].x0 - pad_px < boxes[j].x1 and boxes[j].x0 - pad_px < boxes[i].x1:
                parent[root(i)] = root(j)
    columns = {}
    for i in range(len(texts)):
        columns.setdefault(root(i), []).append(i)
    for members in columns.values():
        members.sort(key=lambda i: (boxes[i].y0 + boxes[i].y1) / 2)
        want = [(boxes[i].y0 + boxes[i].y1) / 2 for i in members]
        gaps = [0.0]
        for a, b in zip(members, members[1:]):
            gaps.append(gaps[-1] + (boxes[a].height + boxes[b].height) / 2 + pad_px)
        got = [q + g for q, g in zip(_isotonic([w - g for w, g in zip(want, gaps)]), gaps)]
        for i, w, y in zip(members, want, got):
            x0, y0 = texts[i].xyann
            texts[i].xyann = (x0, y0 + (y - w) * pt_per_px)


def labels_overlap(ax, texts) -> bool:
    """Whether any two of ``texts`` overlap on the drawn figure."""
    renderer = ax.figure.canvas.get_renderer()
    boxes = [_text_box(t, renderer) for t in texts]
    return any(boxes[i].overlaps(boxes[j]) for i in range(len(boxes)) for j in range(i + 1, len(boxes)))


def _save(fig, path, layout=True):
    if layout:  # False when labels were placed on the final layout already
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
    fig, ax = plt.subplots(figsize=(10, 5))
    xs = list(range(len(ss)))
    shown = [n for n in summary["study"]["methods"] if any(n in s["methods"] for s in ss)]
    for k, n in enumerate(shown):
        dodge = 0.3 * (k / max(1, len(shown) - 1) - 0.5)  # methods side by side within an angle's category
        pts = [(i, s["methods"][n]) for i, s in enumerate(ss) if n in s["methods"]]
        ax.errorbar([i + dodge for i, _ in pts], [100 * r["mean"] for _, r in pts],
                    yerr=[100 * r["std"] for _, r in pts],
                    label=f"{n} ({methods.spec(n).family})", capsize=2, marker="o", ms=4, lw=1,
                    linestyle=STYLE[methods.spec(n).family], color=colour(n))
    ax.set_xticks(xs, [angle_label(s["angle"]) for s in ss])
    ax.set_xlim(-0.5, len(ss) - 0.5)
    for i in xs[1:]:
        ax.axvline(i - 0.5, color="0.85", lw=0.6)
    ax.set(xlabel="rotation (categories, not to scale)", ylabel="test accuracy (%)",
           title=f"{ss[0]['model']}: accuracy by angle (mean ± std over seeds)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def _ci_bars(diffs):
    """Error bars (below, above) from each difference's 95% interval; none where there is no interval."""
    below, above = [], []
    for d in diffs:
        lo, hi = d.get("ci_pp", [math.nan, math.nan])
        ok = not (math.isnan(lo) or math.isnan(d["mean_pp"]))
        below.append(d["mean_pp"] - lo if ok else 0.0)
        above.append(hi - d["mean_pp"] if ok else 0.0)
    return [below, above]


def differences(summary, path):
    ss = _widest_angle_group(summary)
    groups = list(comparison_groups())
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), sharey=True)
    for ax, p in zip(axes, PRIOTS):
        for k, g in enumerate(groups):
            pts = [(i, s["differences"][p][g]) for i, s in enumerate(ss) if g in s["differences"].get(p, {})
                   and s["differences"][p][g]["n"]]
            if not pts:
                continue
            ax.errorbar([i + 0.1 * (k - (len(groups) - 1) / 2) for i, _ in pts], [d["mean_pp"] for _, d in pts],
                        yerr=_ci_bars([d for _, d in pts]), capsize=3, marker="o", ms=4, color=GROUP_COLOUR.get(g, UNLISTED),
                        linestyle="none", label=f"best {g}")
        ax.axhline(0, color="k", lw=0.8)
        ax.axhline(8, color="r", lw=0.8, ls="--", label="paper: ≥ +8")
        ax.set_xticks(range(len(ss)), [angle_label(s["angle"]) for s in ss])
        ax.set_xlim(-0.5, len(ss) - 0.5)
        ax.set(title=f"{LABEL[p]} − best method per group ({ss[0]['model']})", xlabel="rotation (categories)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("paired difference (pp), mean and 95% t-interval over seeds")
    return _save(fig, path)


def accuracy_vs_state(summary, path):
    fig, _, _ = state_figure(summary)
    return _save(fig, path, layout=False)


def state_figure(summary):
    """The accuracy-against-state-bytes figure on its final layout: (figure, axes, method labels)."""
    ss = _widest_angle_group(summary)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    texts = []
    for n in summary["study"]["methods"]:
        rows = [s["methods"][n] for s in ss if n in s["methods"]]
        if not rows or not rows[0]["state_bytes"]:
            continue
        m, sd = mean_std([r["mean"] for r in rows])
        ax.errorbar(rows[0]["state_bytes"], 100 * m, yerr=100 * sd, marker="o", capsize=3, color=colour(n))
        texts.append(ax.annotate(n, (rows[0]["state_bytes"], 100 * m), textcoords="offset points", xytext=(6, 0),
                                 fontsize=8, va="center", color=colour(n),
                                 arrowprops={"arrowstyle": "-", "color": colour(n), "lw": 0.5, "shrinkA": 0,
                                             "shrinkB": 2}))
    ax.set_xscale("log")
    ax.margins(x=0.08)
    ax.set(xlabel="training state (bytes, log)", ylabel="test accuracy (%), mean over angles ± std across angles",
           title=f"{ss[0]['model']}: accuracy against training-state memory")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _labels_away_from_neighbours(ax, texts)
    place_labels(ax, texts)
    return fig, ax, texts


def _labels_away_from_neighbours(ax, texts, reach_px=70.0):
    """Put a label left of its point when another point lies just to its right (the label would cross it) or
    the label would leave the axes."""
    xs = [ax.transData.transform(t.xy)[0] for t in texts]
    right = ax.get_window_extent().x1
    renderer = ax.figure.canvas.get_renderer()
    for t, x in zip(texts, xs):
        if any(3.0 < other - x < reach_px for other in xs) or _text_box(t, renderer).x1 > right:  # not the same column
            t.xyann = (-t.xyann[0], t.xyann[1])
            t.set_horizontalalignment("right")


def tuning_curves(summary, path):
    ss = [s for s in summary["settings"] if s["tuned_on"]["setting"] == s["label"]]
    tuned = [n for n in summary["study"]["methods"] if methods.spec(n).grid]
    cols = 4
    rows = max(1, -(-len(tuned) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    dashes = ["-", "--", ":", "-."]
    markers = ["o", "s", "^", "v", "D", "x"]
    for ax, n in zip(axes.flat, tuned):
        for i, s in enumerate(ss):  # the method's own colour; one line style and marker per setting
            seed, curve = next(iter(s["tuning_curves"].items()))
            c = curve.get(n)
            if c:
                steps = sorted(c, key=int)
                ax.plot([int(k) for k in steps], [100 * c[k] for k in steps], color=colour(n), ms=3,
                        linestyle=dashes[i % len(dashes)], marker=markers[i % len(markers)])
        ax.set_title(n, fontsize=9)
        ax.set_xlabel(methods.spec(n).step_name, fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(tuned):]:
        ax.axis("off")
    axes[0][0].set_ylabel("validation accuracy (%)")
    handles = [plt.Line2D([], [], color="0.3", ms=3, linestyle=dashes[i % len(dashes)],
                          marker=markers[i % len(markers)], label=s["label"]) for i, s in enumerate(ss)]
    if handles:
        fig.legend(handles=handles, fontsize=7, loc="lower right")
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
                            linestyle=STYLE[methods.spec(n).family], color=colour(n))
        ax.set_xscale("log", base=2)
        ax.set_xticks([s["width"] for s in ss], [f"x{s['width']:g}" for s in ss])
        ax.set(xlabel=f"{ss[0]['model'].split('_x')[0]} width factor", ylabel="test accuracy (%)",
               title=f"accuracy against width at {angle_label(ss[0]['angle'])}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def _part(summary, key, value):
    """The summary restricted to the settings whose ``key`` is ``value`` (one model family, or one model)."""
    return dict(summary, settings=[s for s in summary["settings"] if s.get(key, "tiny_cnn") == value])


def write_all(summary, out_dir: Path) -> list:
    """Every figure the data allows, as PNG files in ``out_dir``, per model family (named with the family
    when the report holds several) and the memory figure per model (width); returns their names."""
    out_dir = Path(out_dir)
    families = list(dict.fromkeys(s.get("family", "tiny_cnn") for s in summary["settings"]))
    models = list(dict.fromkeys(s["model"] for s in summary["settings"] if s["methods"]))
    made = []
    for fam in families:
        part = _part(summary, "family", fam)
        pre = "" if len(families) == 1 else f"{fam}_"
        made += [accuracy_vs_angle(part, out_dir / f"{pre}accuracy_vs_angle.png"),
                 differences(part, out_dir / f"{pre}priot_minus_baselines.png"),
                 tuning_curves(part, out_dir / f"{pre}tuning_curves.png"),
                 accuracy_vs_width(part, out_dir / f"{pre}accuracy_vs_width.png")]
    for model in models:
        name = "accuracy_vs_state_bytes" + ("" if len(models) == 1 else f"_{model}") + ".png"
        made.append(accuracy_vs_state(_part(summary, "model", model), out_dir / name))
    return [m for m in made if m]
