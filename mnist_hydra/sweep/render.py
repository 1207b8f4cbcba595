"""The sweep summary's output formats, from analysis.Summary: the terminal text
(format_table), summary.md (render_markdown), summary.csv, pivot.csv, groups.csv
(write_*_csv) and summary.json (summary_record), with the formatting they share
(fmt_pct, value_of, run_label, best_line, rungs_line, brackets_line, ...)."""
from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

from mnist_hydra import halving, search
from mnist_hydra.sweep.analysis import Pivot, Stat, Summary, param_value, run_metrics, status_counts
from mnist_hydra.sweep.read import METRIC_COLUMNS, Run, human_value
from mnist_hydra.sweep.winner import EVALUATED, UNAVAILABLE, winner_record

NO_VALUE = "—"
MD_ERROR_CHARS = 80
TERMINAL_ERROR_CHARS = 60
STOPPED_NOTE = "`@N ep`: stopped early by the sweeper after N epochs, with its best score up to there"


def value_of(run: Run, name: str, short: bool = False) -> str:
    """The run's value of a parameter as shown everywhere in the summary (param_value); `short`:
    a float to 4 significant digits, as a search's sampled values are shown in its tables."""
    value = param_value(run, name)
    return search.short_value(value) if short else value


def run_label(run: Run, swept: list[str], short: bool = False) -> str:
    """`lr=0.001, batch_size=8`, or `job 3` when nothing was swept."""
    if not swept:
        return f"job {run.job}"
    return ", ".join(f"{name}={value_of(run, name, short)}" for name in swept)


def count(n: int, noun: str) -> str:
    """`1 run`, `2 runs`."""
    return f"{n} {noun}{'s' * (n != 1)}"


def fmt_pct(value: Optional[float]) -> str:
    return NO_VALUE if value is None else f"{value:.2f}%"


def _fmt_int(value: Optional[float]) -> str:
    return NO_VALUE if value is None else str(int(value))


def seed_cell(run: Run) -> str:
    """The seed the run used; the override (or nothing) for a run that never recorded one."""
    return str(run.seed) if run.seed is not None else run.overrides.get("seed", NO_VALUE)


def _run_params(summary: Summary) -> list[str]:
    """Swept parameters shown per run: `seed` gets its own column with the seed used."""
    return [p for p in summary.swept if p != "seed"]


def _truncate(text: str, limit: int) -> str:
    text = " ".join(text.split())  # tracebacks and multi-line messages on one line
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _run_table(summary: Summary, error_chars: int) -> tuple[list[str], list[list[str]]]:
    """Header and formatted rows; the error column only when some run has an error."""
    with_errors = any(run.error for run in summary.rows)
    params = _run_params(summary)
    header = ["job", *params, "seed", "status", *METRIC_COLUMNS] + (["error"] if with_errors else [])
    rows = []
    for run in summary.rows:
        m = run_metrics(summary, run)
        row = [str(run.job), *(value_of(run, p, summary.sampled) for p in params), seed_cell(run),
               run.status,
               fmt_pct(m.get("best_val_acc")), fmt_pct(m.get("test_acc")), _fmt_int(m.get("epochs_run")),
               _fmt_int(m.get("params")),
               NO_VALUE if m.get("train_time_s") is None else f"{m['train_time_s']:.1f}",
               _fmt_int(m.get("convergence_epoch"))]
        if with_errors:
            row.append(_truncate(run.error, error_chars) if run.error else "")
        rows.append(row)
    return header, rows


GROUP_STATS = ["runs", "n", "best_val_acc_mean", "best_val_acc_std", "test_acc_mean", "test_acc_std"]


def _group_table(summary: Summary) -> tuple[list[str], list[list[str]]]:
    def std(stat: Stat) -> str:
        return NO_VALUE if stat.std is None else f"±{stat.std:.2f}"

    rows = [[*g.values.values(), str(len(g.runs)), str(g.best_val_acc.n),
             fmt_pct(g.best_val_acc.mean), std(g.best_val_acc), fmt_pct(g.test_acc.mean), std(g.test_acc)]
            for g in summary.groups]
    return [*summary.swept, *GROUP_STATS], rows


def pivot_cell(pivot: Pivot, key: tuple[str, str], sep: str = " ") -> str:
    """`97.00%`; `89.10% @3 ep` for a cell stopped early (`sep`: the heatmap's is a line break)."""
    if key in pivot.values:
        return fmt_pct(pivot.values[key])
    if key in pivot.stopped:
        epochs, acc = pivot.stopped[key]
        return f"{fmt_pct(acc)}{sep}@{epochs} ep"
    return pivot.statuses.get(key, NO_VALUE)


