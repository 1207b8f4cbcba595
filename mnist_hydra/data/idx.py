"""The MNIST IDX files: their names, pinned SHA-256 sums, verification and decoding.

Every byte handed to training is checked against these sums, whether it came from disk,
a download or the cache.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch

FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

# SHA-256 of the decompressed IDX files (the same as MNIST's SHA256SUMS.uncompressed).
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

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension

# How a user points the app at other data; every message that asks for that says it this way.
SET_ROOT = "set data.root (or MNIST_ROOT, its default)"
FIX_HINT = f"Delete the file and re-run with data.download=true, or {SET_ROOT} to a folder with a good copy of MNIST."


@dataclass(frozen=True)
class MnistTensors:
    """The four IDX files decoded. Shared within a process (see cache.memoized): never modify in place."""

    train_images: torch.Tensor  # uint8 [N, 28, 28]
    train_labels: torch.Tensor  # int64 [N]
    test_images: torch.Tensor
    test_labels: torch.Tensor


class DataError(RuntimeError):
    """The data is missing, corrupt, unreadable or could not be fetched; the message says how to fix it."""


def read_verified(path: Path, expected_sha256: str) -> bytes:
    """The decompressed bytes of path, only if they hash to expected_sha256."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        # Not corruption: the file may be fine for its owner (a shared folder, another user's umask).
        fix = "ask its owner to make it readable (chmod a+r), or " if isinstance(exc, PermissionError) else ""
        raise DataError(
            f"{path}: cannot be read ({exc.strerror}). {fix}{SET_ROOT} to a folder with a readable copy of MNIST."
        ) from exc
    try:
        data = gzip.decompress(raw) if path.suffix == ".gz" else raw
        got = hashlib.sha256(data).hexdigest()
    except (OSError, EOFError, zlib.error) as exc:
        # A truncated or garbled gzip stream (gzip.BadGzipFile is an OSError) is a corrupt file like any other.
        data, got = b"", f"not a valid gzip stream: {exc}"
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
    return dict(zip(FILES, (tensors.train_images, tensors.train_labels, tensors.test_images, tensors.test_labels),
                    strict=True))


def load_verified(paths: dict[str, Path], sums: dict[str, str]) -> MnistTensors:
    """Read, verify and decode the four files."""
    files = {name: read_verified(paths[name], sums[name]) for name in FILES}
    return decode_files(files, paths)
