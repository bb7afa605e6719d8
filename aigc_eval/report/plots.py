"""The report's plots: matplotlib figures rendered to compressed PNG data URIs.

Each builder returns a list of `Plot`s, empty when its data is absent, so the page shows only
plots that have something to say. pyplot is never imported: `Figure` objects carry no global
state, so building a report does not touch the caller's matplotlib backend.

PNG, not SVG: the default suite's 14 plots took 1.8 MB as SVG (every line's points as text) and
take a fraction of that as 8-bit palette PNG at 100 dpi (measured in the README). They go into
`<img src="data:...">`, which cannot run script.
"""
from __future__ import annotations

import base64
import io
import math
from collections import defaultdict
from dataclasses import dataclass

import matplotlib
from matplotlib.figure import Figure

from .tables import metric_info

_STYLE = {
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 7,
    "legend.frameon": False,
}
_PANEL_W, _PANEL_H = 3.6, 2.6  # inches per subplot; three fit the page's width
_SINGLE_W, _SINGLE_H = 5.0, 3.4  # a figure with one panel


@dataclass(frozen=True)
class Plot:
    id: str
    title: str
    caption: str
    src: str  # data:image/png;base64,...


def pareto_front(points, maximize_x: bool, maximize_y: bool) -> list[int]:
    """Indices of the points that no other point beats on both axes (ties do not dominate)."""
    def at_least(a, b, maximize):
        return a >= b if maximize else a <= b

    front = []
    for i, (xi, yi) in enumerate(points):
        dominated = any(
            at_least(xj, xi, maximize_x) and at_least(yj, yi, maximize_y) and (xj, yj) != (xi, yi)
            for j, (xj, yj) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return front


def _label(text: str) -> str:
    """Matplotlib reads $...$ as mathtext; a model name is plain text."""
    return str(text).replace("$", r"\$")


def _colors(results) -> dict[str, str]:
    """One colour per model, the same in every plot."""
    models = list(dict.fromkeys([r["model"] for r in results["leaderboard"]]
                                + [c["model"] for c in results["cells"]]))
    if len(models) <= 10:
        palette = [matplotlib.colormaps["tab10"](i) for i in range(10)]
    else:  # tab20 pairs a dark and a light shade: take all dark ones before any light one
        tab20 = matplotlib.colormaps["tab20"]
        palette = [tab20(i) for i in list(range(0, 20, 2)) + list(range(1, 20, 2))]
    return {m: matplotlib.colors.to_hex(palette[i % len(palette)]) for i, m in enumerate(models)}


def _figure(n_panels: int, ncols: int = 3):
    ncols = max(1, min(ncols, n_panels))
    nrows = math.ceil(n_panels / ncols)
    size = (_SINGLE_W, _SINGLE_H) if n_panels == 1 else (_PANEL_W * ncols, _PANEL_H * nrows)
    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


_DPI = 100
_COLOURS = 96  # palette size: plot lines and anti-aliased text stay clean, the file ~4x smaller than RGB


def _render(fig) -> str:
    """The figure as an optimised palette PNG data URI; the same figure gives the same bytes."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    image = Image.open(buf).convert("RGB").quantize(_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def _by_dataset(items):
    groups = defaultdict(list)
    for item in items:
        groups[item["dataset"]].append(item)
    return groups


def _training_curves(results, colors) -> list[Plot]:
    plots = []
    cells = [c for c in results["cells"] if c.get("curves") and len(c["curves"].get("step", ())) > 0]
    for dataset, group in _by_dataset(cells).items():
        by_model = defaultdict(list)
        for cell in group:
            by_model[cell["model"]].append(cell)
        fig, axes = _figure(len(by_model))
        for ax, (model, model_cells) in zip(axes, by_model.items()):
            for k, cell in enumerate(sorted(model_cells, key=lambda c: c["seed"])):
                curves = cell["curves"]
                series = [name for name in curves if name != "step"]
                for s, name in enumerate(series):
                    ax.plot(curves["step"], [math.nan if v is None else v for v in curves[name]],
                            color=f"C{s}", alpha=1.0 if k == 0 else 0.45, linewidth=1,
                            label=_label(name) if k == 0 else None)
            seeds = ", ".join(str(c["seed"]) for c in model_cells)
            ax.set_title(_label(f"{model} (seeds {seeds})"))
            ax.set_xlabel("step")
            ax.legend()
        plots.append(Plot(f"curves-{dataset}", f"Training losses: {dataset}",
                          "Loss per step; the first seed is solid, further seeds are faint.",
                          _render(fig)))
    for dataset, group in _by_dataset([c for c in results["cells"]
                                       if c.get("checkpoint_metrics")]).items():
        names = list(dict.fromkeys(k for c in group for p in c["checkpoint_metrics"]
                                   for k in p if k != "step"))
        fig, axes = _figure(len(names))
        for ax, name in zip(axes, names):
            labelled = set()
            for cell in group:
                points = [(p["step"], p[name]) for p in cell["checkpoint_metrics"]
                          if p.get(name) is not None]
                if not points:
                    continue
                ax.plot(*zip(*points), marker="o", markersize=3, linewidth=1,
                        color=colors[cell["model"]],
                        label=None if cell["model"] in labelled else _label(cell["model"]))
                labelled.add(cell["model"])
            ax.set_title(_label(name))
            ax.set_xlabel("step")
            ax.legend()
        plots.append(Plot(f"checkpoints-{dataset}", f"Metrics per checkpoint: {dataset}",
                          "Each line is one (model, seed) cell.", _render(fig)))
    return plots


def _qd_curves(results, colors) -> list[Plot]:
    plots = []
    cells = [c for c in results["cells"] if c["kind"] == "text" and c.get("qd_curve")]
    for dataset, group in _by_dataset(cells).items():
        fig, (ax,) = _figure(1)
        labelled = set()
        for cell in sorted(group, key=lambda c: (c["model"], c["seed"])):
            points = sorted(cell["qd_curve"], key=lambda p: p["temperature"])
            xs, ys = [p["self_bleu5"] for p in points], [p["bleu5"] for p in points]
            first = cell["model"] not in labelled
            ax.plot(xs, ys, marker="o", markersize=3, linewidth=1, color=colors[cell["model"]],
                    alpha=1.0 if first else 0.45, label=_label(cell["model"]) if first else None)
            if first:
                for p in points:
                    ax.annotate(f"t={p['temperature']:g}", (p["self_bleu5"], p["bleu5"]),
                                fontsize=6, xytext=(3, 3), textcoords="offset points")
            labelled.add(cell["model"])
        ax.set_xlabel("Self-BLEU-5 (lower = more diverse)")
        ax.set_ylabel("BLEU-5 (higher = better quality)")
        ax.margins(0.12)
        ax.legend()
        plots.append(Plot(f"qd-{dataset}", f"Quality vs diversity: {dataset}",
                          "Sampling temperature sweeps one curve per model; up and left is better.",
                          _render(fig)))
    return plots


_GUIDANCE_PANELS = [("controllability", "controllability ↑ (trained requests)"),
                    ("hallucination_rate", "hallucination rate ↓"),
                    ("vendi", "Vendi score ↑ (diversity)"), ("fd", "FD ↓")]


def _guidance_curves(results, colors) -> list[Plot]:
    """What the guidance scale trades (aigc_eval/guidance.py): one panel per measure, one line per
    (guided model, seed)."""
    plots = []
    cells = [c for c in results["cells"] if c.get("guidance_curve")]
    for dataset, group in _by_dataset(cells).items():
        fig, axes = _figure(len(_GUIDANCE_PANELS), ncols=4)
        for ax, (key, title) in zip(axes, _GUIDANCE_PANELS):
            labelled = set()
            for cell in sorted(group, key=lambda c: (c["model"], c["seed"])):
                points = sorted((p["scale"], p[key]) for p in cell["guidance_curve"] if key in p)
                first = cell["model"] not in labelled
                ax.plot(*zip(*points), marker="o", markersize=3, linewidth=1, color=colors[cell["model"]],
                        alpha=1.0 if first else 0.45, label=_label(cell["model"]) if first else None)
                labelled.add(cell["model"])
            ax.set_title(_label(title))
            ax.set_xlabel("guidance scale w")
        axes[0].legend()
        plots.append(Plot(f"guidance-{dataset}", f"Guidance curve: {dataset}",
                          "Classifier-free guidance scale against what the oracle reads (controllability, "
                          "hallucination), diversity and FD; the same requests and noise at every scale. "
                          "Each line is one (model, seed) cell.", _render(fig)))
    return plots


def _cell_mean(cells, key):
    values = [c[key] for c in cells if c.get(key) is not None]
    return sum(values) / len(values) if values else None


def _cost_plots(results, colors) -> list[Plot]:
    plots = []
    done = defaultdict(list)
    for cell in results["cells"]:
        if cell["status"] == "done":
            done[(cell["model"], cell["dataset"])].append(cell)
    rows = [r for r in results["leaderboard"] if not r["calibration"]]
    info = metric_info(results)
    for dataset, group in _by_dataset(rows).items():
        for metric in dict.fromkeys(n for r in group for n in r["metrics"] if n.startswith("fd")):
            axes_spec = [("train_images_per_s", True, "training throughput"),
                         ("peak_memory_mb", False, "peak memory (MB)")]
            panels = []
            for key, maximize, xlabel in axes_spec:
                points = []
                for row in group:
                    cells = done[(row["model"], dataset)]
                    x = _cell_mean(cells, key)
                    if metric in row["metrics"] and x is not None:
                        unit = cells[0].get("throughput_unit") or "items/s"
                        points.append((row["model"], x, row["metrics"][metric]["mean"], unit))
                if points:
                    panels.append((key, maximize, xlabel, points))
            if not panels:
                continue
            higher_better = info[metric]["higher_is_better"]
            fig, axes = _figure(len(panels), ncols=2)
            fronts = []
            for ax, (key, maximize, xlabel, points) in zip(axes, panels):
                front = pareto_front([(x, y) for _, x, y, _ in points], maximize, higher_better)
                for i, (model, x, y, _) in enumerate(points):
                    ax.scatter([x], [y], color=colors[model], s=40 if i in front else 18,
                               edgecolors="black" if i in front else "none", zorder=3)
                    ax.annotate(_label(model), (x, y), fontsize=7, xytext=(4, 2),
                                textcoords="offset points")
                line = sorted((points[i][1], points[i][2]) for i in front)
                ax.plot(*zip(*line), linestyle="--", color="grey", linewidth=1, zorder=2)
                ax.margins(0.15)
                unit = points[0][3]
                ax.set_xlabel(f"{xlabel} ({unit})" if key == "train_images_per_s" else xlabel)
                ax.set_ylabel(_label(f"{metric} ({'higher' if higher_better else 'lower'} "
                                     "is better)"))
                fronts.append(f"{xlabel}: " + ", ".join(points[i][0] for i in front))
            plots.append(Plot(f"cost-{dataset}-{metric}", f"Quality vs cost: {dataset}, {metric}",
                              "Mean over seeds. Ringed points and the dashed line form the Pareto "
                              "front. Pareto-optimal by " + "; by ".join(fronts) + ".",
                              _render(fig)))
    return plots


def _hallucination_plots(results, colors) -> list[Plot]:
    """Oracle worlds: a metric `hallucination_rate<suffix>` pairs with `precision<suffix>`."""
    plots = []
    for dataset, group in _by_dataset(results["leaderboard"]).items():
        pairs = [(name, "precision" + name[len("hallucination_rate"):])
                 for name in dict.fromkeys(n for r in group for n in r["metrics"])
                 if name.startswith("hallucination_rate")]
        for h_name, p_name in pairs:
            rows = [r for r in group if h_name in r["metrics"] and p_name in r["metrics"]]
            if not rows:
                continue
            fig, (ax,) = _figure(1)
            for row in rows:
                h, p = row["metrics"][h_name], row["metrics"][p_name]
                ax.errorbar([p["mean"]], [h["mean"]], xerr=[p["std"]], yerr=[h["std"]],
                            fmt="s" if row["calibration"] else "o", markersize=5,
                            color=colors[row["model"]],
                            markerfacecolor="none" if row["calibration"] else colors[row["model"]])
                ax.annotate(_label(row["model"] + (" (calibration)" if row["calibration"] else "")),
                            (p["mean"], h["mean"]), fontsize=7, xytext=(4, 2),
                            textcoords="offset points")
            ax.margins(0.2)
            ax.set_xlabel(_label(f"{p_name} (higher is better)"))
            ax.set_ylabel(_label(f"{h_name} (lower is better)"))
            plots.append(Plot(f"hallucination-{dataset}-{h_name}",
                              f"Hallucination vs precision: {dataset}",
                              "Mean ± std over seeds; hollow squares are calibration rows. "
                              "Lower right is better.", _render(fig)))
    return plots


def _time_to_quality_plots(results, colors) -> list[Plot]:
    """Quality against training seconds per dataset, with the target of aigc_eval.performance."""
    plots = []
    for dataset, rows in _by_dataset(results.get("time_to_quality", [])).items():
        fig, (ax,) = _figure(1)
        labelled = set()
        for row in sorted(rows, key=lambda r: (r["model"], r["seed"])):
            curve = row["curve"]
            ax.plot([p["seconds"] for p in curve], [p["value"] for p in curve], marker="o", markersize=3,
                    linewidth=1, color=colors[row["model"]], alpha=1.0 if row["model"] not in labelled else 0.45,
                    label=None if row["model"] in labelled else _label(row["model"]))
            labelled.add(row["model"])
        ax.axhline(rows[0]["target"], color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel("training seconds")
        ax.set_ylabel(_label(f"{rows[0]['metric']} (lower is better)"))
        ax.legend()
        plots.append(Plot(f"time-to-quality-{dataset}", f"Time to quality: {dataset}",
                          f"{rows[0]['metric']} at each checkpoint against the cell's training seconds; "
                          f"the dashed line is the target ({rows[0]['target']:g}). The first seed is solid, "
                          "further seeds are faint.", _render(fig)))
    return plots


def history_plots(history_series, colors=None) -> list[Plot]:
    """One panel per metric: value per run, one line per (model, dataset)."""
    if not history_series:
        return []
    names = [n for n, points in history_series.items() if points]
    if not names:
        return []
    runs = sorted({(p["created"], p["run_id"]) for n in names for p in history_series[n]})
    position = {run_id: i for i, (_, run_id) in enumerate(runs)}
    models = sorted({p["model"] for n in names for p in history_series[n]})
    colors = colors or {}
    palette = matplotlib.colormaps["tab10"]
    fig, axes = _figure(len(names))
    for ax, name in zip(axes, names):
        lines = defaultdict(list)
        for p in history_series[name]:
            lines[(p["model"], p["dataset"])].append((position[p["run_id"]], p["value"]))
        for (model, dataset), points in sorted(lines.items()):
            color = colors.get(model, palette(models.index(model) % palette.N))
            ax.plot(*zip(*sorted(points)), marker="o", markersize=3, linewidth=1, color=color,
                    label=_label(f"{model} / {dataset}"))
        step = max(1, math.ceil(len(runs) / 6))
        ticks = list(range(0, len(runs), step))
        # ISO timestamps: "2026-11-28T13:05:01Z" -> "11-28 13:05"
        ax.set_xticks(ticks, [_label(runs[i][0][5:16].replace("T", " ")) for i in ticks],
                      rotation=30, ha="right", fontsize=6)
        ax.set_title(_label(name))
        ax.legend()
    return [Plot("history", "History", f"Values over the last {len(runs)} runs, oldest first.",
                 _render(fig))]


def build_plots(results, history_series=None) -> dict[str, list[Plot]]:
    """All plots of a report, by section; sections without data map to []."""
    with matplotlib.rc_context(_STYLE):
        colors = _colors(results)
        return {
            "training": _training_curves(results, colors),
            "quality_diversity": _qd_curves(results, colors),
            "guidance": _guidance_curves(results, colors),
            "cost": _cost_plots(results, colors),
            "hallucination": _hallucination_plots(results, colors),
            "history": history_plots(history_series, colors),
            "time_to_quality": _time_to_quality_plots(results, colors),
        }