def _pivot_table(pivot: Pivot) -> tuple[list[str], list[list[str]]]:
    header = [f"{pivot.row_param} \\ {pivot.col_param}", *pivot.col_values]
    rows = [[rv, *(pivot_cell(pivot, (rv, cv)) for cv in pivot.col_values)] for rv in pivot.row_values]
    return header, rows


def best_line(summary: Summary) -> str:
    """`Best: lr=0.001, batch_size=8 — 97.00% val, 96.40% test (job 3)`; a test accuracy
    measured after the selection says so."""
    best = summary.best
    if best is None:
        return "Best: none (no completed run with a validation accuracy)"
    label = run_label(best, summary.swept, summary.sampled)
    text = f"Best: {label} {NO_VALUE} {fmt_pct(best.metrics['best_val_acc'])} val"
    notes = [f"job {best.job}"] if summary.swept else []
    test = summary.best_test
    if test is not None and test.test_acc is not None:
        text += f", {fmt_pct(test.test_acc)} test"
        if test.source == EVALUATED:
            notes.append(EVALUATED + (f" on {test.test_images} images" if test.test_images else ""))
    elif test is not None and test.source == UNAVAILABLE and best.tested is False:
        notes.append(f"no test accuracy: {test.note}")
    return text + (f" ({'; '.join(notes)})" if notes else "")


def rungs_line(summary: Summary) -> Optional[str]:
    """`Rungs (successive halving, eta 3, by best val_acc; configurations x epochs): 20 x 1 -> 7 x 3 -> ...`."""
    study = summary.halving
    if study is None:
        return None
    return (f"Rungs (successive halving, eta {study.eta}, by best {study.metric}; configurations x epochs): "
            f"{rung_steps(study)}")


def rung_steps(study: halving.Study) -> str:
    """`20 x 1 -> 7 x 3 -> 3 x 9`: the jobs x epochs of each rung the study has run."""
    return " -> ".join(f"{len(rung.jobs)} x {rung.epochs}" for rung in study.rungs)


def _rungs_table(study: halving.Study) -> tuple[list[str], list[list[str]]]:
    def went_on(rung: halving.Rung) -> str:
        if rung.promoted is None:
            return "running"
        return ", ".join(map(str, rung.promoted)) or ("the last rung" if rung.epochs == study.epochs else "none")

    rows = [[str(i), str(rung.epochs), str(len(rung.jobs)), went_on(rung),
             NO_VALUE if rung.seconds is None else f"{rung.seconds:.1f}"] for i, rung in enumerate(study.rungs, 1)]
    return ["rung", "epochs", "configurations", "jobs that went on", "wall time, s"], rows


def brackets_line(summary: Summary) -> Optional[str]:
    """`Brackets (Hyperband, eta 3, by best val_acc; trials x epochs): 1: 9 x 1 -> 3 x 3 -> 1 x 9; ...`."""
    state = summary.search
    if state is None:
        return None
    steps = "; ".join(f"{k}: {rung_steps(bracket)}" for k, bracket in enumerate(state.brackets, 1) if bracket.rungs)
    idle = search.idle_share(state)
    kind = f"Hyperband, eta {state.eta}" if state.pruning else "no early stopping"
    return (f"Brackets ({kind}, by best {state.metric}; trials x epochs): {steps}; {count(len(state.waves), 'wave')}"
            + ("" if idle is None else f", workers idle {idle:.0%} of the time"))


def optuna_line(summary: Summary) -> Optional[str]:
    """Optuna's own best (Hydra's Optuna sweeper), which may differ from the table's when its
    objective is another metric; a search's is the table's winner, so not repeated."""
    data = summary.optuna
    if summary.search is not None or not data or not isinstance(data.get("best_params"), dict):
        return None
    params = ", ".join(f"{k}={human_value(str(v))}" for k, v in data["best_params"].items())
    return f"Optuna best ({data.get('name', 'study')}): {params} {NO_VALUE} value {data.get('best_value')}"


def _counts_text(summary: Summary) -> str:
    return ", ".join(f"{n} {status}" for status, n in status_counts(summary).items())


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), line(["---"] * len(header)), *map(line, rows)])


