"""Which sweeper made a sweep, read from the sweep's own config (`hydra.sweeper._target_`,
in a job's config or the sweep folder's multirun.yaml), never from the files in its folder: a
folder an earlier study used may still hold that study's state file.

Torch-free: the progress callback and the thread split ask here in every job process.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

from mnist_hydra import halving, search
from mnist_hydra.halving import Position

GRID, HALVING, SEARCH = "grid", "halving", "search"


def sweeper_kind(sweeper: Optional[Mapping[str, Any]]) -> str:
    """GRID (the basic sweeper, or another that runs whole jobs), HALVING or SEARCH."""
    target = str((sweeper or {}).get("_target_", ""))
    return HALVING if target.endswith(".HalvingSweeper") else SEARCH if target.endswith(".SearchSweeper") else GRID


def running(sweep_dir: Path, sweeper: Optional[Mapping[str, Any]]) -> Optional[Position]:
    """The running rung of a halving study, or wave of a search; None for a grid."""
    kind = sweeper_kind(sweeper)
    return halving.position(sweep_dir) if kind == HALVING else search.position(sweep_dir) if kind == SEARCH else None
