"""Build the packaged MNIST sample (mnist_hydra/sample_data/) from the full, verified MNIST.

A stratified sample: PER_CLASS_TRAIN train and PER_CLASS_TEST test images per digit, picked
with a fixed seed and written as gzipped IDX with mtime=0, so re-running gives identical bytes.

    python scripts/make_sample.py --source /path/to/mnist
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import sys
from pathlib import Path

import torch

# Runnable from a plain checkout, without `pip install -e .`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mnist_hydra.data import SAMPLE_DIR  # noqa: E402
from mnist_hydra.data.idx import FILES, FULL_SHA256, SAMPLE_SHA256, encode_idx, load_verified  # noqa: E402
from mnist_hydra.data.paths import find_file  # noqa: E402

PER_CLASS_TRAIN = 500
PER_CLASS_TEST = 100
SEED = 0


def stratified(labels: torch.Tensor, per_class: int, generator: torch.Generator) -> torch.Tensor:
    """per_class random indices of each digit, sorted so the sample keeps MNIST's order."""
    picks = []
    for digit in range(10):
        candidates = torch.nonzero(labels == digit).flatten()
        picks.append(candidates[torch.randperm(len(candidates), generator=generator)[:per_class]])
    return torch.cat(picks).sort().values


def write_gz(path: Path, payload: bytes) -> None:
    """Gzip payload to path reproducibly: no timestamp or file name in the header."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(payload)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=os.environ.get("MNIST_ROOT") or "./data", help="directory with full MNIST")
    parser.add_argument("--out", default=str(SAMPLE_DIR), help="output directory")
    args = parser.parse_args()

    source, out = Path(args.source), Path(args.out)
    paths = {name: find_file(source, name) for name in FILES}
    missing = [name for name, path in paths.items() if path is None]
    if missing:
        sys.exit(f"{source}: missing {', '.join(missing)}")
    full = load_verified(paths, FULL_SHA256)

    # One generator for both splits, so the whole sample follows from SEED.
    generator = torch.Generator().manual_seed(SEED)
    train_idx = stratified(full.train_labels, PER_CLASS_TRAIN, generator)
    test_idx = stratified(full.test_labels, PER_CLASS_TEST, generator)
    sample = {
        FILES[0]: full.train_images[train_idx],
        FILES[1]: full.train_labels[train_idx],
        FILES[2]: full.test_images[test_idx],
        FILES[3]: full.test_labels[test_idx],
    }

    out.mkdir(parents=True, exist_ok=True)
    sums = {}
    for name, tensor in sample.items():
        payload = encode_idx(tensor)
        sums[name] = hashlib.sha256(payload).hexdigest()
        write_gz(out / f"{name}.gz", payload)
    (out / "SHA256SUMS").write_text("".join(f"{sums[name]}  {name}\n" for name in FILES))

    total = sum((out / f"{name}.gz").stat().st_size for name in FILES)
    print(f"wrote {len(train_idx)} train + {len(test_idx)} test images to {out} ({total} bytes)")
    if sums != SAMPLE_SHA256:
        print("SHA256 sums differ from mnist_hydra.data.idx.SAMPLE_SHA256; pin these:")
        print((out / "SHA256SUMS").read_text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
