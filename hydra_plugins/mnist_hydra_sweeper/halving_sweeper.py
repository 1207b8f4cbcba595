"""`hydra/sweeper=halving`: successive halving over the grid the basic sweeper takes. The
study itself is mnist_hydra/halving.py; this class parses the grid and hands it the launcher."""
from typing import Any, Optional

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from mnist_hydra.config import GridConfigLoader
from mnist_hydra.guards import check_sweeper_settings, open_sweep_folder, rung_rules, study_epochs
from mnist_hydra.halving import Study, run_study


class HalvingSweeper(BasicSweeper):
    """The basic sweeper's grid, run as a successive-halving study (one launch per rung)."""

    def __init__(self, eta: int, min_epochs: int, metric: str, params: Optional[dict[str, str]] = None) -> None:
        super().__init__(max_batch_size=None, params=params)
        check_sweeper_settings("halving", rung_rules(eta, min_epochs, metric))
        self.eta, self.min_epochs, self.metric = eta, min_epochs, metric

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        # The launcher composes each job through this loader: the grid check's compositions
        # (one per set of group overrides) serve every job of every rung, in whatever process.
        loader = GridConfigLoader(hydra_context.config_loader)
        super().setup(hydra_context=HydraContext(config_loader=loader, callbacks=hydra_context.callbacks),
                      task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        assert self.config is not None and self.launcher is not None and self.hydra_context is not None
        loader = self.hydra_context.config_loader
        assert isinstance(loader, GridConfigLoader)
        overrides = OverridesParser.create(config_loader=loader).parse_overrides(self._parse_config() + arguments)
        grid = self.split_arguments(overrides, None)[0]
        # Every configuration composed and validated, and its data loaded, before anything trains.
        epochs = study_epochs(self.config, grid, loader, "halving")
        study = Study(self.eta, self.min_epochs, self.metric, epochs, len(grid))
        return run_study(grid, study, open_sweep_folder(self.config), self.launcher.launch)