def _plain(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _shared_text(summary: Summary) -> str:
    """The overrides every run had, as typed (`+experiment=seeds`), for "Every run:"."""
    return " ".join(f"`{summary.runs[0].typed[name]}`" for name in summary.shared) or "none"


def render_markdown(summary: Summary) -> str:
    parts = [f"# Sweep summary: {summary.sweep_dir.name}"]
    if summary.command:
        parts.append(f"```bash\n{summary.command}\n```")
    parts += [
        f"Every run: {_shared_text(summary)}",
        f"`{summary.sweep_dir}` {NO_VALUE} {count(len(summary.runs), 'run')}: {_counts_text(summary)}. "
        f"Swept: {', '.join(summary.swept) or 'nothing'}.",
        f"**{best_line(summary)}**",
    ]
    if (line := optuna_line(summary)) is not None:
        parts.append(line)
    if (line := brackets_line(summary)) is not None:
        parts.append(line)
    if summary.halving is not None:
        parts += [f"## Rungs (successive halving, eta {summary.halving.eta}, by best {summary.halving.metric})",
                  _markdown(*_rungs_table(summary.halving)),
                  "The winner is the best of the runs that trained every epoch; `epochs_run` is how far each got."]
    parts += ["## Runs (best first)", _markdown(*_run_table(summary, MD_ERROR_CHARS))]
    if "seed" in summary.swept or summary.groups:
        parts.append("The seed column is the seed each run used (drawn when `seed=null`).")
    if summary.groups:
        parts += ["## Repeated configurations (mean and sample std of completed runs)",
                  _markdown(*_group_table(summary))]
    if summary.pivot is not None:
        parts += [f"## best_val_acc by {summary.pivot.row_param} and {summary.pivot.col_param}",
                  _markdown(*_pivot_table(summary.pivot))]
        if summary.pivot.repeated:
            parts.append("Cells with several runs show the mean of their completed runs.")
        if summary.pivot.stopped:
            parts.append(STOPPED_NOTE + ".")
    return "\n\n".join(parts) + "\n"


def format_table(summary: Summary) -> str:
    """The terminal text printed by the CLI and the Hydra callback."""
    parts = [
        f"Sweep {summary.sweep_dir}: {count(len(summary.runs), 'run')} ({_counts_text(summary)}); "
        f"swept: {', '.join(summary.swept) or 'nothing'}",
        _plain(*_run_table(summary, TERMINAL_ERROR_CHARS)),
    ]
    if summary.groups:
        parts.append(_plain(*_group_table(summary)))
    if summary.pivot is not None:
        parts.append(_plain(*_pivot_table(summary.pivot)))
    parts.append(best_line(summary))
    for line in (rungs_line(summary), brackets_line(summary), optuna_line(summary)):
        if line is not None:
            parts.append(line)
    if summary.files:
        parts.append(f"Wrote {', '.join(p.name for p in summary.files)} to {summary.sweep_dir}")
    return "\n\n".join(parts)


# ---------------------------------------------------------------------------- files


def _csv_number(value: Optional[float]) -> str:
    """Plain numbers for spreadsheets and pandas; empty when there is no value."""
    if value is None:
        return ""
    value = round(float(value), 6)  # means carry float noise (96.33333333333334)
    return str(int(value)) if value.is_integer() else repr(value)


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def write_summary_csv(summary: Summary, path: Path) -> None:
    """Raw numbers (empty when absent) and the full error message, best first."""
    params = _run_params(summary)
    _write_csv(path, ["job", *params, "seed", "status", *METRIC_COLUMNS, "error"], [
        [run.job, *(value_of(run, p) for p in params), "" if run.seed is None else run.seed,
         run.status, *(_csv_number(run_metrics(summary, run).get(m)) for m in METRIC_COLUMNS), run.error or ""]
        for run in summary.rows])


def write_pivot_csv(pivot: Pivot, path: Path) -> None:
    """Mean best_val_acc per cell as a number; empty for a cell without a completed run
    (its status is in summary.csv: text would break numeric columns)."""
    _write_csv(path, [f"{pivot.row_param} \\ {pivot.col_param}", *pivot.col_values],
               [[rv, *(_csv_number(pivot.values.get((rv, cv))) for cv in pivot.col_values)]
                for rv in pivot.row_values])


def write_groups_csv(summary: Summary, path: Path) -> None:
    """One row per configuration: run count, completed count, mean and std as numbers."""
    _write_csv(path, [*summary.swept, *GROUP_STATS], [
        [*g.values.values(), len(g.runs), g.best_val_acc.n,
         *map(_csv_number, [g.best_val_acc.mean, g.best_val_acc.std, g.test_acc.mean, g.test_acc.std])]
        for g in summary.groups])


def summary_record(summary: Summary) -> dict[str, Any]:
    """summary.json: the sweep at a glance, for scripts."""
    winner = None
    if summary.best is not None and summary.best_test is not None:
        winner = winner_record(summary.best, summary.best_test)
    return {
        "sweep_dir": str(summary.sweep_dir),
        "command": summary.command,
        "swept": summary.swept,
        "shared_overrides": summary.shared,
        "runs": len(summary.runs),
        "status_counts": status_counts(summary),
        "unfinished_jobs": [run.job for run in summary.unfinished],
        "winner": winner,
        "halving": None if summary.halving is None else asdict(summary.halving),
        "search": None if summary.search is None else {**asdict(summary.search),
                                                       "idle_share": search.idle_share(summary.search)},
    }


def write_summary_json(summary: Summary, path: Path) -> None:
    path.write_text(json.dumps(summary_record(summary), indent=2) + "\n", encoding="utf-8")
