"""The app's config: schemas, checks, composition, error wording and `--help`; no torch import.

One module per idea (everything below is importable from `mnist_hydra.config` too):

    schemas     the dataclasses the YAML files in conf/ fill (each key's help with it),
                GROUP_SCHEMAS, register_configs (Hydra's ConfigStore)
    validation  value checks after composing: validate, check_keys, check_choices,
                split_sizes against TRAIN_IMAGES, PRECISIONS
    grid        a sweep's grid: validate_grid, GridConfigLoader (shared compositions)
    errors      the wording of mistakes: ConfigError, explain, unknown_key, shown
    help        `--help`'s key and group listing (help_text, the mnist_hydra.help resolver)
    identity    a run's identity: split_override (Hydra's parser), override_key,
                training_overrides, RUN_CONTROL_KEYS, config_hash, target_epochs
    compose     where the configs are (CONFIG_DIR, group_options), compose_config,
                ensure_resolver
"""
from mnist_hydra.config.compose import CONFIG_DIR, compose_config, ensure_resolver, group_options
from mnist_hydra.config.errors import ConfigError, explain, shown, unknown_key
from mnist_hydra.config.grid import GridConfigLoader, validate_grid
from mnist_hydra.config.help import group_keys_help, help_text, option_values
from mnist_hydra.config.identity import (
    RUN_CONTROL_KEYS, config_hash, override_key, resolved_config, split_override, target_epochs, training_overrides,
)
from mnist_hydra.config.schemas import (
    GROUP_SCHEMAS, SCHEMA_PREFIX, Activation, AdamConfig, AugmentedTransformConfig, CriterionConfig, DataConfig,
    DatasetName, Device, ExperimentalCNNConfig, RunConfig, SGDConfig, SimpleCNNConfig, StandardTransformConfig,
    key, register_configs,
)
from mnist_hydra.config.validation import PRECISIONS, TRAIN_IMAGES, check_choices, check_keys, split_sizes, validate

__all__ = [
    "CONFIG_DIR", "compose_config", "ensure_resolver", "group_options",
    "ConfigError", "explain", "shown", "unknown_key",
    "GridConfigLoader", "validate_grid",
    "group_keys_help", "help_text", "option_values",
    "RUN_CONTROL_KEYS", "config_hash", "override_key", "resolved_config", "split_override", "target_epochs",
    "training_overrides",
    "GROUP_SCHEMAS", "SCHEMA_PREFIX", "Activation", "AdamConfig", "AugmentedTransformConfig", "CriterionConfig",
    "DataConfig", "DatasetName", "Device", "ExperimentalCNNConfig", "RunConfig", "SGDConfig", "SimpleCNNConfig",
    "StandardTransformConfig", "key", "register_configs",
    "PRECISIONS", "TRAIN_IMAGES", "check_choices", "check_keys", "split_sizes", "validate",
]
