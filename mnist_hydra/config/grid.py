"""A sweep's grid: every job composed and validated before the first one trains
(`validate_grid`), with the config files read and merged once per set of structural
overrides (`GridConfigLoader`, a subclass of Hydra's ConfigLoaderImpl)."""
import copy
import itertools
import os
from typing import Any, Sequence

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra.core.config_loader import ConfigLoader
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig, OmegaConf, open_dict

from mnist_hydra.config.errors import ConfigError, explain
from mnist_hydra.config.validation import check_choices, validate


def validate_grid(master: DictConfig, jobs: Sequence[Sequence[str]], loader: "GridConfigLoader") -> list[DictConfig]:
    """Compose (as the launcher will, through `loader`) and validate every job of the sweep
    whose config is `master`, so that a bad value anywhere refuses the sweep before its first
    job trains; returns the configs. Raises ConfigError naming the first bad job."""
    configs = []
    hydra_config = HydraConfig.instance()
    sweep_cfg = hydra_config.cfg
    for number, job in enumerate(jobs):
        try:
            cfg = loader.load_sweep_config(master, list(job))
            check_choices(cfg.hydra.runtime.choices)
            hydra_config.set_config(cfg)  # so that ${hydra:...} resolves as in the job (+launcher=local's threads)
            validate(cfg)
        except Exception as err:
            line = explain(err)
            if line is None:
                raise
            raise ConfigError(f"job {number} of the sweep ({' '.join(job)}): {line}") from err
        finally:
            hydra_config.cfg = sweep_cfg
        configs.append(cfg)
    return configs


SHIPPED_COMPOSITIONS = 8


class GridConfigLoader(ConfigLoaderImpl):
    """Hydra's config loader for the jobs of a grid: every job gets the config Hydra composes
    for it, but the config files are read and merged once per set of structural overrides.

    Composing takes 0.2-0.4 s (Hydra parses and merges every config file), and a grid's jobs
    mostly differ in plain `key=value` overrides of keys that are not config groups, which
    Hydra applies after composing. Jobs alike in their other overrides share one composition:
    a copy gets their values through Hydra's own override step and the `hydra` fields Hydra
    derives from a job's overrides. The compositions are kept on the loader, which a launcher
    pickles with each job, so the grid check's compositions serve joblib workers and cluster
    jobs too. Anything else (a group, `+key`, `~key`, a value that does not fit) is composed
    in full, as Hydra does.
    """

    def __init__(self, loader: ConfigLoader) -> None:
        super().__init__(config_search_path=loader.get_search_path())
        self.compositions: dict[tuple[str, ...], DictConfig] = {}  # by the jobs' other overrides

    def __getstate__(self) -> dict[str, Any]:
        # A launcher pickles the loader with every job: the first SHIPPED_COMPOSITIONS go with it
        # (~17 kB each), so what a job receives does not grow with a sweep's group combinations;
        # a job whose composition stays behind is composed in full in its process, as Hydra does.
        return {**self.__dict__, "compositions": dict(itertools.islice(self.compositions.items(),
                                                                       SHIPPED_COMPOSITIONS))}

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        cfg = self._from_composition(master_config, sweep_overrides)
        return cfg if cfg is not None else super().load_sweep_config(master_config, sweep_overrides)

    def _from_composition(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig | None:
        """The job's config as a copy of a shared composition, or None where Hydra must compose it in full."""
        overrides = OverridesParser.create().parse_overrides(sweep_overrides)
        groups = set(master_config.hydra.runtime.choices)
        plain: list[Override] = []
        other: list[Override] = []
        for override in overrides:
            (plain if _plain(override, groups) else other).append(override)
        plain_keys = {o.key_or_group for o in plain}
        # A key set by both kinds: Hydra applies them in command-line order, this in two steps.
        if not plain or plain_keys & {o.key_or_group for o in other}:
            return None
        others = tuple(o.input_line or "" for o in other)
        if others not in self.compositions:
            self.compositions[others] = super().load_sweep_config(master_config, list(others))
        cfg = copy.deepcopy(self.compositions[others])
        if plain_keys & set(cfg.hydra.runtime.choices):  # a group the other overrides brought in
            return None
        try:
            self._apply_overrides_to_config(plain, cfg)
        except ConfigCompositionException:  # a value that does not fit: Hydra's own message
            return None
        # What ConfigLoaderImpl._load_configuration_impl derives from the job's own overrides.
        task = [o for o in overrides if not o.is_hydra_override()]
        cfg.hydra.overrides.task = [o.input_line for o in task]
        cfg.hydra.overrides.hydra = [*master_config.hydra.overrides.hydra,
                                     *(o.input_line for o in overrides if o.is_hydra_override())]
        dirname = cfg.hydra.job.config.override_dirname
        cfg.hydra.job.override_dirname = get_overrides_dirname(
            overrides=task, kv_sep=dirname.kv_sep, item_sep=dirname.item_sep, exclude_keys=dirname.exclude_keys)
        cfg.hydra.runtime.cwd = os.getcwd()
        with open_dict(cfg.hydra):
            for name in cfg.hydra.job.env_copy:
                cfg.hydra.job.env_set[name] = os.environ[name]
        OmegaConf.copy_cache(from_config=master_config, to_config=cfg)
        return cfg


def _plain(override: Override, groups: set[str]) -> bool:
    """A `key=value` override of a config value, `hydra.sweep.subdir=3` included (not a group,
    package, sweep, add or delete): Hydra applies it to the composed config, so it need not
    compose again."""
    key = override.key_or_group
    return not (key in groups or "/" in key or override.package is not None or override.is_sweep_override()
                or override.is_delete() or override.is_add() or override.is_force_add())
