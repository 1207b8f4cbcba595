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


@functools.lru_cache(maxsize=4096)  # a sweep's summary and progress lines split the same overrides again
def split_override(override: str) -> tuple[str, str]:
    """`+data.train_size=500` -> `("data.train_size", "500")`, `~seed` -> `("seed", "")`: the one
    way to split a command-line override. The key is the one Hydra's override parser reads, without
    its `+`, `++` or `~` (`group@package` as typed); the value is the text after its `=`, as typed
    (quotes kept): Hydra's own value is normalised (`1e-3` -> `0.001`), and runs, sweeps and
    summaries show and compare values as typed. Text the parser refuses (a hand-edited
    metrics.json) splits at its first `=`."""
    text = override.strip()
    try:
        element = OverridesParser.create().parse_override(text).get_key_element()  # `+key@package`
    except HydraException:
        element = None
    if element is None or not text.startswith(element):
        element = text.partition("=")[0].strip()
    return element.lstrip("+~"), text[len(element):].strip().removeprefix("=").strip()


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
