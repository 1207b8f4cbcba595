"""Which sweeper and which launcher run a sweep, read from the sweep's own config (their
`_target_`, in a job's config or the sweep folder's multirun.yaml), never from the files in
its folder: a folder an earlier study used may still hold that study's state file.

Torch-free: the progress callback and the thread split ask here in every job process.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

from mnist_hydra import halving, search
from mnist_hydra.halving import Position

GRID, HALVING, SEARCH = "grid", "halving", "search"
# Launchers: Hydra's basic (jobs in this process, one at a time), joblib's (worker processes),
# submitit's on SLURM or as local processes (the project's or the plugin's own classes).
BASIC, JOBLIB, SLURM, LOCAL = "basic", "joblib", "slurm", "local"


def sweeper_kind(sweeper: Optional[Mapping[str, Any]]) -> str:
    """GRID (the basic sweeper, or another that runs whole jobs), HALVING or SEARCH."""
    target = str((sweeper or {}).get("_target_", ""))
    return HALVING if target.endswith(".HalvingSweeper") else SEARCH if target.endswith(".SearchSweeper") else GRID


def running(sweep_dir: Path, sweeper: Optional[Mapping[str, Any]]) -> Optional[Position]:
    """The running rung of a halving study, or wave of a search; None for a grid."""
    kind = sweeper_kind(sweeper)
    return halving.position(sweep_dir) if kind == HALVING else search.position(sweep_dir) if kind == SEARCH else None


def launcher_kind(launcher: Optional[Mapping[str, Any]]) -> str:
    """BASIC, JOBLIB, SLURM or LOCAL (submitit's local executor); BASIC for anything else."""
    target = str((launcher or {}).get("_target_", ""))
    return JOBLIB if "Joblib" in target else SLURM if "Slurm" in target else LOCAL if "Local" in target else BASIC
