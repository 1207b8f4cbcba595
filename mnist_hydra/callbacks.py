"""Hydra callbacks: summarize a sweep when the multirun ends.

Registered in conf/config.yaml as `hydra.callbacks.sweep_summary`.
"""
import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)


class SweepSummaryCallback(Callback):
    """Writes the summary files into the sweep folder, prints the table, and ends the
    process with status 1 when any run failed.

    Failing jobs are recorded instead of raised (so every job runs and this callback
    fires at all); the exit status is how a script or CI still learns about them.
    """

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        # Imported here: summarize pulls in matplotlib (~0.6 s), and Hydra imports this module
        # at the start of every job process (joblib workers too), not only at the sweep's end.
        from mnist_hydra.summarize import format_table, summarize_sweep, sweep_failed

        try:
            summary = summarize_sweep(Path(str(config.hydra.sweep.dir)))
            print(format_table(summary), flush=True)
        except Exception:
            # A summary problem must not turn a finished sweep into a Hydra error.
            log.exception("Could not summarize the sweep")
            return
        if sweep_failed(summary):
            failed = [str(run.job) for run in summary.rows if run.status == "failed"]
            log.error("%d run(s) failed: job(s) %s; see their metrics.json", len(failed), ", ".join(failed))
            # SystemExit passes through Hydra's callback wrapper (it catches Exception only).
            raise SystemExit(1)
