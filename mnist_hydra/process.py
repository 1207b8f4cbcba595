"""The process itself, torch-free: a quick exit, an end with its parent (its usable cores: threads.py)."""
import atexit
import functools
import gc
import os
import sys
import threading
import time
from typing import TextIO

WATCHER = "exit-with-parent"  # the name of the thread exit_with_parent starts


@functools.cache
def exit_quickly() -> None:
    """At this process's exit, skip the garbage collection of what exists then: with torch
    imported Python's teardown spends ~1 s collecting it, in every run, joblib worker and
    SLURM job, and a sweep waits for its workers' teardown. Only objects held in reference
    cycles are left to the OS; the run's files are closed before (RunRecorder.close, atomic
    writes), and the other exit handlers (logging's flush, joblib's) run as before. Once per
    process: a joblib worker runs many jobs."""
    atexit.register(gc.freeze)


def exit_with_parent(poll_s: float = 1.0) -> None:
    """End this worker process when the process that started it dies (e.g. SIGKILL of a
    joblib sweep's main process): its workers would otherwise keep training and writing.
    Polls the parent pid from a daemon thread; a dead parent's children are re-parented.
    Once per process: a joblib worker runs many jobs and calls this for each."""
    if any(thread.name == WATCHER for thread in threading.enumerate()):
        return
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)  # no cleanup to do that could not also be done by the killed parent

    threading.Thread(target=watch, name=WATCHER, daemon=True).start()


def say(line: str, stream: TextIO | None = None) -> None:
    """Print one line in one write: the jobs of a parallel sweep share the terminal, and
    `print` writes the text and its newline apart (two writes where Python runs unbuffered,
    PYTHONUNBUFFERED), so two jobs' lines could run together."""
    stream = stream or sys.stdout
    stream.write(line + "\n")
    stream.flush()
