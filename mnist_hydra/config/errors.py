"""The wording of config mistakes: ConfigError, `explain` (one line with the fix for Hydra's,
OmegaConf's or a ConfigError), the unknown-key hint (`did you mean epochs=3?`) and how a value
is shown (`shown`)."""
import difflib
import re
from dataclasses import fields, is_dataclass
from enum import Enum
from typing import Any, Optional, Sequence, Union, get_args, get_origin

from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

from mnist_hydra.config.identity import split_override
from mnist_hydra.config.schemas import SCHEMA_PREFIX

_OVERRIDE = re.compile(r"use \+(\S+)")  # Hydra's advice names the override: `use +epoch=3`


class ConfigError(ValueError):
    """A config value that type-checks but cannot work (e.g. a negative learning rate)."""


def shown(value: Any) -> str:
    """A value as YAML writes it (`null`, `true`, `0.001`), as a user types it back."""
    return OmegaConf.to_yaml({"v": value})[3:].strip()


def _close(word: str, options: Sequence[str]) -> list[str]:
    """The options closest to a mistyped word; case, `-` and spaces do not count."""
    normal = {option.lower().replace("-", "_"): option for option in options}
    matches = difflib.get_close_matches(word.lower().replace("-", "_").replace(" ", "_"), list(normal), n=3, cutoff=0.6)
    return [normal[match] for match in matches]


def _field_type(object_type: Any, name: str) -> tuple[Any, bool]:
    """The declared type of a schema field and whether it may be null (Optional[X] -> X, True);
    None when not a schema field."""
    found = [f.type for f in fields(object_type) if f.name == name] if is_dataclass(object_type) else []
    if not found:
        return None, False
    if get_origin(found[0]) is Union:
        return next(arg for arg in get_args(found[0]) if arg is not type(None)), True
    return found[0], False


def _schema_default(object_type: Any, name: str) -> Any:
    default = next((f.default for f in fields(object_type) if f.name == name), None)
    return default.value if isinstance(default, Enum) else default


def _what_to_type(key: str, kind: Any, optional: bool, example: Any) -> str:
    """`lr must be a number, like lr=0.001`: the rule of a type, with an example value."""
    null = " or null" if optional else ""
    if isinstance(kind, type) and issubclass(kind, Enum):
        return f"{key} must be one of {', '.join(member.value for member in kind)}{null}"
    if kind is bool:
        return f"{key} must be true or false{null}"
    is_number = isinstance(example, (int, float)) and not isinstance(example, bool)
    if kind is float:
        return f"{key} must be a number{null}, like {key}={example if is_number else 0.5}"
    if kind is int:
        return f"{key} must be a whole number{null}, like {key}={example if is_number else 1000}"
    return ""


def unknown_key(key: str, schema: Any, value: Any) -> str:
    """`epoch=3: no such key; did you mean epochs=3?`: the closest keys of the same node."""
    if key.startswith("hydra."):  # Hydra's own config is open: `+` adds a key there
        return f"{key}: no such key in Hydra's config; +{key}={value} adds it"
    parent, _, name = key.rpartition(".")
    names = [f.name for f in fields(schema) if not f.name.startswith("_")] if is_dataclass(schema) else []
    guess = [f"{parent}.{match}" if parent else match for match in _close(name, names)]
    hint = f"did you mean {guess[0]}={value}? " if guess else ""
    return f"{key}={value}: no such key; {hint}--help lists every key"


def explain(err: BaseException) -> Optional[str]:
    """One line for a config mistake (Hydra's or OmegaConf's error while composing, or this
    package's ConfigError): what is wrong and the fix. None for anything else, which is a
    bug and keeps its traceback."""
    cause = err.__cause__
    if isinstance(err, ConfigError):
        return str(err)
    if isinstance(err, MissingConfigException) and err.options is not None:
        group, _, option = str(err.missing_cfg_file).rpartition("/")
        options = [o for o in err.options if not o.startswith(SCHEMA_PREFIX)]
        guess = _close(option, options)
        hint = f"did you mean {group}={guess[0]}? " if guess else ""
        return f"{group}={option}: no such option; {hint}options: {', '.join(options)}"
    if isinstance(err, ConfigCompositionException) and isinstance(cause, (ConfigKeyError, ConfigAttributeError)):
        advice = _OVERRIDE.search(str(err))
        return unknown_key(str(cause.full_key), cause.object_type, split_override(advice.group(1))[1] if advice else "")
    if isinstance(err, ConfigCompositionException) and isinstance(cause, ValidationError):
        key, name = str(cause.full_key), str(cause.key)
        rule = _what_to_type(key, *_field_type(cause.object_type, name),
                             _schema_default(cause.object_type, name) if is_dataclass(cause.object_type) else None)
        override = str(err).rpartition("override ")[2]
        return f"{rule}, not {override}" if rule else f"{override}: {str(cause).splitlines()[0]}"
    if isinstance(err, ConfigCompositionException) and str(err).startswith("Ambiguous value"):
        override = str(err).splitlines()[0].partition("argument ")[2].strip("'")
        return (f"{override} is a sweep (several values): add --multirun to run each, "
                "or quote it to pass the text")
    if isinstance(err, OverrideParseException):
        return (f"{str(err).splitlines()[0]}: not valid override syntax; quote values with "
                "special characters ('key=\"a b\"'), see --help")
    if isinstance(err, ConfigCompositionException):
        return " ".join(str(err).split())
    return None
