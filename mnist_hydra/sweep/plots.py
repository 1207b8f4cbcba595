"""The sweep's PNGs: a heatmap (two swept parameters) or a bar chart, and the curves.

The only module of the summary that imports matplotlib and numpy; nothing imports it
until files are written.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import color_sequences, colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, PercentFormatter

from mnist_hydra.sweep.read import read_val_curve
from mnist_hydra.sweep.tables import Pivot, Summary, fmt_pct, pivot_cell, run_label, value_of

ACCURACY = "best validation accuracy"
NO_RUN_COLOUR = "lightgrey"
# Beyond 10 curves the colours repeat, so each further ten get the next line style.
COLOURS = color_sequences["tab10"]
LINE_STYLES = ["-", "--", ":", "-."]
MARKERS = ["o", "s", "^", "D"]


def plot_heatmap(pivot: Pivot, path: Path) -> Figure:
    """Mean best_val_acc per cell; grey cells had no completed run (their status is written in)."""
    grid = np.array([[pivot.values.get((rv, cv), np.nan) for cv in pivot.col_values]
                     for rv in pivot.row_values])
    finite = grid[np.isfinite(grid)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 100.0)
    if vmin == vmax:  # one distinct value: give the colour scale some width
        vmin, vmax = vmin - 1.0, vmax + 1.0
    fig = Figure(figsize=(1.4 * len(pivot.col_values) + 3.5, 0.7 * len(pivot.row_values) + 2.2),
                 layout="constrained")
    ax = fig.add_subplot()
    cmap = colormaps["viridis"].with_extremes(bad=NO_RUN_COLOUR)
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    bar = fig.colorbar(image, ax=ax, format=PercentFormatter(decimals=1))
    bar.set_label(f"{ACCURACY} (%)")
    ax.set_xticks(range(len(pivot.col_values)), pivot.col_values)
    ax.set_yticks(range(len(pivot.row_values)), pivot.row_values)
    ax.set_xlabel(pivot.col_param)
    ax.set_ylabel(pivot.row_param)
    for i, rv in enumerate(pivot.row_values):
        for j, cv in enumerate(pivot.col_values):
            value = grid[i, j]
            # Light text on the dark low end of viridis, dark text elsewhere.
            dark = np.isfinite(value) and (value - vmin) / (vmax - vmin) < 0.5
            ax.text(j, i, pivot_cell(pivot, (rv, cv)), ha="center", va="center",
                    color="white" if dark else "black", fontsize="small")
    if not np.isfinite(grid).all():
        fig.legend(handles=[Patch(color=NO_RUN_COLOUR, label="no completed run")],
                   loc="outside lower left", fontsize="small", frameon=False)
    title = f"{ACCURACY} by {pivot.row_param} and {pivot.col_param}"
    ax.set_title(title + (" (mean of repeated runs)" if pivot.repeated else ""))
    fig.savefig(path, dpi=100)
    return fig  # for inspection in tests


def _bar_labels(summary: Summary) -> tuple[list[str], str]:
    """Tick labels and the x-axis title: values only (`0.001 / 8`) when several parameters
    were swept, so 20 runs x 4 parameters still fit under the bars."""
    runs = summary.runs
    if not summary.swept:
        return [f"job {r.job}" for r in runs], "run"
    if len(summary.swept) == 1:
        return [value_of(r, summary.swept[0]) for r in runs], summary.swept[0]
    return [" / ".join(value_of(r, p) for p in summary.swept) for r in runs], " / ".join(summary.swept)


def plot_bars(summary: Summary, path: Path) -> Figure:
    """best_val_acc per run in job order; runs without one get an empty bar and their status."""
    runs = summary.runs
    labels, xlabel = _bar_labels(summary)
    heights = [r.metrics.get("best_val_acc") or 0.0 for r in runs]
    long_labels = len(runs) > 4 or max(map(len, labels)) > 10
    fig = Figure(figsize=(max(6.0, 0.45 * len(runs) + 2.5), 5.5), layout="constrained")
    ax = fig.add_subplot()
    bars = ax.bar(range(len(runs)), heights, color=[COLOURS[0] if r.status == "completed"
                                                    else COLOURS[3] for r in runs])
    # Vertical labels above the bars, and headroom for them below the title.
    ax.bar_label(bars, [fmt_pct(r.metrics.get("best_val_acc")) if r.status == "completed"
                        else r.status for r in runs],
                 rotation=90 if long_labels else 0, padding=3, fontsize="small")
    ax.set_ylim(0, max(max(heights), 1.0) * (1.25 if long_labels else 1.12))
    ax.set_yticks([t for t in ax.get_yticks() if t <= 100])  # the headroom is no accuracy
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_xticks(range(len(runs)), labels, rotation=45 if long_labels else 0,
                  ha="right" if long_labels else "center", fontsize="small")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{ACCURACY} (%)")
    ax.set_title(f"{ACCURACY} per run")
    fig.savefig(path, dpi=100)
    return fig  # for inspection in tests


def plot_curves(summary: Summary, path: Path) -> Figure:
    """Validation accuracy per epoch, one line per run: colour, line style and marker
    together stay distinct for 40 runs."""
    fig = Figure(figsize=(10, 5.5), layout="constrained")
    ax = fig.add_subplot()
    plotted = 0
    for run in summary.runs:
        epochs, accs = read_val_curve(run.job_dir)
        if not epochs:
            continue
        ax.plot(epochs, accs, label=run_label(run, summary.swept), color=COLOURS[plotted % len(COLOURS)],
                linestyle=LINE_STYLES[plotted // len(COLOURS) % len(LINE_STYLES)],
                marker=MARKERS[plotted // len(COLOURS) % len(MARKERS)], markersize=4)
        plotted += 1
    if plotted:
        ax.legend(fontsize="x-small" if plotted > 10 else "small", loc="center left",
                  bbox_to_anchor=(1.01, 0.5), ncols=2 if plotted > 20 else 1)
    else:
        ax.text(0.5, 0.5, "no per-epoch metrics", ha="center", va="center", transform=ax.transAxes)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title("validation accuracy per epoch")
    fig.savefig(path, dpi=100)
    return fig  # for inspection in tests


def write_plots(summary: Summary) -> list[Path]:
    """summary.png (heatmap with a pivot, else bars) and curves.png; returns their paths."""
    summary_png, curves_png = summary.sweep_dir / "summary.png", summary.sweep_dir / "curves.png"
    if summary.pivot is not None:
        plot_heatmap(summary.pivot, summary_png)
    else:
        plot_bars(summary, summary_png)
    plot_curves(summary, curves_png)
    return [summary_png, curves_png]
