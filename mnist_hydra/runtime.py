"""What a run sets up in torch: seeds and random states, threads (as threads.py decides), device."""
import logging
import os
import random
import secrets
from typing import Any

import numpy as np
import torch

from mnist_hydra.config import ConfigError
from mnist_hydra.threads import job_threads

log = logging.getLogger(__name__)


def seed_everything(seed: int | None, deterministic: bool) -> int:
    """Seed python, numpy and torch (every device); draw a seed when none is given so the
    run can still be replayed from the seed recorded in metrics.json and best.pt."""
    if seed is None:
        seed = secrets.randbelow(2**31)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    return seed


def rng_states() -> dict[str, Any]:
    """Every random state a run draws from, for last.pt (a resumed run continues the same stream)."""
    # numpy's key array as a list: last.pt is loaded with weights_only=True, which refuses ndarrays.
    # (numpy's stub types get_state() as its dict form; the default, legacy=True, returns this tuple.)
    name, key, pos, has_gauss, gauss = np.random.get_state()
    states: dict[str, Any] = {"python": random.getstate(),
                              "numpy": (name, key.tolist(), pos, has_gauss, gauss),  # type: ignore[attr-defined]
                              "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    name, key, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((name, np.asarray(key, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def resolve_device(name: str) -> torch.device:
    """`auto` picks the accelerator torch finds (cuda, mps, ...), else cpu; an explicit
    device that is absent is an error."""
    if name == "cpu":
        return torch.device("cpu")
    accelerator = torch.accelerator.current_accelerator(check_available=True)
    if name == "auto":
        return accelerator if accelerator is not None else torch.device("cpu")
    if accelerator is None or accelerator.type != name:
        raise RuntimeError(f"device={name} requested but not available here; use device=auto or device=cpu")
    return torch.device(name)


def run_device(device: str, precision: str) -> torch.device:
    """The device a run uses, checked against its precision (float16 autocast with gradient
    scaling is a CUDA feature; elsewhere it is an error, not a silent fallback)."""
    resolved = resolve_device(device)
    if precision == "16-mixed" and resolved.type != "cuda":
        raise ConfigError(f"precision=16-mixed needs a CUDA device (this run: {resolved.type}); "
                          "use precision=bf16-mixed or 32-true")
    return resolved


def configure_threads(requested: int | None, parallel_jobs: int = 1) -> int:
    """Give torch the threads threads.job_threads decides for this job; returns the number."""
    threads = job_threads(requested, parallel_jobs)
    torch.set_num_threads(threads)
    return threads
