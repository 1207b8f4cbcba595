"""Where the configs are (CONFIG_DIR, a group's options) and composing one in-process;
the guard for registering OmegaConf resolvers."""
from pathlib import Path
from typing import Any, Callable, Sequence

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from mnist_hydra.config.schemas import register_configs

_PACKAGE = Path(__file__).resolve().parent.parent  # mnist_hydra/ (this module is in mnist_hydra/config/)
# The project keeps its configs in the top-level conf/; a wheel ships that folder inside
# the package as mnist_hydra/conf (pyproject.toml maps it), so look there first. Built from
# __file__, not relative to the caller, so console scripts work from any folder.
CONFIG_DIR = str(next(p for p in (_PACKAGE / "conf", _PACKAGE.parent / "conf") if p.is_dir()))


def group_options(group: str) -> list[str]:
    """The options of a config group: its YAML files in conf/<group>/ (not the base_* schemas)."""
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml"))


def compose_config(overrides: Sequence[str] = (), return_hydra_config: bool = False) -> DictConfig:
    """The config a run with these overrides gets, composed in-process (no run, no folders);
    inside the running app (a callback, a sweeper) with the app's own config loader."""
    register_configs()
    if GlobalHydra.instance().is_initialized():
        return compose("config", overrides=list(overrides), return_hydra_config=return_hydra_config)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=return_hydra_config)


def ensure_resolver(name: str, resolver: Callable[..., Any], use_cache: bool = False) -> None:
    """Register an OmegaConf resolver unless one of that name is: importing its module again
    (importlib.reload, a second copy of the package) must not fail on it."""
    if not OmegaConf.has_resolver(name):
        OmegaConf.register_new_resolver(name, resolver, use_cache=use_cache)
