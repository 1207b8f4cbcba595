"""`hydra/sweeper=search` (`+hparams_search=optuna`): Optuna's sampler with Hyperband-style
early stopping. The search itself is mnist_hydra/search.py; this class parses the space,
checks it, opens the Optuna study and hands the search the launcher."""
from pathlib import Path
from typing import Any, Optional, cast

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep, Transformer
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from mnist_hydra import search
from mnist_hydra.config import GridConfigLoader, override_key
from mnist_hydra.guards import check_sweeper_settings, open_sweep_folder, refuse, rung_rules, study_epochs
from mnist_hydra.halving import METRICS
from mnist_hydra.threads import concurrent_jobs


class SearchSweeper(Sweeper):
    """Trials asked from an Optuna study, run rung by rung in Hyperband's brackets."""

    def __init__(self, sampler: Any, n_trials: int, n_jobs: int, direction: Optional[str], metric: str,
                 pruning: bool, eta: int, min_epochs: int, study_name: str, storage: Optional[str],
                 max_failure_rate: float, params: Optional[dict[str, str]] = None) -> None:
        check_sweeper_settings("search", [
            ("n_trials", n_trials, n_trials >= 1, "must be >= 1"),
            ("n_jobs", n_jobs, n_jobs >= 1, "must be >= 1"),
            *rung_rules(eta, min_epochs, metric),
            ("direction", direction, metric not in METRICS or direction in (None, search.best_direction(metric)),
             f"contradicts metric={metric} ({search.best_direction(metric)}d): leave direction out"
             if metric in METRICS else ""),
            ("max_failure_rate", max_failure_rate, 0.0 <= max_failure_rate <= 1.0, "must be within [0, 1]"),
        ])
        self.sampler, self.params = sampler, params or {}  # Hydra instantiated the sampler
        self.n_trials, self.n_jobs, self.metric, self.pruning = n_trials, n_jobs, metric, pruning
        self.eta, self.min_epochs = eta, min_epochs
        self.study_name, self.storage, self.max_failure_rate = study_name, storage, max_failure_rate
        self.config: Optional[DictConfig] = None
        self.hydra_context: Optional[HydraContext] = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        # Jobs compose through the grid loader: one composition per set of group overrides.
        self.config = config
        self.hydra_context = HydraContext(config_loader=GridConfigLoader(hydra_context.config_loader),
                                          callbacks=hydra_context.callbacks)
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=self.hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        assert self.config is not None and self.hydra_context is not None
        loader = self.hydra_context.config_loader
        assert isinstance(loader, GridConfigLoader)
        params = [f"{key}={value}" for key, value in self.params.items()]
        overrides = OverridesParser.create(config_loader=loader).parse_overrides(params + arguments)
        space, fixed = search_space(overrides)
        if not space:
            refuse("the search has no space: give hydra.sweeper.params or a sweep override, "
                   "e.g. 'lr=tag(log,interval(1e-4,1e-1))'")
        if "epochs" in {override_key(key) for key in space}:
            refuse("hydra/sweeper=search needs one `epochs` (the last rung's): leave it out of the space")
        # Every choice and both ends of every range composed and validated, and the data loaded,
        # before any trial.
        epochs = study_epochs(self.config, corner_jobs(space, fixed), loader, "search")
        sweep_dir = open_sweep_folder(self.config)
        state = self._state(sweep_dir, epochs)
        study = self._study(sweep_dir, resumed=bool(state.waves))
        sampler = search.Sampler(study, space, fixed, state.metric)
        returns = search.run_search(state, sampler, sweep_dir, self.launcher.launch,
                                    self.max_failure_rate * state.n_trials)
        search.write_results(study, sweep_dir)
        return returns

    def _state(self, sweep_dir: Path, epochs: int) -> search.Search:
        """The stored search when resuming one with the same settings; else a new plan."""
        assert self.config is not None
        workers = concurrent_jobs(self.config.hydra, cluster=self.n_jobs)
        brackets = search.plan_brackets(self.n_trials, self.eta, self.min_epochs, epochs, self.metric, self.pruning)
        sampler = OmegaConf.to_container(self.config.hydra.sweeper.sampler, resolve=True)
        planned = search.Search(self.n_trials, self.n_jobs, workers, self.eta, self.min_epochs, epochs, self.metric,
                                self.pruning, cast(dict[str, Any], sampler), brackets)
        stored = search.read_state(sweep_dir) if self.config.resume else None
        if stored is None:
            search.log.info("search: %d trials, %s (trials x epochs)", self.n_trials, search.schedule_text(brackets))
            return planned
        differ = [f"{key}={getattr(stored, key)} (now {getattr(planned, key)})" for key in search.SETTINGS
                  if getattr(stored, key) != getattr(planned, key)]
        if differ:
            refuse(f"{sweep_dir} holds a search with {', '.join(differ)}: resume it with its own settings, "
                   "or choose another hydra.sweep.dir")
        return stored

    def _study(self, sweep_dir: Path, resumed: bool) -> Any:
        """The Optuna study; a resumed search's sampler goes on from its stored random state."""
        import optuna

        # Optuna's messages go through Hydra's logging (no colour codes in the log files); its
        # line per finished trial is replaced by the search's own.
        optuna.logging.disable_default_handler()
        optuna.logging.enable_propagation()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = self.storage or search.journal_storage(sweep_dir)
        sampler = (search.load_sampler(sweep_dir) if resumed else None) or self.sampler
        return optuna.create_study(study_name=self.study_name, storage=storage, sampler=sampler,
                                   direction=search.best_direction(self.metric), load_if_exists=True)


