"""Summarize a Hydra sweep folder: a table of runs, a pivot of two swept parameters, plots.

Reads `<sweep_dir>/<job>/{.hydra/overrides.yaml, metrics.json, metrics.csv}` for every
numbered job folder and writes `summary.csv`, `summary.md`, `pivot.csv` (two swept
parameters only), `summary.png` and `curves.png` into the sweep folder.

    python -m mnist_hydra.summarize multirun/2024-01-01/12-00-00 [more sweep dirs ...]
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import yaml
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

log = logging.getLogger(__name__)

METRIC_COLUMNS = ["best_val_acc", "test_acc", "params", "train_time_s", "convergence_epoch"]
NO_VALUE = "—"
MD_ERROR_CHARS = 80
TERMINAL_ERROR_CHARS = 60


class SweepError(ValueError):
    """The folder is not a sweep that can be summarized (absent, or without job folders)."""


@dataclass
class Run:
    """One job of the sweep, as read from its folder."""

    job: int
    job_dir: Path
    overrides: dict[str, str]  # every task override, names without leading "+"
    status: str  # completed | diverged | failed | missing | unreadable
    error: Optional[str] = None
    metrics: dict[str, Optional[float]] = field(default_factory=dict)  # METRIC_COLUMNS


@dataclass
class Pivot:
    """best_val_acc by (row value, column value) of the two swept parameters."""

    row_param: str
    col_param: str
    row_values: list[str]
    col_values: list[str]
    cells: dict[tuple[str, str], str]  # formatted: "97.00%", a status, or NO_VALUE
    values: dict[tuple[str, str], float]  # numeric cells only (mean of completed runs)
    repeated: bool  # some cell averages several runs


@dataclass
class Summary:
    sweep_dir: Path
    rows: list[Run]  # best first
    swept: list[str]
    best: Optional[Run]
    pivot: Optional[Pivot]
    optuna: Optional[dict[str, Any]] = None  # optimization_results.yaml, if present
    files: list[Path] = field(default_factory=list)


# ---------------------------------------------------------------------------- reading


def _parse_overrides(items: list[Any]) -> dict[str, str]:
    """`["+experiment=x", "lr=0.1"]` -> `{"experiment": "x", "lr": "0.1"}`."""
    parsed = {}
    for item in items:
        key, _, value = str(item).partition("=")
        parsed[key.strip().lstrip("+")] = value.strip()
    return parsed


def _read_overrides(job_dir: Path, metrics: dict[str, Any]) -> dict[str, str]:
    """The job's overrides from .hydra/overrides.yaml, else from metrics.json."""
    path = job_dir / ".hydra" / "overrides.yaml"
    try:
        items = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        items = None
    if not isinstance(items, list):
        items = metrics.get("overrides") or []
    return _parse_overrides(items)


