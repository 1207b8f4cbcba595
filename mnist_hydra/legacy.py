"""The old argparse command line of the MNIST benchmarking tool, on top of the Hydra app.

``python -m mnist_hydra.legacy --grid_search --lr 0.001 0.01 --batch_size 16 32`` turns the old
flags into Hydra overrides, prints the equivalent ``python -m mnist_hydra.run ...`` command
(on stderr, or on stdout with ``--dry-run``, which then stops) and runs it.

:func:`build_command` does all the parsing and mapping and runs nothing; :func:`main` prints
and executes.  Without ``--config`` no file is read (the old tool read ``config.yaml``):
flags that are not given leave the Hydra app's own defaults in place.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

PROG = "mnist-legacy"
APP_MODULE = "mnist_hydra.run"

OPTIMIZERS = ("sgd", "adam")
CRITERIA = ("cross_entropy", "manual")
TRANSFORMS = ("standard", "augmented")
# The old tool's architecture names -> the app's `model` config group options.
MODELS = {
    "SimpleCNN": "simple_cnn",
    "Baseline": "baseline",
    "Stabilized": "stabilized",
    "High-Vision": "high_vision",
    "Modernist": "modernist",
}
_MODEL_KEYS = {re.sub(r"[-_\s]", "", name).lower(): option for name, option in MODELS.items()}
_MODEL_CHOICES = ", ".join(MODELS) + " (or " + ", ".join(MODELS.values()) + ")"

# Order of the generated overrides: groups first, then the swept/scalar keys, then the data keys
# and the output folder.  Pass-through overrides (after `--`) come last, so they win.
_ORDER = (
    "model", "optimizer", "criterion", "transform",
    "lr", "batch_size", "weight_decay", "seed", "epochs",
    "data.root", "data.train_size", "data.val_size",
    "hydra.run.dir", "hydra.sweep.dir",
)
# The flags that take one or more values, and the app key each one sets.
_MULTI = {"lr": "lr", "batch_size": "batch_size", "optimizer": "optimizer",
          "weight_decay": "weight_decay", "seed": "seed"}


class LegacyError(ValueError):
    """Bad input; reported through ``parser.error`` (exit status 2)."""


@dataclass
class LegacyCommand:
    """What the old command line means for the Hydra app."""

    overrides: list[str]
    multirun: bool = False
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def args(self) -> list[str]:
        """The arguments after ``python -m mnist_hydra.run``."""
        return (["--multirun"] if self.multirun else []) + list(self.overrides)

    def shell(self, python: str = "python") -> str:
        """The command, shell-quoted."""
        return shlex.join([python, "-m", APP_MODULE, *self.args])


# ----------------------------------------------------------------------------- value checks
_FLOAT_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_NULLS = ("none", "null", "~")


def _float_text(what: str, raw: Any, *, allow_negative: bool = False) -> str:
    """A finite number as override text, keeping the user's spelling where Hydra reads it
    as a float (``0.001`` stays ``0.001``, ``1e-5`` stays ``1e-5``, ``1`` becomes ``1.0``)."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise LegacyError(f"{what}: expected a number, got {raw!r}")
    if isinstance(raw, str):
        text = raw.strip()
        try:
            value = float(text)
        except ValueError:
            raise LegacyError(f"{what}: invalid number {raw!r}") from None
    else:
        value = float(raw)
        text = repr(value)
    if not math.isfinite(value):
        raise LegacyError(f"{what}: must be a finite number, got {raw!r}")
    if value < 0 and not allow_negative:
        raise LegacyError(f"{what}: must not be negative, got {raw!r}")
    if _FLOAT_TEXT.fullmatch(text):
        text = text.lstrip("+").replace("E", "e")
        if not re.search(r"[.e]", text):
            text += ".0"
        return text
    return repr(value)


def _int_text(what: str, raw: Any, *, minimum: int = 1) -> str:
    """An integer >= minimum as override text."""
    if isinstance(raw, bool):
        raise LegacyError(f"{what}: expected an integer, got {raw!r}")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str):
        try:
            value = int(raw.strip(), 10)
        except ValueError:
            raise LegacyError(f"{what}: expected an integer, got {raw!r}") from None
    else:
        raise LegacyError(f"{what}: expected an integer, got {raw!r}")
    if value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise LegacyError(f"{what}: must be {kind}, got {raw!r}")
    return str(value)


def _is_null(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip().lower() in _NULLS)


def _seed_text(what: str, raw: Any) -> str:
    if _is_null(raw):
        return "null"
    return _int_text(what, raw, minimum=0)