def search_space(overrides: list[Override]) -> tuple[dict[str, Any], list[str]]:
    """The sweep overrides as Optuna distributions by key, and the other overrides as they
    apply to every trial; a later override of a key replaces an earlier one (the command line
    replaces hydra.sweeper.params). A space no trial could sample is refused in one line."""
    last = {o.get_key_element(): o for o in overrides}
    space = {key: distribution(o) for key, o in last.items() if o.is_sweep_override()}
    fixed = [f"{key}={o.get_value_element_as_str()}" for key, o in last.items() if not o.is_sweep_override()]
    return space, fixed


def distribution(override: Override) -> Any:
    """choice -> categorical; range -> int or float steps; interval -> uniform; tag(log, interval) -> log-uniform."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    key, value = override.get_key_element(), override.value()
    if isinstance(value, ChoiceSweep) or isinstance(value, RangeSweep) and value.shuffle:
        return CategoricalDistribution([str(v) for v in override.sweep_iterator(transformer=Transformer.encode)])
    if isinstance(value, RangeSweep):
        values = [float(v) for v in override.sweep_iterator()]  # type: ignore[arg-type]  # numbers: Hydra's own steps, stop excluded
        if not values:
            refuse(f"invalid search space: {key}: the range is empty")
        if all(isinstance(v, int) for v in (value.start, value.stop, value.step)):
            return IntDistribution(int(values[0]), int(values[-1]), step=int(value.step))
        return FloatDistribution(values[0], values[-1], step=abs(float(value.step)))
    if not isinstance(value, IntervalSweep) or value.start is None or value.end is None:
        refuse(f"invalid search space: {override.input_line}: use choice, range or interval")
    low, high, log = value.start, value.end, "log" in value.tags
    if not low < high:
        refuse(f"invalid search space: {key}: the interval's low ({low}) must be below its high ({high})")
    if log and low <= 0:
        refuse(f"invalid search space: {key}: a log interval needs a positive low, got {low}")
    if isinstance(low, int) and isinstance(high, int):
        return IntDistribution(low, high, log=log)
    return FloatDistribution(float(low), float(high), log=log)


def corner_jobs(space: dict[str, Any], fixed: list[str]) -> list[list[str]]:
    """Jobs that between them use every choice and both ends of every range: each value of one
    key with the first value of the others."""
    values = {key: corner_values(dist) for key, dist in space.items()}
    first = {key: options[0] for key, options in values.items()}
    jobs = [[*fixed, *(f"{k}={v}" for k, v in first.items())]]
    for key, options in values.items():
        for option in options[1:]:
            jobs.append([*fixed, *(f"{k}={option if k == key else v}" for k, v in first.items())])
    return jobs


def corner_values(dist: Any) -> list[str]:
    from optuna.distributions import CategoricalDistribution

    if isinstance(dist, CategoricalDistribution):
        return [str(choice) for choice in dist.choices]
    return [repr(dist.low), repr(dist.high)]