def _number(value: Any) -> Optional[float]:
    """A finite number, or None for null, text or NaN (which sort and plot as no value)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


def read_run(job_dir: Path) -> Run:
    """Read one job folder; never raises for a bad or absent metrics.json."""
    job = int(job_dir.name)
    metrics_path = job_dir / "metrics.json"
    if not metrics_path.exists():
        return Run(job, job_dir, _read_overrides(job_dir, {}), "missing")
    try:
        data = json.loads(metrics_path.read_text())
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    except (OSError, ValueError) as exc:  # JSONDecodeError is a ValueError
        return Run(job, job_dir, _read_overrides(job_dir, {}), "unreadable",
                   error=f"metrics.json: {exc}")
    return Run(
        job=job,
        job_dir=job_dir,
        overrides=_read_overrides(job_dir, data),
        status=str(data.get("status") or "unknown"),
        error=data.get("error") or None,
        metrics={name: _number(data.get(name)) for name in METRIC_COLUMNS},
    )


def job_dirs(sweep_dir: Path) -> list[Path]:
    """Numbered job folders, in numeric order (Hydra names them 0, 1, ..., 10, ...)."""
    dirs = [p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()]
    return sorted(dirs, key=lambda p: int(p.name))


def swept_params(runs: list[Run]) -> list[str]:
    """Override names whose value differs between jobs, in order of first appearance."""
    names: list[str] = []
    for run in runs:
        names += [name for name in run.overrides if name not in names]
    return [name for name in names
            if len({run.overrides.get(name) for run in runs}) > 1]


def _read_optuna(sweep_dir: Path) -> Optional[dict[str, Any]]:
    path = sweep_dir / "optimization_results.yaml"
    if not path.exists():
        return None
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        log.warning("Cannot read %s: %s", path, exc)
        return None
    return data if isinstance(data, dict) else None


def read_val_curve(job_dir: Path) -> tuple[list[float], list[float]]:
    """(epochs, val_acc) from metrics.csv; empty when absent, skipping unparsable rows."""
    path = job_dir / "metrics.csv"
    if not path.exists():
        return [], []
    epochs, accs = [], []
    with path.open(newline="") as f:
        for i, row in enumerate(csv.DictReader(f)):
            try:
                acc = float(row["val_acc"])
                epoch = float(row.get("epoch") or i + 1)
            except (KeyError, TypeError, ValueError):
                continue
            epochs.append(epoch)
            accs.append(acc)
    return epochs, accs


# ---------------------------------------------------------------------------- analysis


def _is_best_candidate(run: Run) -> bool:
    return run.status == "completed" and run.metrics.get("best_val_acc") is not None


def _sort_key(run: Run) -> tuple[int, float, int]:
    """Completed runs by accuracy, then runs with a partial accuracy (diverged), then the rest."""
    acc = run.metrics.get("best_val_acc")
    if _is_best_candidate(run):
        rank = 0
    elif acc is not None:
        rank = 1
    else:
        rank = 2
    return rank, -(acc if acc is not None else 0.0), run.job


def value_of(run: Run, name: str) -> str:
    return run.overrides.get(name, "unset")


def run_label(run: Run, swept: list[str]) -> str:
    """`lr=0.001, batch_size=8`, or `job 3` when nothing was swept."""
    if not swept:
        return f"job {run.job}"
    return ", ".join(f"{name}={value_of(run, name)}" for name in swept)


def _ordered_values(values: list[str]) -> list[str]:
    """Distinct values, numerically sorted when all are numbers, else in first-seen order."""
    distinct = list(dict.fromkeys(values))
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return distinct


def fmt_pct(value: Optional[float]) -> str:
    return NO_VALUE if value is None else f"{value:.2f}%"


def build_pivot(runs: list[Run], row_param: str, col_param: str) -> Pivot:
    """Mean best_val_acc of the completed runs in each cell; else the first run's status."""
    row_values = _ordered_values([value_of(r, row_param) for r in sorted(runs, key=lambda r: r.job)])
    col_values = _ordered_values([value_of(r, col_param) for r in sorted(runs, key=lambda r: r.job)])
    cells, values, repeated = {}, {}, False
    for rv in row_values:
        for cv in col_values:
            group = sorted((r for r in runs
                            if value_of(r, row_param) == rv and value_of(r, col_param) == cv),
                           key=lambda r: r.job)
            repeated = repeated or len(group) > 1
            accs = [r.metrics["best_val_acc"] for r in group if _is_best_candidate(r)]
            if accs:
                values[rv, cv] = sum(accs) / len(accs)
                cells[rv, cv] = fmt_pct(values[rv, cv])
            elif group and group[0].status != "missing":
                cells[rv, cv] = group[0].status
            else:
                cells[rv, cv] = NO_VALUE
    return Pivot(row_param, col_param, row_values, col_values, cells, values, repeated)


def sweep_failed(summary: Summary) -> bool:
    """True if any run of the sweep ended with status `failed` (an exception)."""
    return any(run.status == "failed" for run in summary.rows)


# ---------------------------------------------------------------------------- rendering


def _metric_cells(run: Run) -> list[str]:
    m = run.metrics
    return [
        run.status,
        fmt_pct(m.get("best_val_acc")),
        fmt_pct(m.get("test_acc")),
        NO_VALUE if m.get("params") is None else str(int(m["params"])),
        NO_VALUE if m.get("train_time_s") is None else f"{m['train_time_s']:.1f}",
        NO_VALUE if m.get("convergence_epoch") is None else str(int(m["convergence_epoch"])),
    ]


def _truncate(text: str, limit: int) -> str:
    text = " ".join(text.split())  # tracebacks and multi-line messages on one line
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _table(summary: Summary, error_chars: int) -> tuple[list[str], list[list[str]]]:
    """Header and formatted rows; the error column only when some run has an error."""
    with_errors = any(run.error for run in summary.rows)
    header = ["job", *summary.swept, "status", *METRIC_COLUMNS] + (["error"] if with_errors else [])
    rows = []
    for run in summary.rows:
        row = [str(run.job), *(value_of(run, p) for p in summary.swept), *_metric_cells(run)]
        if with_errors:
            row.append(_truncate(run.error, error_chars) if run.error else "")
        rows.append(row)
    return header, rows


def _pivot_table(pivot: Pivot) -> tuple[list[str], list[list[str]]]:
    header = [f"{pivot.row_param} \\ {pivot.col_param}", *pivot.col_values]
    rows = [[rv, *(pivot.cells[rv, cv] for cv in pivot.col_values)] for rv in pivot.row_values]
    return header, rows


