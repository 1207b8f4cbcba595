"""The sweep's PNGs: a heatmap (two swept parameters) or a bar chart, and the curves.

The only module of the summary that imports matplotlib and numpy; nothing imports it
until files are written.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import color_sequences, colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator, PercentFormatter

from mnist_hydra import rundir
from mnist_hydra.sweep.read import Run, read_val_curve
from mnist_hydra.sweep.analysis import Pivot, Summary
from mnist_hydra.sweep.render import STOPPED_NOTE, fmt_pct, pivot_cell, run_label, value_of

ACCURACY = "best validation accuracy"
NO_RUN_COLOUR = "lightgrey"
# Beyond 10 curves the colours repeat, so each further ten get the next line style.
COLOURS = color_sequences["tab10"]
MAX_NAMED_RUNS = len(COLOURS)  # curves with a legend entry in a large sweep: one colour each
QUIET_COLOUR = "silver"
BAR_COLOURS = {rundir.COMPLETED: COLOURS[0], rundir.STOPPED: COLOURS[7]}  # any other status: COLOURS[3]
LINE_STYLES = ["-", "--", ":", "-."]
MARKERS = ["o", "s", "^", "D"]


def _stopped_mark(xy: tuple[float, float] = (0.0, 0.0), label: str | None = None) -> Rectangle:
    """Hatching over a heatmap cell stopped early, and its legend entry: over the cell's colour, so
    the cell stays on the same scale as the others."""
    return Rectangle(xy, 1, 1, fill=False, hatch="//", edgecolor="grey", linewidth=0, label=label)


def plot_heatmap(pivot: Pivot, path: Path) -> Figure:
    """best_val_acc per cell (analysis.Pivot) on one colour scale over every cell with a score, so
    that a study's worst cell looks it also when the sweeper stopped it early; cells stopped early
    are hatched and name the epochs they trained; grey cells have no score (their status is written in)."""
    scores = {**{key: acc for key, (_, acc) in pivot.stopped.items()}, **pivot.values}
    grid = np.array([[scores.get((rv, cv), np.nan) for cv in pivot.col_values] for rv in pivot.row_values])
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
            ax.text(j, i, pivot_cell(pivot, (rv, cv), sep="\n"), ha="center", va="center",
                    color="white" if dark else "black", fontsize="small")
            if (rv, cv) in pivot.stopped:
                ax.add_patch(_stopped_mark((j - 0.5, i - 0.5)))
    handles: list[Patch] = [_stopped_mark(label=STOPPED_NOTE.replace("`", ""))] if pivot.stopped else []
    if not np.isfinite(grid).all():
        handles.append(Patch(color=NO_RUN_COLOUR, label="no score (status written in)"))
    if handles:
        fig.legend(handles=handles, loc="outside lower left", fontsize="small", frameon=False)
    title = f"{ACCURACY} by {pivot.row_param} and {pivot.col_param}"
    ax.set_title(title + (" (mean of repeated runs)" if pivot.repeated else ""))
    fig.savefig(path, dpi=100)
    return fig  # for inspection in tests


def _bar_labels(summary: Summary) -> tuple[list[str], str]:
    """Run labels and the axis title: values only (`0.001 / 8`) when several parameters
    were swept, so 100 runs x 4 parameters still fit beside the bars."""
    runs = summary.runs
    if not summary.swept:
        return [f"job {r.job}" for r in runs], "run"
    if len(summary.swept) == 1:
        return [value_of(r, summary.swept[0], summary.sampled) for r in runs], summary.swept[0]
    return [" / ".join(value_of(r, p, summary.sampled) for p in summary.swept) for r in runs], " / ".join(summary.swept)


def bar_label(run: Run) -> str:
    """The accuracy of a completed run; of a stopped one, with the epochs it trained."""
    if run.status == rundir.COMPLETED:
        return fmt_pct(run.metrics.get("best_val_acc"))
    if run.status == rundir.STOPPED:
        return f"{fmt_pct(run.metrics.get('best_val_acc'))} (stopped at epoch {run.metrics.get('epochs_run')})"
    return run.status


def plot_bars(summary: Summary, path: Path) -> Figure:
    """best_val_acc per run, a horizontal bar each in job order from the top: run labels and
    value labels stay horizontal and legible from 2 to 100 runs (the figure grows downwards).
    Runs without an accuracy get an empty bar and their status."""
    runs = summary.runs
    labels, axis_label = _bar_labels(summary)
    widths = [r.metrics.get("best_val_acc") or 0.0 for r in runs]
    fig = Figure(figsize=(9, max(3.5, 0.25 * len(runs) + 1.8)), layout="constrained")
    ax = fig.add_subplot()
    bars = ax.barh(range(len(runs)), widths, color=[BAR_COLOURS.get(r.status, COLOURS[3]) for r in runs])
    ax.bar_label(bars, [bar_label(r) for r in runs], padding=3, fontsize="small")
    ax.set_xlim(0, max(max(widths), 1.0) * 1.15)  # room for the value labels
    ax.set_xticks([t for t in ax.get_xticks() if t <= 100])  # the headroom is no accuracy
    ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_yticks(range(len(runs)), labels, fontsize="small")
    ax.set_ylim(len(runs) - 0.5, -0.5)  # job 0 at the top
    ax.set_ylabel(axis_label)
    ax.set_xlabel(f"{ACCURACY} (%)")
    ax.set_title(f"{ACCURACY} per run")
    fig.savefig(path, dpi=100)
    return fig  # for inspection in tests


def plot_curves(summary: Summary, path: Path) -> Figure | None:
    """Validation accuracy per epoch, one line per run, each to its last epoch (a run stopped
    early ends there); None and no file when no run has two epochs: one point per run says
    no more than summary.png. Up to MAX_NAMED_RUNS + 2 runs each get a colour, line style
    and legend entry; beyond that the best MAX_NAMED_RUNS do and the rest are thin grey
    lines under one entry, so the legend never outgrows the plot."""
    curves = [(run, *read_val_curve(run.job_dir)) for run in summary.rows]  # best first
    curves = [(run, epochs, accs) for run, epochs, accs in curves if epochs]
    if max((len(epochs) for _, epochs, _ in curves), default=0) < 2:
        return None
    named = curves if len(curves) <= MAX_NAMED_RUNS + 2 else curves[:MAX_NAMED_RUNS]
    fig = Figure(figsize=(10, 5.5), layout="constrained")
    ax = fig.add_subplot()
    for i, (run, epochs, accs) in enumerate(named):
        label = f"{run_label(run, summary.swept, summary.sampled)} ({fmt_pct(run.metrics.get('best_val_acc'))})"
        ax.plot(epochs, accs, label=label, color=COLOURS[i % len(COLOURS)], zorder=3,
                linestyle=LINE_STYLES[i // len(COLOURS) % len(LINE_STYLES)],
                marker=MARKERS[i // len(COLOURS) % len(MARKERS)], markersize=4)
    quiet = curves[len(named):]
    for j, (_, epochs, accs) in enumerate(quiet):
        # A dot at the last epoch: a run stopped early visibly ends there.
        ax.plot(epochs, accs, color=QUIET_COLOUR, linewidth=0.8, zorder=2, marker="o", markersize=2,
                markevery=[-1], label=f"the other {len(quiet)} runs" if j == 0 else None)
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5),
              title="best first (best val acc)", title_fontsize="small")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title("validation accuracy per epoch")
    fig.savefig(path, dpi=100)
    return fig  # for inspection in tests


def write_plots(summary: Summary) -> list[Path]:
    """summary.png (heatmap with a pivot, else bars) and curves.png (when some run has two
    epochs; an earlier summary's is removed otherwise); returns the paths written."""
    summary_png, curves_png = summary.sweep_dir / "summary.png", summary.sweep_dir / "curves.png"
    if summary.pivot is not None:
        plot_heatmap(summary.pivot, summary_png)
    else:
        plot_bars(summary, summary_png)
    if plot_curves(summary, curves_png) is None:
        curves_png.unlink(missing_ok=True)
        return [summary_png]
    return [summary_png, curves_png]
