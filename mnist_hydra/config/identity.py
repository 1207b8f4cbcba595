"""A run's identity: its overrides (split by Hydra's own parser), which of them change what
it trains, the hash of its resolved config (resume), the epoch it trains to."""
import functools
import hashlib
from typing import Any, Iterable, cast

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

# Keys that decide how a run is carried out, not what it trains: never part of a run's identity
# (config_hash), its TensorBoard name, its HParams or a sweep's swept columns.
RUN_CONTROL_KEYS = ("resume", "stop_at_epoch")


@functools.cache
def _parser() -> OverridesParser:
    return OverridesParser.create()


@functools.lru_cache(maxsize=1024)  # a sweep has a handful of keys; its values are many
def _key_element(head: str) -> str:
    """What Hydra's override parser reads in the text before an override's first `=`: the
    key element (`~`, `+` or `++`, then `key` or `group@package`); the text itself, stripped,
    when the parser refuses it (a hand-edited metrics.json)."""
    try:
        element = _parser().parse_override(f"{head.strip()}=").get_key_element()
    except HydraException:
        return head.strip()
    return element if element == head.strip() else head.strip()


def split_override(override: str) -> tuple[str, str]:
    """`+data.train_size=500` -> `("data.train_size", "500")`, `~seed` -> `("seed", "")`: the one
    way to split a command-line override into its key, without `+`, `++` or `~` (`group@package`
    as typed), and its value, as typed (quotes kept).

    Hydra's grammar never puts `=` in a key, so the key ends at the first `=`, and Hydra's parser
    reads it; the value is the text after it, not Hydra's parsed value, which is normalised
    (`1e-3` -> `0.001`) and costs a parse per value: runs, sweeps and summaries show and compare
    values as typed."""
    head, _, value = override.strip().partition("=")
    return _key_element(head).lstrip("+~"), value.strip()


def override_key(override: str) -> str:
    """`+data.train_size=500` -> `data.train_size`."""
    return split_override(override)[0]


def training_overrides(overrides: Iterable[str]) -> list[str]:
    """The overrides that change what a run trains (all but RUN_CONTROL_KEYS)."""
    return [o for o in overrides if override_key(o) not in RUN_CONTROL_KEYS]


def resolved_config(cfg: DictConfig) -> dict[str, Any]:
    """The app's config as plain data, interpolations resolved, without Hydra's own node."""
    app_only = OmegaConf.masked_copy(cfg, [str(key) for key in cfg if key != "hydra"])
    return cast(dict[str, Any], OmegaConf.to_container(app_only, resolve=True, enum_to_str=True))  # a dict, as above


def config_hash(cfg: DictConfig) -> str:
    """Identity of a run's resolved config, for resume; RUN_CONTROL_KEYS are not part of it."""
    resolved = {key: value for key, value in resolved_config(cfg).items() if key not in RUN_CONTROL_KEYS}
    return hashlib.sha256(OmegaConf.to_yaml(OmegaConf.create(resolved)).encode()).hexdigest()[:16]


def target_epochs(cfg: DictConfig) -> int:
    """The epoch a run trains to: `epochs`, or `stop_at_epoch` when that comes first."""
    return cfg.epochs if cfg.stop_at_epoch is None else min(cfg.stop_at_epoch, cfg.epochs)