def best_line(summary: Summary) -> str:
    """`Best: lr=0.001, batch_size=8 — 97.00% val, 96.40% test (job 3)`."""
    best = summary.best
    if best is None:
        return "Best: none (no completed run with a validation accuracy)"
    text = f"Best: {run_label(best, summary.swept)} {NO_VALUE} {fmt_pct(best.metrics['best_val_acc'])} val"
    if best.metrics.get("test_acc") is not None:
        text += f", {fmt_pct(best.metrics['test_acc'])} test"
    return text + (f" (job {best.job})" if summary.swept else "")


def optuna_line(summary: Summary) -> Optional[str]:
    """Optuna's own best, which may differ from the table's when its objective is another metric."""
    data = summary.optuna
    if not data or not isinstance(data.get("best_params"), dict):
        return None
    params = ", ".join(f"{k}={v}" for k, v in data["best_params"].items())
    return f"Optuna best ({data.get('name', 'study')}): {params} {NO_VALUE} value {data.get('best_value')}"


def _status_counts(summary: Summary) -> str:
    counts: dict[str, int] = {}
    for run in sorted(summary.rows, key=lambda r: r.job):
        counts[run.status] = counts.get(run.status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in counts.items())


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), line(["---"] * len(header)), *map(line, rows)])


def _plain(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def render_markdown(summary: Summary) -> str:
    parts = [
        f"# Sweep summary: {summary.sweep_dir.name}",
        f"`{summary.sweep_dir}` {NO_VALUE} {len(summary.rows)} runs: {_status_counts(summary)}. "
        f"Swept: {', '.join(summary.swept) or 'nothing'}.",
        f"**{best_line(summary)}**",
    ]
    if (line := optuna_line(summary)) is not None:
        parts.append(line)
    parts += ["## Runs (best first)", _markdown(*_table(summary, MD_ERROR_CHARS))]
    if summary.pivot is not None:
        parts += [f"## best_val_acc by {summary.pivot.row_param} and {summary.pivot.col_param}",
                  _markdown(*_pivot_table(summary.pivot))]
        if summary.pivot.repeated:
            parts.append("Cells with several runs show the mean of their completed runs.")
    return "\n\n".join(parts) + "\n"


def format_table(summary: Summary) -> str:
    """The terminal text printed by the CLI and the Hydra callback."""
    parts = [
        f"Sweep {summary.sweep_dir}: {len(summary.rows)} runs ({_status_counts(summary)}); "
        f"swept: {', '.join(summary.swept) or 'nothing'}",
        _plain(*_table(summary, TERMINAL_ERROR_CHARS)),
    ]
    if summary.pivot is not None:
        parts.append(_plain(*_pivot_table(summary.pivot)))
    parts.append(best_line(summary))
    if (line := optuna_line(summary)) is not None:
        parts.append(line)
    if summary.files:
        parts.append(f"Wrote {', '.join(p.name for p in summary.files)} to {summary.sweep_dir}")
    return "\n\n".join(parts)


# ---------------------------------------------------------------------------- files


def _csv_value(value: Optional[float]) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(value)


def write_summary_csv(summary: Summary, path: Path) -> None:
    """Raw numbers (empty when absent) and the full error message, best first."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["job", *summary.swept, "status", *METRIC_COLUMNS, "error"])
        for run in summary.rows:
            writer.writerow([run.job, *(value_of(run, p) for p in summary.swept), run.status,
                             *(_csv_value(run.metrics.get(m)) for m in METRIC_COLUMNS),
                             run.error or ""])


def write_pivot_csv(pivot: Pivot, path: Path) -> None:
    """The same cells as summary.md's pivot ("97.00%", a status, or "—")."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        header, rows = _pivot_table(pivot)
        writer.writerow(header)
        writer.writerows(rows)


def plot_heatmap(pivot: Pivot, path: Path) -> None:
    grid = np.array([[pivot.values.get((rv, cv), np.nan) for cv in pivot.col_values]
                     for rv in pivot.row_values])
    finite = grid[np.isfinite(grid)]
    vmin, vmax = (finite.min(), finite.max()) if finite.size else (0.0, 100.0)
    if vmin == vmax:  # one distinct value: give the colour scale some width
        vmin, vmax = vmin - 1.0, vmax + 1.0
    fig = Figure(figsize=(1.6 * len(pivot.col_values) + 3, 0.8 * len(pivot.row_values) + 2),
                 layout="constrained")
    ax = fig.add_subplot()
    cmap = colormaps["viridis"].with_extremes(bad="lightgrey")  # grey: no accuracy
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    fig.colorbar(image, ax=ax, label="best val acc (%)")
    ax.set_xticks(range(len(pivot.col_values)), pivot.col_values)
    ax.set_yticks(range(len(pivot.row_values)), pivot.row_values)
    ax.set_xlabel(pivot.col_param)
    ax.set_ylabel(pivot.row_param)
    for i, rv in enumerate(pivot.row_values):
        for j, cv in enumerate(pivot.col_values):
            value = grid[i, j]
            # Light text on the dark low end of viridis, dark text elsewhere.
            dark = np.isfinite(value) and (value - vmin) / (vmax - vmin) < 0.5
            ax.text(j, i, pivot.cells[rv, cv], ha="center", va="center",
                    color="white" if dark else "black")
    ax.set_title("best validation accuracy")
    fig.savefig(path, dpi=100)


def plot_bars(summary: Summary, path: Path) -> None:
    """best_val_acc per run in job order; runs without one get an empty bar and their status."""
    runs = sorted(summary.rows, key=lambda r: r.job)
    labels = [run_label(r, summary.swept) for r in runs]
    heights = [r.metrics.get("best_val_acc") or 0.0 for r in runs]
    fig = Figure(figsize=(max(6.0, 0.6 * len(runs) + 2), 5), layout="constrained")
    ax = fig.add_subplot()
    bars = ax.bar(range(len(runs)), heights, color="tab:blue")
    ax.bar_label(bars, [fmt_pct(r.metrics.get("best_val_acc")) if r.status == "completed"
                        else r.status for r in runs], fontsize="small")
    ax.set_xticks(range(len(runs)), labels, rotation=45 if len(runs) > 4 else 0,
                  ha="right" if len(runs) > 4 else "center")
    ax.set_ylabel("best val acc (%)")
    ax.set_title("best validation accuracy per run")
    fig.savefig(path, dpi=100)


def plot_curves(summary: Summary, path: Path) -> None:
    fig = Figure(figsize=(9, 5), layout="constrained")
    ax = fig.add_subplot()
    plotted = 0
    for run in sorted(summary.rows, key=lambda r: r.job):
        epochs, accs = read_val_curve(run.job_dir)
        if epochs:
            ax.plot(epochs, accs, marker=".", label=run_label(run, summary.swept))
            plotted += 1
    if plotted:
        ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    else:
        ax.text(0.5, 0.5, "no per-epoch metrics", ha="center", va="center", transform=ax.transAxes)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("val acc (%)")
    ax.set_title("validation accuracy per epoch")
    fig.savefig(path, dpi=100)


# ---------------------------------------------------------------------------- entry points


def summarize_sweep(sweep_dir: Path) -> Summary:
    """Read a sweep folder, write its summary files into it, and return the summary."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise SweepError(f"{sweep_dir}: no such directory")
    dirs = job_dirs(sweep_dir)
    if not dirs:
        raise SweepError(f"{sweep_dir}: no job folders (0/, 1/, ...); is this a Hydra sweep dir?")
    runs = [read_run(d) for d in dirs]
    swept = swept_params(runs)
    rows = sorted(runs, key=_sort_key)
    summary = Summary(
        sweep_dir=sweep_dir,
        rows=rows,
        swept=swept,
        best=next((r for r in rows if _is_best_candidate(r)), None),
        pivot=build_pivot(runs, *swept) if len(swept) == 2 else None,
        optuna=_read_optuna(sweep_dir),
    )

    write_summary_csv(summary, sweep_dir / "summary.csv")
    summary.files.append(sweep_dir / "summary.csv")
    if summary.pivot is not None:
        write_pivot_csv(summary.pivot, sweep_dir / "pivot.csv")
        summary.files.append(sweep_dir / "pivot.csv")
        plot_heatmap(summary.pivot, sweep_dir / "summary.png")
    else:
        plot_bars(summary, sweep_dir / "summary.png")
    plot_curves(summary, sweep_dir / "curves.png")
    summary.files += [sweep_dir / "summary.png", sweep_dir / "curves.png"]
    (sweep_dir / "summary.md").write_text(render_markdown(summary), encoding="utf-8")
    summary.files.append(sweep_dir / "summary.md")
    return summary


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mnist_hydra.summarize",
        description="Summarize Hydra sweep folders: write summary.csv, summary.md, pivot.csv "
                    "(two swept parameters), summary.png and curves.png into each, and print "
                    "the table.",
    )
    parser.add_argument("sweep_dirs", nargs="+", type=Path, metavar="SWEEP_DIR",
                        help="a Hydra multirun folder holding job folders 0/, 1/, ...")
    args = parser.parse_args(argv)

    status = 0
    for sweep_dir in args.sweep_dirs:
        try:
            summary = summarize_sweep(sweep_dir)
        except SweepError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 2  # keep going: the other folders still get their summary
            continue
        print(format_table(summary), end="\n\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