def _choice(what: str, raw: Any, choices: tuple[str, ...]) -> str:
    if isinstance(raw, str):
        key = raw.strip().lower().replace("-", "_")
        if key in choices:
            return key
        if key.replace("_", "") == "crossentropy" and "cross_entropy" in choices:
            return "cross_entropy"
    raise LegacyError(f"{what}: invalid choice {raw!r} (choose from {', '.join(choices)})")


def _model(what: str, raw: Any) -> str:
    if isinstance(raw, str):
        option = _MODEL_KEYS.get(re.sub(r"[-_\s]", "", raw).lower())
        if option:
            return option
    raise LegacyError(f"{what}: invalid choice {raw!r} (choose from {_MODEL_CHOICES})")


def _lr(what: str, raw: Any) -> str:
    return _float_text(what, raw)


def _weight_decay(what: str, raw: Any) -> str:
    return _float_text(what, raw)


def _positive_int(what: str, raw: Any) -> str:
    return _int_text(what, raw)


def _size(what: str, raw: Any) -> str:
    return "null" if raw is None else _int_text(what, raw)


def _optimizer(what: str, raw: Any) -> str:
    return _choice(what, raw, OPTIMIZERS)


_MULTI_CHECK: dict[str, Callable[[str, Any], str]] = {
    "lr": _lr, "batch_size": _positive_int, "optimizer": _optimizer,
    "weight_decay": _weight_decay, "seed": _seed_text,
}

# Characters Hydra's override grammar reads literally in an unquoted value.
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_./+\-:@%~]+")


def _path_value(raw: str) -> str:
    """A path as a Hydra override value, single-quoted when Hydra would not read it back as
    the same string (special characters, or text that looks like a number, bool or null).
    ``${...}`` interpolations are left to Hydra, e.g. ``--logdir 'runs/${now:%H-%M-%S}'``."""
    plain = _PLAIN_VALUE.fullmatch(raw) and raw.lower() not in ("null", "true", "false")
    if plain:
        try:
            float(raw)
        except ValueError:
            return raw
    # Inside Hydra's quotes: escape the quote and the backslashes right before it or at the end.
    out = re.sub(r"(\\*)(')", lambda m: m.group(1) * 2 + "\\'", raw)
    out = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, out)
    return f"'{out}'"


# ----------------------------------------------------------------------------- the parser
def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "The old MNIST tool's command line, run as the Hydra app "
            f"(python -m {APP_MODULE}). Flags not given (and not set by --config) keep the "
            "app's defaults from conf/config.yaml, shown below as 'app default'."
        ),
        epilog=(
            "Anything after `--` is passed to the app as Hydra overrides, last, so it wins, "
            "e.g. `-- data=mnist_sample data.train_size=200`. "
            "Use --dry-run to see the equivalent Hydra command."
        ),
    )
    p.add_argument("--config", metavar="FILE",
                   help="the old tool's YAML config file (sections model, training, data); its "
                        "values become overrides and flags win over them (default: none - unlike "
                        "the old tool, ./config.yaml is not read unless given)")
    p.add_argument("--epochs", metavar="N", help="training epochs (app default: 3)")
    p.add_argument("--logdir", metavar="DIR",
                   help="output folder: hydra.run.dir, or hydra.sweep.dir with --grid_search "
                        "(app default: outputs/... or multirun/...)")
    p.add_argument("--grid_search", action="store_true",
                   help="run every combination of the given values as a Hydra multirun "
                        "(default: off - only the first value of each flag is used)")
    p.add_argument("--transform", metavar="NAME",
                   help=f"data transform: {', '.join(TRANSFORMS)} (app default: standard)")
    p.add_argument("--lr", nargs="+", metavar="LR", help="learning rate(s) (app default: 0.001)")
    p.add_argument("--batch_size", nargs="+", metavar="N", help="batch size(s) (app default: 16)")
    p.add_argument("--optimizer", nargs="+", metavar="NAME",
                   help=f"optimizer(s): {', '.join(OPTIMIZERS)} (app default: sgd)")
    p.add_argument("--weight_decay", nargs="+", metavar="WD",
                   help="weight decay value(s) (app default: 1e-5)")
    p.add_argument("--seed", nargs="+", metavar="SEED",
                   help="random seed(s); None for an unfixed seed (app default: 42)")
    p.add_argument("--model", metavar="NAME",
                   help=f"architecture: {_MODEL_CHOICES}; case-insensitive "
                        "(app default: SimpleCNN)")
    p.add_argument("--criterion", metavar="NAME",
                   help=f"loss: {', '.join(CRITERIA)} (app default: cross_entropy)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the equivalent Hydra command on stdout and exit without running")
    # Read `-1e-4` as a (bad) value, as argparse already does for `-0.01`, not as an option.
    p._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
    return p


