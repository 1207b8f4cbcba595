"""The original tool's YAML config file (sections model, training, data), read into app keys.

Values are returned as read, each with the field it came from; :mod:`.cli` turns them into
override text and the app's own config decides whether they are valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

SECTIONS = ("model", "training", "data")
# training.<key> -> the app key it sets.
TRAINING = {
    "learning_rate": "lr", "batch_size": "batch_size", "weight_decay": "weight_decay",
    "seed": "seed", "epochs": "epochs", "optimizer": "optimizer", "criterion": "criterion",
    "transform": "transform", "model": "model",
}
# training.param_grid.<key>: the values the old tool could sweep (app keys as in TRAINING).
GRID = ("learning_rate", "batch_size", "optimizer", "weight_decay", "seed")
SWEEPABLE = tuple(TRAINING[key] for key in GRID)  # the same as app keys: the flags that take several values
# data.<key> -> the app key; the old held-out subset is the app's validation split.
DATA = {"root": "data.root", "subset_train": "data.train_size", "subset_test": "data.val_size"}
# model.<key>: the only values the app's models take (1-channel 28x28 images, 10 classes).
MODEL = {"input_size": 1, "num_classes": 10}


class ConfigFileError(ValueError):
    """The file cannot be read as the old format; reported as a usage error (exit 2)."""


class Given(NamedTuple):
    """A value for an app key, and where it came from (a flag or a file field), for messages."""

    value: Any  # as given; a list of values for a sweep
    where: str


@dataclass
class FileSettings:
    """What an old config file sets: single values, sweep lists, and warnings to show."""

    values: dict[str, Given] = field(default_factory=dict)
    grids: dict[str, Given] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _load(path: str) -> dict:
    """The file's top-level mapping; any reading problem is a ConfigFileError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigFileError(f"--config: cannot read {path!r}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ConfigFileError(f"--config: {path!r} is not UTF-8 text (byte {e.start}: "
                              f"{e.reason}); save it as UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        # One line: the problem and its place, not PyYAML's quoted excerpt.
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or e
        raise ConfigFileError(f"--config: {path!r} is not valid YAML{at}: {problem}") from None
    if not isinstance(data, dict):
        got = "an empty file" if data is None else type(data).__name__
        raise ConfigFileError(f"--config: {path!r} must hold a mapping of sections "
                              f"({', '.join(SECTIONS)}), got {got}")
    return data


def _section(data: dict, name: str, where: str) -> dict:
    section = data.get(name)
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ConfigFileError(f"{where}: section {name!r} must be a mapping, "
                              f"got {type(section).__name__}")
    return section


def read_config(path: str, grid: bool) -> FileSettings:
    """The settings of an old config file.  ``log_dir_grid`` and ``param_grid`` count only
    with ``grid`` (--grid_search), ``log_dir`` only without, as in the old tool."""
    data = _load(path)
    where = f"--config {path}"
    out = FileSettings()
    warn = out.warnings.append

    for name in data:
        if name not in SECTIONS:
            warn(f"{where}: unknown section {name!r} ignored (known: {', '.join(SECTIONS)})")

    for key, value in _section(data, "model", where).items():
        if key not in MODEL:
            warn(f"{where}: model.{key} is not a known key; ignored")
        elif value != MODEL[key]:
            warn(f"{where}: model.{key}={value!r} ignored: the app's models take 1-channel "
                 "MNIST images and predict 10 classes")

    training = _section(data, "training", where)
    run_dir = ("log_dir_grid", "hydra.sweep.dir") if grid else ("log_dir", "hydra.run.dir")
    for key, value in training.items():
        field_ = f"{where}: training.{key}"
        if key in TRAINING:
            out.values[TRAINING[key]] = Given(value, field_)
        elif key == run_dir[0]:
            out.values[run_dir[1]] = Given(value, field_)
        elif key == "checkpoint_dir":
            warn(f"{field_}={value!r} ignored: checkpoints are saved in each run's folder "
                 "(--logdir)")
        elif key == "param_grid":
            if grid:
                out.grids.update(_param_grid(value, field_, out.warnings))
        elif key not in ("log_dir", "log_dir_grid"):
            warn(f"{field_} is not a known key; ignored")

    for key, value in _section(data, "data", where).items():
        if key in DATA:
            out.values[DATA[key]] = Given(value, f"{where}: data.{key}")
        else:
            warn(f"{where}: data.{key} is not a known key; ignored "
                 f"(known: {', '.join(DATA)})")
    return out


def _param_grid(grid: Any, where: str, warnings: list[str]) -> dict[str, Given]:
    """training.param_grid: app key -> the list of values to sweep."""
    if grid is None:
        return {}
    if not isinstance(grid, dict):
        raise ConfigFileError(f"{where}: must be a mapping, got {type(grid).__name__}")
    out = {}
    for key, values in grid.items():
        field_ = f"{where}.{key}"
        if key not in GRID:
            warnings.append(f"{field_} is not a known key; ignored (known: {', '.join(GRID)})")
            continue
        values = values if isinstance(values, list) else [values]
        if not values:
            raise ConfigFileError(f"{field_}: must list at least one value")
        out[TRAINING[key]] = Given(values, field_)
    return out
