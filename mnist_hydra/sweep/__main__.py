"""`mnist-summarize DIR...` (also `python -m mnist_hydra.sweep`): summarize sweep folders."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Optional

from mnist_hydra.sweep import SweepError, format_table, summarize_sweep

EXIT_STATUS = """\
exit status:
  0  every run of every folder has a result (completed, diverged, or stopped early by
     an early-stopping sweep)
  1  some run failed, was killed (no metrics.json) or left an unreadable metrics.json
  2  some folder is not a sweep (absent, or no job folders 0/, 1/, ...)
A folder whose files cannot be written (read-only) is a warning; its table is printed
and the status is that of its runs."""

PROG = "mnist-summarize"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Summarize Hydra sweep folders: print the table and write summary.csv, "
                    "summary.md, summary.json, pivot.csv (two swept parameters), groups.csv "
                    "(repeated configurations), summary.png and curves.png into each. When the "
                    "runs skipped the test set (test=false), the winner selected on validation "
                    "is evaluated on the test set once. Same as python -m mnist_hydra.summarize.",
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("sweep_dirs", nargs="+", type=Path, metavar="SWEEP_DIR",
                        help="a Hydra multirun folder holding job folders 0/, 1/, ...")
    parser.add_argument("--no-test", dest="evaluate", action="store_false",
                        help="do not evaluate the winner on the test set")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # "Evaluating the winner ..."

    status = 0
    for sweep_dir in args.sweep_dirs:  # each folder on its own: one bad folder stops nothing
        try:
            summary = summarize_sweep(sweep_dir, evaluate=args.evaluate)
        except SweepError as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)  # as every command of the app says it
            status = 2
            continue
        print(format_table(summary), end="\n\n", flush=True)
        if summary.write_error:
            print(f"warning: summary files not written: {summary.write_error}", file=sys.stderr)
        if summary.unfinished:
            status = max(status, 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