# ----------------------------------------------------------------------------- config file
_TRAINING_KEYS = {
    "seed", "batch_size", "learning_rate", "epochs", "log_dir", "log_dir_grid",
    "checkpoint_dir", "weight_decay", "optimizer", "criterion", "param_grid",
    "model", "transform",
}


# training.<key> in the old config file -> (Hydra override key, converter that validates it)
_TRAINING_VALUES: dict[str, tuple[str, Callable[[str, Any], str]]] = {
    "learning_rate": ("lr", _lr),
    "batch_size": ("batch_size", _positive_int),
    "weight_decay": ("weight_decay", _weight_decay),
    "seed": ("seed", _seed_text),
    "epochs": ("epochs", _positive_int),
    "optimizer": ("optimizer", _optimizer),
    "criterion": ("criterion", lambda what, raw: _choice(what, raw, CRITERIA)),
    "transform": ("transform", lambda what, raw: _choice(what, raw, TRANSFORMS)),
    "model": ("model", _model),
}


def _read_config(path: str) -> dict:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise LegacyError(f"--config: cannot read {path!r}: {e.strerror or e}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise LegacyError(f"--config: {path!r} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        got = "an empty file" if data is None else type(data).__name__
        raise LegacyError(f"--config: {path!r} must hold a mapping of sections "
                          f"(model, training, data), got {got}")
    return data


def _section(cfg: dict, name: str, path: str) -> dict:
    sec = cfg.get(name)
    if sec is None:
        return {}
    if not isinstance(sec, dict):
        raise LegacyError(f"--config: {path!r}: section {name!r} must be a mapping, "
                          f"got {type(sec).__name__}")
    return sec


def _from_config(path: str, grid: bool, warnings: list[str]) -> tuple[dict, dict]:
    """(scalar overrides, param_grid lists) from the old tool's config file."""
    cfg = _read_config(path)
    out: dict[str, str] = {}
    grids: dict[str, list[str]] = {}
    where = f"config {path}"

    for key in cfg:
        if key not in ("model", "training", "data"):
            warnings.append(f"{where}: unknown section {key!r} ignored "
                            "(known: model, training, data)")

    model = _section(cfg, "model", path)
    for key, value in model.items():
        expected = {"input_size": 1, "num_classes": 10}.get(key)
        if expected is None:
            warnings.append(f"{where}: model.{key} is not a known key; ignored")
        elif value != expected:
            warnings.append(f"{where}: model.{key}={value!r} ignored: the app's models take "
                            "1-channel MNIST images and predict 10 classes")

    tr = _section(cfg, "training", path)
    for key in tr:
        if key not in _TRAINING_KEYS:
            warnings.append(f"{where}: training.{key} is not a known key; ignored")

    def field_(key: str) -> str:
        return f"{where}: training.{key}"

    for key, (target, convert) in _TRAINING_VALUES.items():
        if key in tr:
            out[target] = convert(field_(key), tr[key])
    for key, target in (("log_dir", "hydra.run.dir"), ("log_dir_grid", "hydra.sweep.dir")):
        if key in tr:
            value = tr[key]
            if not isinstance(value, str) or not value.strip():
                raise LegacyError(f"{field_(key)}: expected a folder name, got {value!r}")
            if (target == "hydra.sweep.dir") == grid:
                out[target] = _path_value(value)
    if "checkpoint_dir" in tr:
        warnings.append(f"{where}: training.checkpoint_dir={tr['checkpoint_dir']!r} ignored: "
                        "checkpoints are saved in each run's folder (--logdir)")

    if "param_grid" in tr:
        pg = tr["param_grid"]
        if pg is None:
            pg = {}
        if not isinstance(pg, dict):
            raise LegacyError(f"{field_('param_grid')}: must be a mapping, "
                              f"got {type(pg).__name__}")
        names = {"learning_rate": "lr", "batch_size": "batch_size",
                 "weight_decay": "weight_decay", "optimizer": "optimizer", "seed": "seed"}
        for key, values in pg.items():
            target = names.get(key)
            what = field_(f"param_grid.{key}")
            if target is None:
                warnings.append(f"{what} is not a known key; ignored "
                                f"(known: {', '.join(names)})")
                continue
            if not isinstance(values, list):
                values = [values]
            if not values:
                raise LegacyError(f"{what}: must list at least one value")
            grids[target] = [_MULTI_CHECK[target](what, v) for v in values]

    data = _section(cfg, "data", path)
    for key, value in data.items():
        what = f"{where}: data.{key}"
        if key == "root":
            if not isinstance(value, str) or not value.strip():
                raise LegacyError(f"{what}: expected a folder name, got {value!r}")
            out["data.root"] = _path_value(value)
        elif key == "subset_train":
            out["data.train_size"] = _size(what, value)
        elif key == "subset_test":
            # The old tool's held-out subset is the app's validation split.
            out["data.val_size"] = _size(what, value)
        else:
            warnings.append(f"{what} is not a known key; ignored "
                            "(known: root, subset_train, subset_test)")
    return out, grids


# ----------------------------------------------------------------------------- build
def build_command(argv: list[str]) -> LegacyCommand:
    """Parse the old command line into Hydra overrides.  Runs nothing.

    Bad input exits through ``parser.error`` (SystemExit 2, message on stderr).
    """
    argv = list(argv)
    passthrough: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1:]

    parser = make_parser()
    ns = parser.parse_args(argv)
    try:
        return _build(ns, passthrough)
    except LegacyError as e:
        parser.error(str(e))
        raise  # unreachable: parser.error exits


