"""`--help`'s key and group listing (`help_text`, the `${mnist_hydra.help:}` resolver of
conf/hydra/help/), built from the schemas and conf/, so it is never out of date."""
import functools
from dataclasses import fields
from pathlib import Path
from typing import Any, cast

from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from mnist_hydra.config.compose import CONFIG_DIR, ensure_resolver, group_options
from mnist_hydra.config.errors import shown
from mnist_hydra.config.schemas import GROUP_SCHEMAS, DataConfig, RunConfig, register_configs


def option_values(group: str, option: str) -> dict[str, Any]:
    """A group option's values: its file in conf/ over the schema it extends. Read, not
    composed: Hydra resolves the help (help_text) while it composes every config."""
    values = cast(DictConfig, OmegaConf.load(Path(CONFIG_DIR) / group / f"{option}.yaml"))
    schema = ConfigStore.instance().load(f"{group}/{values.pop('defaults')[0]}.yaml").node
    return cast(dict[str, Any], OmegaConf.to_container(OmegaConf.merge(schema, values), resolve=False,
                                                       enum_to_str=True))


def _help_row(key: str, help: str, default: str) -> str:
    return f"  {key:<22} {help} [{default}]"


def group_keys_help(group: str) -> list[str]:
    """`--help` rows for a group's keys: the value most of its options set, then the options
    that set another (`[3; high_vision: 5]`), and the options without the key."""
    helps = {f.name: f.metadata["help"] for schema in GROUP_SCHEMAS[group] for f in fields(schema)
             if "help" in f.metadata}
    nodes = {option: option_values(group, option) for option in group_options(group)} if helps else {}
    rows = []
    for name, help in helps.items():
        values = {option: shown(node[name]) for option, node in nodes.items() if name in node}
        common = max(values.values(), key=list(values.values()).count)
        others = "".join(f"; {option}: {value}" for option, value in values.items() if value != common)
        absent = [option for option in nodes if option not in values]
        rows.append(_help_row(f"{group}.{name}", help + (f" (not {', '.join(absent)})" if absent else ""),
                              common + others))
    return rows


@functools.cache  # Hydra resolves it whenever it composes a config (every job of a sweep)
def help_text() -> str:
    """`--help`'s key and group listing, built from the schemas and conf/ (never out of date):
    every key a user can set, with its real default (the default run's data option for data.*)."""
    register_configs()  # the schemas the option files extend
    data_option = next(d["data"] for d in OmegaConf.load(Path(CONFIG_DIR) / "config.yaml").defaults
                       if isinstance(d, DictConfig) and "data" in d)
    run_defaults = {f.name: f.default for f in fields(RunConfig)}
    keys = [_help_row(prefix + f.name, f.metadata["help"], shown(values[f.name]))
            for prefix, schema, values in [("", RunConfig, run_defaults),
                                           ("data.", DataConfig, option_values("data", data_option))]
            for f in fields(schema) if "help" in f.metadata]
    keys += [row for group in GROUP_SCHEMAS for row in group_keys_help(group)]
    loader = GlobalHydra.instance().config_loader()
    groups = [f"  {group}: {', '.join(group_options(group))}" for group in
              ("model", "optimizer", "criterion", "transform", "data", "debug")]
    groups += [f"  +{group}: {', '.join(group_options(group))}"
               for group in ("experiment", "hparams_search", "launcher")]
    groups += [f"  hydra/{group}: {', '.join(loader.get_group_options(f'hydra/{group}'))}"
               for group in ("launcher", "sweeper")]
    # Hydra fills the help template with string.Template: a literal $ must be $$.
    return "\n".join(["Keys (key=value) [default]:", *keys, "",
                      "Config groups (group=option; +group=option adds one):", *groups]).replace("$", "$$")


ensure_resolver("mnist_hydra.help", help_text)
