"""The process a run lives in: seeds, torch threads, device."""
import logging
import os
import random
import secrets

import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

log = logging.getLogger(__name__)


def seed_everything(seed: int | None, deterministic: bool) -> int:
    """Seed python, numpy and torch (every device); draw a seed when none is given so the
    run can still be replayed from the seed recorded in metrics.json."""
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


def resolve_device(name: str) -> torch.device:
    """`auto` picks cuda, then mps, then cpu; an explicit device that is absent is an error."""
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if name == "auto":
        name = next(dev for dev in ("cuda", "mps", "cpu") if available[dev])
    if not available[name]:
        raise RuntimeError(f"device={name} requested but not available here; use device=auto or device=cpu")
    return torch.device(name)


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def parallel_jobs() -> int:
    """How many jobs of this sweep share the machine: joblib's n_jobs, else 1."""
    if not HydraConfig.initialized():
        return 1
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN or "n_jobs" not in hydra_cfg.launcher:
        return 1
    n_jobs = int(hydra_cfg.launcher.n_jobs)
    # joblib's convention: -1 is every core, -2 all but one, ...
    return max(1, n_jobs if n_jobs > 0 else usable_cores() + 1 + n_jobs)


def configure_threads(requested: int | None) -> int:
    """Torch threads for this job: `threads` if set, else the SLURM allocation, else the
    usable cores split between the sweep's parallel jobs, so jobs don't oversubscribe."""
    if requested is not None:
        threads = requested
    elif os.environ.get("SLURM_CPUS_PER_TASK"):
        threads = int(os.environ["SLURM_CPUS_PER_TASK"])
    else:
        threads = usable_cores() // parallel_jobs()
    threads = max(1, threads)
    torch.set_num_threads(threads)
    return threads