def _build(ns: argparse.Namespace, passthrough: list[str]) -> LegacyCommand:
    grid = ns.grid_search
    warnings: list[str] = []
    values: dict[str, str] = {}
    grids: dict[str, list[str]] = {}

    if ns.config is not None:
        values, grids = _from_config(ns.config, grid, warnings)
        if not grid:
            grids = {}
    elif Path("config.yaml").is_file():
        warnings.append("./config.yaml is not read without --config (the old tool's default); "
                        "pass --config config.yaml to use it")

    # Multi-value flags: all values with --grid_search, else the first one.
    for flag, key in _MULTI.items():
        given = getattr(ns, flag)
        if given is None:
            continue
        checked = [_MULTI_CHECK[flag](f"--{flag}", v) for v in given]
        if grid:
            grids[key] = checked
        else:
            grids.pop(key, None)
            values[key] = checked[0]
            if len(given) > 1:
                warnings.append(f"--{flag}: only the first value ({given[0]}) is used without "
                                f"--grid_search; dropped: {' '.join(given[1:])}")

    if ns.model is not None:
        values["model"] = _model("--model", ns.model)
    if ns.criterion is not None:
        values["criterion"] = _choice("--criterion", ns.criterion, CRITERIA)
    if ns.transform is not None:
        values["transform"] = _choice("--transform", ns.transform, TRANSFORMS)
    if ns.epochs is not None:
        values["epochs"] = _positive_int("--epochs", ns.epochs)
    if ns.logdir is not None:
        if not ns.logdir.strip():
            raise LegacyError("--logdir: expected a folder name, got ''")
        values["hydra.sweep.dir" if grid else "hydra.run.dir"] = _path_value(ns.logdir)

    for key, vals in grids.items():
        values[key] = ",".join(vals)

    overrides = [f"{key}={values[key]}" for key in _ORDER if key in values]
    return LegacyCommand(overrides=overrides + passthrough, multirun=grid,
                         warnings=warnings, dry_run=ns.dry_run)


# ----------------------------------------------------------------------------- run
def _child_env() -> dict[str, str]:
    """The environment for the app: from a source checkout, make `mnist_hydra` importable
    even when the command is started from another folder without installing."""
    env = dict(os.environ)
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file():
        parts = [str(root)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
    return env


def _run(args: list[str]) -> int:
    """Run the app and return its exit status.  Ctrl-C reaches the app directly (same
    process group), so this process ignores SIGINT while waiting and lets the app stop
    cleanly; an app killed by a signal gives 128 + the signal number."""
    proc = subprocess.Popen([sys.executable, "-m", APP_MODULE, *args], env=_child_env())
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        previous = None
    try:
        code = proc.wait()
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return 128 - code if code < 0 else code


def main(argv: list[str] | None = None) -> int:
    """The ``mnist-legacy`` console script: print the equivalent Hydra command, then run it."""
    command = build_command(sys.argv[1:] if argv is None else argv)
    for warning in command.warnings:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    if command.dry_run:
        print(command.shell(), flush=True)
        return 0
    print(f"{PROG}: running: {command.shell()}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    return _run(command.args)


if __name__ == "__main__":
    sys.exit(main())
