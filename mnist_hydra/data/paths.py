"""Where the MNIST files live: the data root, the layouts searched, and whether it can be written."""

from __future__ import annotations

import os
from pathlib import Path

from mnist_hydra.data.idx import SET_ROOT, DataError
from mnist_hydra.rundir.files import read_only_reason


def resolve_root(root: str | os.PathLike) -> Path:
    """root as an absolute path (~ expanded). $MNIST_ROOT is the config's default, not an override."""
    return Path(root).expanduser().resolve()


def search_dirs(root: Path) -> tuple[Path, Path]:
    """The folders searched: root itself (flat) and torchvision's MNIST/raw layout."""
    return root, root / "MNIST" / "raw"


def candidate_paths(root: Path, name: str) -> list[Path]:
    """Where a file may live: a search folder, uncompressed or gzipped."""
    return [d / f for d in search_dirs(root) for f in (name, name + ".gz")]


def find_file(root: Path, name: str) -> Path | None:
    """The first existing candidate for name under root, or None."""
    return next((p for p in candidate_paths(root, name) if p.is_file()), None)


def nearest_existing(path: Path) -> Path:
    """path itself if it exists, else its nearest existing ancestor (where mkdir would start)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_folder(root: Path) -> None:
    """Raise DataError unless root is a folder or could be created as one."""
    existing = nearest_existing(root)
    if not existing.is_dir():
        where = "" if existing == root else f" (in data.root {root})"
        raise DataError(f"{existing} is not a folder{where}. {SET_ROOT} to the folder that holds MNIST, "
                        "or to a new one to download it into.")


def writable(directory: Path) -> bool:
    """Whether files can be created in directory, creating it first if need be."""
    return read_only_reason(nearest_existing(directory)) is None


def not_writable(root: Path, reason: str) -> DataError:
    """The error for MNIST files that cannot be placed under root, with the fix."""
    return DataError(
        f"Cannot write the MNIST files into {root} ({reason}). "
        f"{SET_ROOT} to a writable folder, or to one that already holds the files."
    )
