"""The old tool's flags, mapped onto Hydra overrides and run as ``python -m mnist_hydra.run``.

:func:`build_command` parses, maps and validates and runs nothing; :func:`main` prints the
equivalent Hydra command and runs it.  Choices, defaults and valid ranges all come from the
app's own config (``conf/`` and :func:`mnist_hydra.config.validate`), so the wrapper cannot
drift from the app: every generated value is checked by composing the config in-process.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mnist_hydra.config import ConfigError, compose_config, explain, group_options, validate
from mnist_hydra.legacy.config_file import SWEEPABLE, ConfigFileError, Given, read_config

PROG = "mnist-legacy"
APP_MODULE = "mnist_hydra.run"

# Each of these flags, and those in SWEEPABLE (which take several values), sets the app key of the same name.
GROUPS = ("model", "optimizer", "criterion", "transform")  # config groups: pick an option
PATHS = ("data.root", "hydra.run.dir", "hydra.sweep.dir")  # folder names, quoted for Hydra
# Order of the generated overrides: groups, the swept/scalar keys, the data keys, the output
# folder.  Pass-through overrides (after `--`) come last, so they win.
ORDER = (*GROUPS, "lr", "batch_size", "weight_decay", "seed", "epochs",
         "data.root", "data.train_size", "data.val_size", "hydra.run.dir", "hydra.sweep.dir")
# The old tool's `--seed None`, and YAML's spellings of null.
NULLS = ("none", "null", "~")


# What the old tool's --grid_search swept besides its param_grid, unless the values were given.
OLD_GRID_EXTRAS = {"optimizer": "both optimizers", "weight_decay": "two weight decays"}


class LegacyError(ValueError):
    """Bad input; reported in one line with exit status 2."""


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

    def shell(self) -> str:
        """The command, shell-quoted."""
        return shlex.join(["python", "-m", APP_MODULE, *self.args])


# ----------------------------------------------------------------------------- values
def _normal(name: str) -> str:
    """A name with case, '-', '_' and spaces ignored: High-Vision, HighVision -> highvision."""
    return re.sub(r"[-_\s]", "", name).lower()


def _option(group: str, raw: Any) -> str:
    """The option of a config group that ``raw`` names (the old names normalise to them)."""
    options = group_options(group)
    match = {_normal(o): o for o in options}.get(_normal(raw)) if isinstance(raw, str) else None
    if match is None:
        raise LegacyError(f"invalid choice {raw!r} (choose from {', '.join(options)})")
    return match


def _scalar(raw: Any) -> str:
    """A single value as override text; its type and range are the app config's business."""
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in NULLS):
        return "null"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, (int, float, str)):
        return str(raw).strip()
    raise LegacyError(f"expected a single value, got {raw!r}")


# Characters Hydra's override grammar reads literally in an unquoted value.
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_./+\-:@%~]+")


def _path(raw: Any) -> str:
    """A folder name as a Hydra override value, single-quoted when Hydra would not read it
    back as the same string (special characters, or text that looks like a number, bool or
    null).  ``${...}`` interpolations are left to Hydra, e.g. ``--logdir 'runs/${now:%H}'``."""
    if not isinstance(raw, str) or not raw.strip():
        raise LegacyError(f"expected a folder name, got {raw!r}")
    if _PLAIN_VALUE.fullmatch(raw) and raw.lower() not in ("null", "true", "false"):
        try:
            float(raw)
        except ValueError:
            return raw
    # Inside Hydra's quotes: escape the quote and the backslashes right before it or at the end.
    out = re.sub(r"(\\*)(')", lambda m: m.group(1) * 2 + "\\'", raw)
    out = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, out)
    return f"'{out}'"


def _text(key: str, raw: Any, where: str) -> str:
    """One value for an app key as override text; errors name where the value came from."""
    try:
        if key in GROUPS:
            return _option(key, raw)
        return _path(raw) if key in PATHS else _scalar(raw)
    except LegacyError as e:
        raise LegacyError(f"{where}: {e}") from None


# ----------------------------------------------------------------------------- the parser
def _app_default(defaults: DictConfig, key: str) -> str:
    """A key's (or config group's) value in the composed default config, for the help;
    unresolved (resolving an output folder would create it)."""
    if key in GROUPS:
        return defaults.hydra.runtime.choices[key]
    value: Any = OmegaConf.to_container(defaults, resolve=False)
    for part in key.split("."):
        value = value[part]
    return "null" if value is None else str(value)


