"""Decoded MNIST kept for reuse: a checksum-keyed file cache across processes, a memo within one.

Both are keyed by the files' paths, sizes and mtimes and the pinned sums, so replacing or
touching a file, or changing the sums, misses both.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch

from mnist_hydra.data.idx import FILES, FULL_SHA256, MnistTensors, as_dict, encode_idx
from mnist_hydra.data.paths import writable
from mnist_hydra.rundir.files import atomic_write

CACHE_VERSION = 1  # bump when the cache file format changes

# location -> (key, tensors): what this process loaded last from each location. A joblib
# worker runs many jobs; this makes it read and verify the files once, not once per job.
MEMO: dict[Path, tuple[str, MnistTensors]] = {}


def cache_key(paths: dict[str, Path], sums: dict[str, str]) -> str:
    """Changes whenever a file is replaced or touched (size/mtime), or the pinned sums change."""
    stamp = [CACHE_VERSION, sums]
    for name in FILES:
        st = paths[name].stat()
        stamp.append([str(paths[name]), st.st_size, st.st_mtime_ns])
    return hashlib.sha256(json.dumps(stamp).encode()).hexdigest()[:32]


def memoized(location: Path, key: str, load: Callable[[], MnistTensors]) -> MnistTensors:
    """The tensors this process loaded from location under key, else load() and remember them.

    One entry per location, so a replaced file (new key) drops the old tensors. Callers
    share the returned tensors and must not modify them in place.
    """
    entry = MEMO.get(location)
    if entry is None or entry[0] != key:
        entry = MEMO[location] = (key, load())
    return entry[1]


def cache_dirs(root: Path) -> list[Path]:
    """Cache locations in order of preference: next to the data, then the user cache."""
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return [root / ".mnist_hydra_cache", user_cache / "mnist_hydra"]


def cache_matches_sums(tensors: MnistTensors) -> bool:
    """Whether the cached tensors re-encode to the pinned IDX bytes.

    Costs ~30 ms (no decompression), so a damaged cache can never pass for verified data.
    """
    return all(hashlib.sha256(encode_idx(t)).hexdigest() == FULL_SHA256[name] for name, t in as_dict(tensors).items())


def load_cache(root: Path, key: str) -> MnistTensors | None:
    """The cached tensors for key, or None when absent, unreadable or not matching the sums."""
    for directory in cache_dirs(root):
        path = directory / f"{key}.pt"
        if not path.is_file():
            continue
        try:
            stored = torch.load(path, weights_only=True)
            tensors = MnistTensors(**{field: stored[field] for field in MnistTensors.__dataclass_fields__})
            dtypes = [t.dtype for t in as_dict(tensors).values()]
            if dtypes == [torch.uint8, torch.int64] * 2 and cache_matches_sums(tensors):
                return tensors
        except Exception:  # noqa: BLE001 - any failure just means "re-verify from the IDX files"
            pass
    return None


def save_cache(root: Path, key: str, tensors: MnistTensors) -> None:
    """Write the cache to the first writable location (atomically, honouring the umask); skip if none is."""
    payload = {field: getattr(tensors, field) for field in MnistTensors.__dataclass_fields__}
    for directory in cache_dirs(root):
        if not writable(directory):
            continue
        try:
            directory.mkdir(parents=True, exist_ok=True)
            # Atomic, so concurrent jobs never read a half-written cache.
            atomic_write(directory / f"{key}.pt", lambda tmp: torch.save(payload, tmp))
            return
        except OSError:
            continue
