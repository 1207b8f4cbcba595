"""Shared by the benchmarks: composing the app's config, interleaved timing, tables."""
import gzip
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path
from typing import Callable

import torch
from omegaconf import DictConfig

from mnist_hydra import config
from mnist_hydra.data import FILES

REPO = Path(__file__).resolve().parent.parent
MNIST_ROOT = os.environ.get("MNIST_ROOT", str(REPO / "data"))


def compose_config(overrides: list[str]) -> DictConfig:
    """The config a run with these overrides gets (data from MNIST_ROOT, CPU)."""
    return config.compose_config([f"data.root={MNIST_ROOT}", "device=cpu", *overrides])


def interleaved(arms: dict[str, Callable[[], float]], reps: int, verbose: bool = False) -> dict[str, float]:
    """Median of `reps` results per arm, the arms taking turns within each repetition, so
    load from other processes on a shared machine hits every arm alike. `verbose` prints
    every result (and the load average) as it comes, to show the spread behind the medians."""
    results: dict[str, list[float]] = {name: [] for name in arms}
    for rep in range(reps):
        for name, arm in arms.items():
            results[name].append(arm())
            if verbose:
                print(f"  round {rep + 1}: {name} {results[name][-1]:.2f} (load {os.getloadavg()[0]:.1f})", flush=True)
    return {name: statistics.median(values) for name, values in results.items()}


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def table(header: list[str], rows: list[list[object]]) -> str:
    """A Markdown table (pasted as is into benchmarks/README.md)."""
    cells = [header] + [[f"{c:.2f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def machine() -> str:
    """CPU model, cores, load and versions: the numbers only mean something next to these."""
    cpu = next((line.split(":", 1)[1].strip() for line in subprocess.run(
        ["lscpu"], capture_output=True, text=True).stdout.splitlines() if line.startswith("Model name")), "?")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{cpu}, {len(os.sched_getaffinity(0))} usable cores, load average {load}; "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads), Python {platform.python_version()}")


def torchvision_root(dest: Path) -> Path:
    """`dest` laid out as torchvision.datasets.MNIST expects: decompressed files in MNIST/raw/."""
    raw = dest / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        if not (raw / name).exists():
            source = Path(MNIST_ROOT) / f"{name}.gz"
            (raw / name).write_bytes(gzip.decompress(source.read_bytes()) if source.exists()
                                     else (Path(MNIST_ROOT) / name).read_bytes())
    return dest