def _top_folder(pattern: str) -> str:
    """The fixed top folder of an output folder pattern: ``outputs/`` for
    ``${mnist_hydra.unique_dir:outputs/${now:%Y-%m-%d}/...}``."""
    return re.sub(r"^(\$\{[\w.]+:)+", "", pattern).split("/")[0] + "/"


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (not the whole usage block) and status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (--help lists the flags)\n")


def make_parser(defaults: DictConfig) -> argparse.ArgumentParser:
    """The old tool's flags; ``defaults`` (the app's composed config) fills in the help."""
    def default(key: str) -> str:
        # argparse %-formats help texts.
        return f"(app default: {_app_default(defaults, key)})".replace("%", "%%")

    def top_folder(key: str) -> str:
        return _top_folder(_app_default(defaults, key))

    def options(group: str) -> str:
        return ", ".join(group_options(group))

    p = Parser(
        prog=PROG,
        description=(
            f"The old MNIST tool's command line, run as the Hydra app (python -m {APP_MODULE}). "
            "Flags not given (and not set by --config) keep the app's defaults, shown below as "
            "'app default'. Names of models, optimizers, criteria and transforms ignore case, "
            "'-', '_' and spaces, so the old tool's SimpleCNN and High-Vision work."
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
    p.add_argument("--epochs", metavar="N", help=f"training epochs {default('epochs')}")
    p.add_argument("--logdir", metavar="DIR",
                   help="output folder: hydra.run.dir, or hydra.sweep.dir with --grid_search "
                        f"(app default: a folder under {top_folder('hydra.run.dir')}, or "
                        f"under {top_folder('hydra.sweep.dir')} with --grid_search)")
    p.add_argument("--grid_search", action="store_true",
                   help="run every combination of the given values as a Hydra multirun "
                        "(default: off - only the first value of each flag is used)")
    p.add_argument("--transform", metavar="NAME",
                   help=f"data transform: {options('transform')} {default('transform')}")
    p.add_argument("--lr", nargs="+", metavar="LR", help=f"learning rate(s) {default('lr')}")
    p.add_argument("--batch_size", nargs="+", metavar="N",
                   help=f"batch size(s) {default('batch_size')}")
    p.add_argument("--optimizer", nargs="+", metavar="NAME",
                   help=f"optimizer(s): {options('optimizer')} {default('optimizer')}")
    p.add_argument("--weight_decay", nargs="+", metavar="WD",
                   help=f"weight decay value(s) {default('weight_decay')}")
    p.add_argument("--seed", nargs="+", metavar="SEED",
                   help=f"random seed(s); None for an unfixed seed {default('seed')}")
    p.add_argument("--model", metavar="NAME",
                   help=f"architecture: {options('model')} {default('model')}")
    p.add_argument("--criterion", metavar="NAME",
                   help=f"loss: {options('criterion')} {default('criterion')}")
    p.add_argument("--dry-run", action="store_true",
                   help="print the equivalent Hydra command on stdout and exit without running")
    # Read `-1e-4` as a value (which the app's range check then rejects), as argparse already
    # does for `-0.01`, instead of as an unknown option.
    p._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
    return p


# ----------------------------------------------------------------------------- build
def build_command(argv: list[str]) -> LegacyCommand:
    """Parse the old command line into Hydra overrides and validate them.  Runs nothing.

    Bad input exits with status 2 and one line on stderr.
    """
    argv = list(argv)
    passthrough: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1:]

    parser = make_parser(compose_config(return_hydra_config=True))
    ns = parser.parse_args(argv)
    try:
        return _build(ns, passthrough)
    except (LegacyError, ConfigFileError) as e:  # the app's own message, as it is
        parser.exit(2, f"{PROG}: error: {e}\n")


def _given(ns: argparse.Namespace, warnings: list[str]) -> tuple[dict[str, Given], dict[str, Given]]:
    """(single values, sweep lists) by app key, from --config and then the flags, which win."""
    grid = ns.grid_search
    values: dict[str, Given] = {}
    grids: dict[str, Given] = {}
    if ns.config is not None:
        settings = read_config(ns.config, grid)
        values, grids = settings.values, settings.grids
        warnings += settings.warnings
    elif Path("config.yaml").is_file():
        warnings.append("./config.yaml is not read without --config (the old tool's default); "
                        "pass --config config.yaml to use it")

    for key in SWEEPABLE:
        flag, given = f"--{key}", getattr(ns, key)
        if given is None:
            continue
        if grid:
            grids[key] = Given(given, flag)
        else:
            values[key] = Given(given[0], flag)
            if len(given) > 1:
                warnings.append(f"{flag}: only the first value ({given[0]}) is used without "
                                f"--grid_search; dropped: {' '.join(given[1:])}")
    for key in ("model", "criterion", "transform", "epochs"):
        if getattr(ns, key) is not None:
            values[key] = Given(getattr(ns, key), f"--{key}")
    if ns.logdir is not None:
        values["hydra.sweep.dir" if grid else "hydra.run.dir"] = Given(ns.logdir, "--logdir")
    fixed = [key for key in OLD_GRID_EXTRAS if key not in grids]
    if grid and ns.config is not None and fixed:
        warnings.append(f"--grid_search sweeps fewer values than the old tool, which also swept "
                        f"{' and '.join(OLD_GRID_EXTRAS[key] for key in fixed)} unless given; here "
                        f"{' and '.join(fixed)} stay fixed (pass {' '.join(f'--{key} ...' for key in fixed)} "
                        "to sweep them)")
    return values, grids


def _build(ns: argparse.Namespace, passthrough: list[str]) -> LegacyCommand:
    warnings: list[str] = []
    values, grids = _given(ns, warnings)
    # The same, as override text; a sweep list replaces a single value of the same key.
    single = {k: Given(_text(k, g.value, g.where), g.where)
              for k, g in values.items() if k not in grids}
    swept = {k: [Given(_text(k, v, g.where), g.where) for v in g.value]
             for k, g in grids.items()}

    # Compose once per position in the sweep lists, so that every swept value is checked.
    for i in range(max(map(len, swept.values()), default=1)):
        at_i = {**single, **{k: vals[min(i, len(vals) - 1)] for k, vals in swept.items()}}
        _check([(f"{k}={g.value}", g.where) for k, g in _ordered(at_i)]
               + [(text, "after --") for text in _composable(passthrough)])

    texts = {**{k: g.value for k, g in single.items()},
             **{k: ",".join(g.value for g in vals) for k, vals in swept.items()}}
    overrides = [f"{key}={text}" for key, text in _ordered(texts)]
    return LegacyCommand(overrides=overrides + passthrough, multirun=ns.grid_search,
                         warnings=warnings, dry_run=ns.dry_run)


def _ordered(by_key: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(key, by_key[key]) for key in ORDER if key in by_key]


def _composable(passthrough: list[str]) -> list[str]:
    """The pass-through overrides an in-process compose can take; Hydra's flags
    (``--cfg job``), sweeps and anything unparsable are left to the app to judge."""
    parser = OverridesParser.create()
    keep = []
    for text in passthrough:
        try:
            if not text.startswith("-") and not parser.parse_override(text).is_sweep_override():
                keep.append(text)
        except HydraException:
            continue
    return keep


def _check(labelled: list[tuple[str, str]]) -> None:
    """Compose the app's config with these overrides and run its validation; a failure is a
    LegacyError with a one-line message, naming the flag or file field when it can."""
    overrides = [text for text, _ in labelled]
    try:
        validate(compose_config(overrides))
    except ConfigError as e:
        raise LegacyError(str(e)) from None
    except (HydraException, OmegaConfBaseException) as e:
        # Hydra's messages go on for lines (config search paths, hints): the app's one line
        # (explain), else the first line of the error and of its cause.
        message = explain(e) or ": ".join(str(x).strip().splitlines()[0].rstrip(".")
                                          for x in (e, e.__cause__) if x and str(x).strip())
        where = next((w for text, w in reversed(labelled) if text in message), None)
        raise LegacyError(f"{where}: {message}" if where else message) from None


# ----------------------------------------------------------------------------- run
def _child_env() -> dict[str, str]:
    """The environment for the app: from a source checkout, make `mnist_hydra` importable
    even when the command is started from another folder without installing.  Only the
    child's PYTHONPATH carries the folder; nothing printed names it."""
    env = dict(os.environ)
    root = Path(__file__).resolve().parents[2]
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
    return _run(command.args)
