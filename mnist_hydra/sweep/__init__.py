"""The sweep summary: read a Hydra sweep folder, rank its runs, write tables and plots.

    summarize_sweep(sweep_dir) -> Summary   read, evaluate the winner if needed, write files
    build_summary(sweep_dir) -> Summary     read and analyse only
    format_table(summary) -> str            the terminal text

Modules: read (job folders, multirun.yaml), analysis (ranking, pivot, repeated configurations:
the Summary, no formatting), render (terminal text, markdown, csv, json), winner (the winner's
test accuracy), plots (matplotlib), callback (Hydra callbacks),
__main__ (the `mnist-summarize` CLI). Importing this package loads neither matplotlib nor
torch: Hydra imports the callbacks in every job process.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mnist_hydra.rundir.files import read_only_reason
from mnist_hydra.sweep.read import Run, SweepError
from mnist_hydra.sweep.analysis import Summary, build_summary
from mnist_hydra.sweep.render import (
    format_table, render_markdown, write_groups_csv, write_pivot_csv, write_summary_csv, write_summary_json,
)
from mnist_hydra.sweep.winner import SUMMARY_JSON, winner_test

__all__ = ["Run", "Summary", "SweepError", "build_summary", "format_table", "summarize_sweep"]


def write_files(summary: Summary) -> None:
    """Write every summary file into the sweep folder, recording each in summary.files."""
    # Imported here: matplotlib takes most of a second to import.
    from mnist_hydra.sweep.plots import write_plots

    sweep_dir = summary.sweep_dir
    writers: list[tuple[str, Callable[[Summary, Path], None]]] = [("summary.csv", write_summary_csv)]
    pivot = summary.pivot
    if pivot is not None:
        writers.append(("pivot.csv", lambda s, path: write_pivot_csv(pivot, path)))
    if summary.groups:
        writers.append(("groups.csv", write_groups_csv))
    writers.append((SUMMARY_JSON, write_summary_json))
    for name, write in writers:
        write(summary, sweep_dir / name)
        summary.files.append(sweep_dir / name)
    summary.files += write_plots(summary)
    (sweep_dir / "summary.md").write_text(render_markdown(summary), encoding="utf-8")
    summary.files.append(sweep_dir / "summary.md")


def summarize_sweep(sweep_dir: Path, evaluate: bool = True) -> Summary:
    """Read a sweep folder, report the winner's test accuracy, write the summary files.

    When the winner skipped the test set (`test: false`), its best.pt is evaluated on the
    test set once (evaluate=False: not at all). A folder that cannot be written still gets
    its summary: summary.write_error says why no files were written. SweepError when the
    folder is not a sweep.
    """
    summary = build_summary(Path(sweep_dir))
    if summary.best is not None:
        summary.best_test = winner_test(summary.best, summary.sweep_dir, evaluate=evaluate)
    if (reason := read_only_reason(summary.sweep_dir)) is not None:
        summary.write_error = reason
    else:
        try:
            write_files(summary)
        except OSError as exc:  # full disk, a file in the way, a permission: the table still counts
            summary.write_error = str(exc)
    return summary
