"""The sweepers' configs: `hydra/sweeper=halving`, `hydra/sweeper=search` and its samplers
(`hydra/sweeper/sampler=tpe|random`)."""
# No `from __future__ import annotations`: Hydra loads plugin modules outside sys.modules,
# where dataclasses cannot resolve string annotations.
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class HalvingSweeperConf:
    _target_: str = "hydra_plugins.mnist_hydra_sweeper.halving_sweeper.HalvingSweeper"
    eta: int = 3  # after each rung the best 1/eta go on, to eta times the epochs
    min_epochs: int = 1  # the first rung's epochs; `epochs` is the last rung's
    metric: str = "val_acc"  # what a rung ranks by, its best so far: val_acc (max) or val_loss (min)
    params: Optional[Dict[str, str]] = None  # the grid, as for the basic sweeper


@dataclass
class TPESamplerConf:
    _target_: str = "optuna.samplers.TPESampler"
    seed: Optional[int] = None
    n_startup_trials: int = 10  # trials sampled at random before TPE models the results (pruned ones count)


@dataclass
class RandomSamplerConf:
    _target_: str = "optuna.samplers.RandomSampler"
    seed: Optional[int] = None


@dataclass
class SearchSweeperConf:
    _target_: str = "hydra_plugins.mnist_hydra_sweeper.search_sweeper.SearchSweeper"
    defaults: List[Any] = field(default_factory=lambda: [{"sampler": "tpe"}])
    sampler: Any = MISSING
    n_trials: int = 20  # trials in all, counted across a resume
    n_jobs: int = 1  # new trials launched together at least (more while a worker would idle)
    direction: Optional[str] = None  # null: the metric's (maximize val_acc, minimize val_loss); no other
    metric: str = "val_acc"  # what rungs rank by and the study optimises: the run's best so far
    pruning: bool = True  # false: every trial trains to `epochs`
    eta: int = 3  # a rung keeps its best 1/eta, who train eta times the epochs
    min_epochs: int = 1  # the first bracket's first rung
    study_name: str = "mnist_hydra"
    storage: Optional[str] = None  # an Optuna storage URL; null: a journal file in the sweep folder
    max_failure_rate: float = 1.0  # no new trials once more than this share of n_trials failed
    params: Optional[Dict[str, str]] = None  # the search space: choice, range, interval, tag(log, interval)


ConfigStore.instance().store(group="hydra/sweeper", name="halving", node=HalvingSweeperConf, provider="mnist_hydra")
ConfigStore.instance().store(group="hydra/sweeper", name="search", node=SearchSweeperConf, provider="mnist_hydra")
ConfigStore.instance().store(group="hydra/sweeper/sampler", name="tpe", node=TPESamplerConf, provider="mnist_hydra")
ConfigStore.instance().store(group="hydra/sweeper/sampler", name="random", node=RandomSamplerConf,
                             provider="mnist_hydra")
