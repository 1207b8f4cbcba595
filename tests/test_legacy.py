"""The legacy (old argparse) command line: flags -> Hydra overrides, validation by the app's
own config, errors, dry run, real runs, and a legacy grid search against the equivalent
Hydra multirun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, csv_rows, run_cli
from mnist_hydra.config import ConfigError, compose_config, group_options, validate
from mnist_hydra.legacy import cli
from mnist_hydra.legacy.cli import build_command, main

SAMPLE = str(REPO / "examples" / "legacy_config.yaml")
SAMPLE_DATA = ["data=mnist_sample", "data.train_size=200", "data.val_size=100"]


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path, monkeypatch):
    """Run in an empty folder: no stray ./config.yaml, nothing written in the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def no_run(monkeypatch):
    """Fail the test if the app would be started."""
    def must_not_run(*args, **kwargs):
        raise AssertionError(f"ran {args}")

    monkeypatch.setattr(cli, "_run", must_not_run)
    monkeypatch.setattr(cli.subprocess, "Popen", must_not_run)


def write_config(tmp_path: Path, text: str | bytes, name: str = "old.yaml") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


def app_error(overrides: list[str]) -> str:
    """The app's own message for a config it refuses."""
    with pytest.raises(ConfigError) as exc:
        validate(compose_config(overrides))
    return str(exc.value)


def usage_error(argv: list[str], capsys) -> str:
    """stderr of a command line that must exit 2 before anything runs."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "mnist-legacy: error:" in err
    return err


SAMPLE_SINGLE = [
    "optimizer=sgd", "criterion=cross_entropy", "lr=0.001", "batch_size=16",
    "weight_decay=1e-5", "seed=42", "epochs=50", "data.root=./data",
    "data.train_size=400", "data.val_size=30", "hydra.run.dir=runs/mnist_experiment",
]

# argv -> (overrides, multirun)
CASES = {
    "nothing": ([], [], False),
    "single values": (
        ["--lr", "0.001", "--batch_size", "32", "--optimizer", "adam", "--weight_decay", "1e-4",
         "--seed", "7", "--epochs", "5"],
        ["optimizer=adam", "lr=0.001", "batch_size=32", "weight_decay=1e-4", "seed=7",
         "epochs=5"], False),
    "first value only": (
        ["--lr", "0.001", "0.01", "--batch_size", "8", "16", "--optimizer", "adam", "sgd"],
        ["optimizer=adam", "lr=0.001", "batch_size=8"], False),
    "grid search": (
        ["--grid_search", "--lr", "0.001", "0.01", "--batch_size", "8", "16",
         "--optimizer", "adam", "sgd", "--weight_decay", "0", "1e-4", "--seed", "1", "2"],
        ["optimizer=adam,sgd", "lr=0.001,0.01", "batch_size=8,16",
         "weight_decay=0,1e-4", "seed=1,2"], True),
    "grid search, one value": (["--grid_search", "--lr", "0.01"], ["lr=0.01"], True),
    "number text kept": (["--lr", ".5", "--weight_decay", "1E-05"],
                         ["lr=.5", "weight_decay=1E-05"], False),
    "model SimpleCNN": (["--model", "SimpleCNN"], ["model=simple_cnn"], False),
    "model simplecnn": (["--model", "simplecnn"], ["model=simple_cnn"], False),
    "model Baseline": (["--model", "Baseline"], ["model=baseline"], False),
    "model BASELINE": (["--model", "BASELINE"], ["model=baseline"], False),
    "model Stabilized": (["--model", "Stabilized"], ["model=stabilized"], False),
    "model High-Vision": (["--model", "High-Vision"], ["model=high_vision"], False),
    "model high-vision": (["--model", "high-vision"], ["model=high_vision"], False),
    "model HighVision": (["--model", "HighVision"], ["model=high_vision"], False),
    "model High Vision": (["--model", "High Vision"], ["model=high_vision"], False),
    "model Modernist": (["--model", "Modernist"], ["model=modernist"], False),
    "optimizer Adam": (["--optimizer", "Adam"], ["optimizer=adam"], False),
    "criterion manual": (["--criterion", "manual"], ["criterion=manual"], False),
    "criterion CrossEntropy": (["--criterion", "CrossEntropy"],
                               ["criterion=cross_entropy"], False),
    "transform augmented": (["--transform", "augmented"], ["transform=augmented"], False),
    "transform Standard": (["--transform", "Standard"], ["transform=standard"], False),
    "logdir single run": (["--logdir", "runs/exp"], ["hydra.run.dir=runs/exp"], False),
    "logdir grid search": (["--grid_search", "--logdir", "runs/grid", "--lr", "0.1", "0.2"],
                           ["lr=0.1,0.2", "hydra.sweep.dir=runs/grid"], True),
    "logdir with a space": (["--logdir", "my runs"], ["hydra.run.dir='my runs'"], False),
    "logdir that reads as a number": (["--logdir", "2024"], ["hydra.run.dir='2024'"], False),
    "seed None": (["--seed", "None"], ["seed=null"], False),
    "seed none": (["--seed", "none"], ["seed=null"], False),
    "seed null in a grid": (["--grid_search", "--seed", "null", "42"], ["seed=null,42"], True),
    "passthrough": (["--lr", "0.1", "--", "data=mnist_sample", "lr=0.2", "device=cpu"],
                    ["lr=0.1", "data=mnist_sample", "lr=0.2", "device=cpu"], False),
    "passthrough wins over a bad value": (["--lr", "0", "--", "lr=0.2"],
                                          ["lr=0", "lr=0.2"], False),
    "passthrough only": (["--", "epochs=1"], ["epochs=1"], False),
    "passthrough Hydra flag": (["--", "--cfg", "job"], ["--cfg", "job"], False),
    "config file": (["--config", SAMPLE], SAMPLE_SINGLE, False),
    "config file, flags win": (
        ["--config", SAMPLE, "--lr", "0.05", "--optimizer", "adam", "--epochs", "2",
         "--logdir", "elsewhere", "--seed", "None"],
        ["optimizer=adam", "criterion=cross_entropy", "lr=0.05", "batch_size=16",
         "weight_decay=1e-5", "seed=null", "epochs=2", "data.root=./data",
         "data.train_size=400", "data.val_size=30", "hydra.run.dir=elsewhere"], False),
    "config file param_grid": (
        ["--config", SAMPLE, "--grid_search"],
        ["optimizer=sgd", "criterion=cross_entropy", "lr=0.0001,0.001,0.01,0.1",
         "batch_size=8,16,32,64,128", "weight_decay=1e-5", "seed=42", "epochs=50",
         "data.root=./data", "data.train_size=400", "data.val_size=30",
         "hydra.sweep.dir=runs/mnist_experiment/grid_search"], True),
    "config file param_grid, flag wins": (
        ["--config", SAMPLE, "--grid_search", "--batch_size", "32", "--logdir", "g",
         "--", "epochs=1"],
        ["optimizer=sgd", "criterion=cross_entropy", "lr=0.0001,0.001,0.01,0.1",
         "batch_size=32", "weight_decay=1e-5", "seed=42", "epochs=50",
         "data.root=./data", "data.train_size=400", "data.val_size=30",
         "hydra.sweep.dir=g", "epochs=1"], True),
}


@pytest.mark.parametrize("argv, overrides, multirun", CASES.values(), ids=CASES.keys())
def test_overrides(argv, overrides, multirun):
    command = build_command(argv)
    assert command.overrides == overrides
    assert command.multirun is multirun
    assert command.args == (["--multirun"] if multirun else []) + overrides
    assert not command.dry_run


@pytest.mark.parametrize("group", cli.GROUPS)
def test_every_option_of_a_group_is_accepted(group):
    """The choices are the config group's options, whatever conf/ holds."""
    for option in group_options(group):
        spelled = option.replace("_", "-").upper()
        assert build_command([f"--{group}", spelled]).overrides == [f"{group}={option}"]


def test_first_value_rule_warns():
    command = build_command(["--lr", "0.001", "0.01", "0.1", "--seed", "1", "None",
                             "--batch_size", "8"])
    assert command.overrides == ["lr=0.001", "batch_size=8", "seed=1"]
    assert len(command.warnings) == 2
    lr_note, seed_note = command.warnings
    assert "--lr" in lr_note and "0.01 0.1" in lr_note and "--grid_search" in lr_note
    assert "--seed" in seed_note and "None" in seed_note


def test_grid_search_does_not_warn():
    assert build_command(["--grid_search", "--lr", "0.001", "0.01"]).warnings == []


def test_first_value_note_on_stderr(capsys):
    assert main(["--dry-run", "--optimizer", "adam", "sgd"]) == 0
    out, err = capsys.readouterr()
    assert out == "python -m mnist_hydra.run optimizer=adam\n"
    assert "--optimizer" in err and "dropped: sgd" in err


def test_config_warnings(tmp_path):
    path = write_config(tmp_path, """
model: {input_size: 3, num_classes: 10, hidden: 5}
training:
  learning_rate: 0.01
  checkpoint_dir: ckpt
  momentum: 0.9
  param_grid: {learning_rate: [0.1], dropout: [0.5]}
data: {root: ./data, shuffle: true}
extra: 1
""")
    command = build_command(["--config", path, "--grid_search"])
    assert command.overrides == ["lr=0.1", "data.root=./data"]
    text = "\n".join(command.warnings)
    for key in ("checkpoint_dir", "model.input_size", "model.hidden", "training.momentum",
                "param_grid.dropout", "data.shuffle", "'extra'"):
        assert key in text, key
    assert "num_classes" not in text
    assert any("checkpoint_dir" in w and "run's folder" in w for w in command.warnings)


def test_sample_config_warns_only_about_checkpoint_dir():
    warnings = build_command(["--config", SAMPLE]).warnings
    assert len(warnings) == 1 and "checkpoint_dir" in warnings[0]


def test_config_types(tmp_path):
    path = write_config(tmp_path, """
training:
  seed: null
  learning_rate: 1
  weight_decay: "1e-4"
  batch_size: "64"
  param_grid: {learning_rate: 0.5, batch_size: [4]}
data: {subset_train: null}
""")
    assert build_command(["--config", path]).overrides == [
        "lr=1", "batch_size=64", "weight_decay=1e-4", "seed=null", "data.train_size=null"]
    assert build_command(["--config", path, "--grid_search"]).overrides == [
        "lr=0.5", "batch_size=4", "weight_decay=1e-4", "seed=null", "data.train_size=null"]


def test_config_log_dirs_pick_by_mode(tmp_path):
    path = write_config(tmp_path, "training: {log_dir: a, log_dir_grid: b}\n")
    assert build_command(["--config", path]).overrides == ["hydra.run.dir=a"]
    assert build_command(["--config", path, "--grid_search"]).overrides == ["hydra.sweep.dir=b"]


def test_default_config_yaml_not_read(tmp_path):
    (tmp_path / "config.yaml").write_text("training: {learning_rate: 0.5}\n")
    command = build_command(["--lr", "0.1"])
    assert command.overrides == ["lr=0.1"]
    assert any("config.yaml" in w and "--config" in w for w in command.warnings)


# argv -> texts the one-line message must contain
BAD = {
    "unknown optimizer": (["--optimizer", "rmsprop"], ["--optimizer", "rmsprop", "adam, sgd"]),
    "unknown optimizer in a grid": (["--grid_search", "--optimizer", "adam", "lbfgs"],
                                    ["lbfgs", "adam, sgd"]),
    "unknown model": (["--model", "ResNet"], ["--model", "ResNet", "high_vision"]),
    "unknown criterion": (["--criterion", "mse"], ["mse", "cross_entropy, manual"]),
    "unknown transform": (["--transform", "rotate"], ["rotate", "augmented, standard"]),
    "non-numeric lr": (["--lr", "fast"], ["--lr", "lr must be a number, like lr=0.001, not lr=fast"]),
    "non-numeric lr later in a grid": (["--grid_search", "--lr", "0.1", "x1"],
                                       ["--lr", "not lr=x1"]),
    "two values in one": (["--lr", "0.1,0.2"], ["--lr", "lr=0.1,0.2"]),
    "non-numeric weight_decay": (["--weight_decay", "lots"],
                                 ["--weight_decay", "must be a number", "weight_decay=lots"]),
    "fractional batch size": (["--batch_size", "16.5"], ["--batch_size", "16.5", "whole number"]),
    "fractional epochs": (["--epochs", "2.5"], ["--epochs", "2.5", "whole number"]),
    "bad seed": (["--seed", "abc"], ["--seed", "seed=abc"]),
    "empty logdir": (["--logdir", ""], ["--logdir", "folder name"]),
    "unknown flag": (["--momentum", "0.9"], ["--momentum"]),
    "missing flag value": (["--lr"], ["--lr"]),
    "missing config": (["--config", "no/such/file.yaml"], ["no/such/file.yaml"]),
    "unknown option after --": (["--", "optimizer=rmsprop"], ["optimizer=rmsprop", "options: adam, sgd"]),
    "unknown key after --": (["--", "data.trian_size=5"], ["data.trian_size", "did you mean data.train_size=5?"]),
    "wrong type after --": (["--lr", "0.1", "--", "lr=fast"], ["after --", "lr=fast"]),
}


@pytest.mark.parametrize("argv, mentions", BAD.values(), ids=BAD.keys())
def test_bad_input(argv, mentions, capsys, no_run):
    err = usage_error(argv, capsys)
    (message,) = err.strip().splitlines()  # one line, no usage block
    for text in mentions:
        assert text in message, (text, err)
    assert str(REPO) not in err  # Hydra's config search path is not shown


# argv -> the overrides the app itself refuses, with the message the wrapper must print
OUT_OF_RANGE = {
    "zero lr": (["--lr", "0"], ["lr=0"]),
    "negative lr": (["--lr", "-0.01"], ["lr=-0.01"]),
    "negative weight_decay": (["--weight_decay", "-1e-4"], ["weight_decay=-1e-4"]),
    "zero batch size": (["--batch_size", "0"], ["batch_size=0"]),
    "negative batch size in a grid": (["--grid_search", "--batch_size", "16", "-8"],
                                      ["batch_size=-8"]),
    "zero epochs": (["--epochs", "0"], ["epochs=0"]),
    "third value of a longer sweep": (
        ["--grid_search", "--lr", "0.1", "0.01", "0", "--batch_size", "8", "16"],
        ["lr=0", "batch_size=16"]),
    "after --": (["--model", "Stabilized", "--", "model.dropout=1.5"],
                 ["model=stabilized", "model.dropout=1.5"]),
}


@pytest.mark.parametrize("argv, refused", OUT_OF_RANGE.values(), ids=OUT_OF_RANGE.keys())
def test_out_of_range_gives_the_apps_message(argv, refused, capsys, no_run):
    err = usage_error(["--dry-run", *argv], capsys)
    assert err.splitlines()[-1] == f"mnist-legacy: error: {app_error(refused)}"


BAD_CONFIGS = {
    "not YAML": ("training: [unclosed\n", ["--config", "not valid YAML"]),
    "not a mapping": ("- just\n- a list\n", ["--config", "mapping", "list"]),
    "empty": ("", ["--config", "mapping", "empty"]),
    "section not a mapping": ("training: 5\n", ["'training'", "mapping"]),
    "learning_rate fast": ("training: {learning_rate: fast}\n",
                           ["training.learning_rate", "not lr=fast"]),
    "batch_size fraction": ("training: {batch_size: 1.5}\n", ["training.batch_size", "1.5"]),
    "epochs bool": ("training: {epochs: true}\n", ["training.epochs", "bool"]),
    "epochs a list": ("training: {epochs: [1, 2]}\n", ["training.epochs", "single value"]),
    "optimizer unknown": ("training: {optimizer: adagrad}\n",
                          ["training.optimizer", "adagrad", "adam, sgd"]),
    "criterion unknown": ("training: {criterion: nll}\n", ["training.criterion", "nll"]),
    "param_grid lr": ("training: {param_grid: {learning_rate: [0.1, big]}}\n",
                      ["param_grid.learning_rate", "not lr=big"]),
    "param_grid empty list": ("training: {param_grid: {batch_size: []}}\n",
                              ["param_grid.batch_size", "at least one"]),
    "param_grid not a mapping": ("training: {param_grid: [1, 2]}\n", ["param_grid", "mapping"]),
    "root not a string": ("data: {root: [a]}\n", ["data.root", "folder name"]),
    "log_dir_grid not a string": ("training: {log_dir_grid: 5}\n",
                                  ["training.log_dir_grid", "folder name"]),
}


@pytest.mark.parametrize("text, mentions", BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_bad_config(text, mentions, tmp_path, capsys, no_run):
    path = write_config(tmp_path, text)
    message = usage_error(["--config", path, "--grid_search"], capsys).splitlines()[-1]
    for item in mentions:
        assert item in message, (item, message)


def test_config_out_of_range_gives_the_apps_message(tmp_path, capsys, no_run):
    path = write_config(tmp_path, "data: {subset_train: -5}\n")
    err = usage_error(["--config", path], capsys)
    assert err.splitlines()[-1] == f"mnist-legacy: error: {app_error(['data.train_size=-5'])}"


def test_config_not_utf8(tmp_path, capsys, no_run):
    # Latin-1 text, as an old editor may have saved it: 0xe9 is 'é'.
    path = write_config(tmp_path, "# r\xe9sum\xe9\ntraining: {epochs: 1}\n".encode("latin-1"))
    message = usage_error(["--config", path], capsys).splitlines()[-1]
    assert "--config" in message and path in message and "not UTF-8" in message
    assert "Traceback" not in message


def test_dry_run_prints_and_runs_nothing(capsys, no_run):
    code = main(["--dry-run", "--grid_search", "--lr", "0.001", "0.01", "--model", "High-Vision",
                 "--logdir", "my runs", "--", "data=mnist_sample"])
    assert code == 0
    out, err = capsys.readouterr()
    assert out == ("python -m mnist_hydra.run --multirun model=high_vision lr=0.001,0.01 "
                   "'hydra.sweep.dir='\"'\"'my runs'\"'\"'' data=mnist_sample\n")
    assert err == ""


def test_main_prints_then_runs_and_propagates_status(capsys, monkeypatch):
    calls = []

    def fake_run(args):
        calls.append(args)
        return 3

    monkeypatch.setattr(cli, "_run", fake_run)
    assert main(["--lr", "0.1", "--", "epochs=1"]) == 3
    assert calls == [["lr=0.1", "epochs=1"]]
    err = capsys.readouterr().err
    assert err == "mnist-legacy: running: python -m mnist_hydra.run lr=0.1 epochs=1\n"


def test_run_uses_this_interpreter_and_exit_status(monkeypatch):
    seen = {}

    class FakePopen:
        def __init__(self, cmd, env):
            seen["cmd"], seen["env"] = cmd, env

        def wait(self):
            return -2  # killed by SIGINT

    monkeypatch.setattr(cli.subprocess, "Popen", FakePopen)
    assert cli._run(["lr=0.1"]) == 130
    assert seen["cmd"] == [sys.executable, "-m", "mnist_hydra.run", "lr=0.1"]
    # From a checkout the child can import the package wherever it is started.
    assert str(REPO) in seen["env"]["PYTHONPATH"].split(os.pathsep)


def _help(capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_help_states_the_configs_defaults_and_options(capsys):
    text = _help(capsys)
    defaults = compose_config()
    for key in ("lr", "batch_size", "weight_decay", "seed", "epochs"):
        assert f"{key.replace('_', ' ')}" in text and f"(app default: {defaults[key]})" in text
    for group in cli.GROUPS:
        options = ", ".join(group_options(group))
        default = compose_config(return_hydra_config=True).hydra.runtime.choices[group]
        assert f"{options} (app default: {default})" in text, group
    assert "SimpleCNN" in text and "--dry-run" in text


def test_help_follows_the_config():
    """The help is written from whatever config it is given, not from copies."""
    text = cli.make_parser(compose_config(
        ["epochs=7", "model=baseline", "lr=0.5", "hydra.run.dir=runs/${now:%H}"],
        return_hydra_config=True)).format_help()
    text = " ".join(text.split())
    for expected in ("training epochs (app default: 7)", "learning rate(s) (app default: 0.5)",
                     "stabilized (app default: baseline)", "(app default: a folder under runs/,"):
        assert expected in text, expected


def test_overrides_parse_in_hydra():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    command = build_command(["--grid_search", "--lr", "0.001", "1e-5", "--seed", "None", "3",
                             "--logdir", "it's a ,dir\\"])
    parsed = OverridesParser.create().parse_overrides(command.overrides)
    values = {o.key_or_group: o for o in parsed}
    assert list(values["lr"].sweep_iterator()) == [0.001, 1e-5]
    assert list(values["seed"].sweep_iterator()) == [None, 3]
    assert values["hydra.sweep.dir"].value() == "it's a ,dir\\"


# ----------------------------------------------------------------------------- real processes
def _main_py(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """`python main.py ...` from a checkout, as the old tool was run (no PYTHONPATH)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["XDG_CACHE_HOME"] = str(cwd / ".cache")
    return subprocess.run([sys.executable, str(REPO / "main.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_entry_points_dry_run(tmp_path):
    for result in (run_cli(["--dry-run", "--lr", "0.1", "0.2"], tmp_path,
                           module="mnist_hydra.legacy"),
                   _main_py(["--dry-run", "--lr", "0.1", "0.2"], tmp_path)):
        assert result.returncode == 0, result.stderr
        assert result.stdout == "python -m mnist_hydra.run lr=0.1\n"
        assert "dropped: 0.2" in result.stderr


def test_zero_lr_exits_2_with_the_apps_message(tmp_path):
    result = run_cli(["--lr", "0", "--dry-run"], tmp_path, module="mnist_hydra.legacy")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == f"mnist-legacy: error: {app_error(['lr=0'])}"
    assert "Traceback" not in result.stderr
    assert not any(tmp_path.glob("outputs"))


def test_real_run_through_main_py(tmp_path):
    """A real training run through the old entry point, on the shipped sample."""
    result = _main_py(["--lr", "0.01", "--batch_size", "32", "--optimizer", "adam",
                       "--epochs", "1", "--model", "Baseline", "--logdir", "run",
                       "--", *SAMPLE_DATA], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    command = ("python -m mnist_hydra.run model=baseline optimizer=adam lr=0.01 batch_size=32 "
               "epochs=1 hydra.run.dir=run " + " ".join(SAMPLE_DATA))
    assert f"mnist-legacy: running: {command}\n" in result.stderr
    assert str(REPO) not in result.stdout + result.stderr
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs_run"] == 1
    assert len(csv_rows(run / "metrics.csv")) == 1
    config = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    assert (config["lr"], config["batch_size"], config["epochs"]) == (0.01, 32, 1)
    assert config["optimizer"]["_target_"] == "torch.optim.Adam"
    assert config["data"]["train_size"] == 200


# ----------------------------------------------------------------------------- end to end
def _jobs(sweep: Path) -> dict[str, Path]:
    return {p.name: p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()}


def _summary_rows(sweep: Path) -> list[dict]:
    volatile = ("time", "duration", "second", "dir", "path", "date")
    return [{k: v for k, v in row.items() if not any(w in k.lower() for w in volatile)}
            for row in csv_rows(sweep / "summary.csv")]


def _close(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return abs(float(a) - float(b)) <= 1e-6
    except ValueError:
        return False


@pytest.mark.slow
def test_legacy_grid_search_matches_hydra_multirun(tmp_path):
    legacy_dir, hydra_dir = tmp_path / "legacy", tmp_path / "hydra"
    legacy_args = ["--grid_search", "--lr", "0.001", "0.01", "--batch_size", "16", "32",
                   "--epochs", "1", "--logdir", str(legacy_dir), "--", *SAMPLE_DATA]
    hydra_args = ["--multirun", "lr=0.001,0.01", "batch_size=16,32", "epochs=1", *SAMPLE_DATA,
                  f"hydra.sweep.dir={hydra_dir}"]
    for args, module in ((legacy_args, "mnist_hydra.legacy"), (hydra_args, "mnist_hydra.run")):
        result = run_cli(args, tmp_path, module=module, timeout=900)
        assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])

    legacy_jobs, hydra_jobs = _jobs(legacy_dir), _jobs(hydra_dir)
    assert sorted(legacy_jobs) == sorted(hydra_jobs) == ["0", "1", "2", "3"]
    for name in sorted(hydra_jobs):
        a, b = legacy_jobs[name], hydra_jobs[name]
        ov_a = yaml.safe_load((a / ".hydra" / "overrides.yaml").read_text())
        ov_b = yaml.safe_load((b / ".hydra" / "overrides.yaml").read_text())
        assert ([o for o in ov_a if not o.startswith("hydra.sweep.dir=")]
                == [o for o in ov_b if not o.startswith("hydra.sweep.dir=")])
        m_a = json.loads((a / "metrics.json").read_text())
        m_b = json.loads((b / "metrics.json").read_text())
        assert m_a.get("status") == m_b.get("status") == "completed", (m_a, m_b)
        assert abs(m_a["best_val_acc"] - m_b["best_val_acc"]) <= 1e-6, name

    rows_a, rows_b = _summary_rows(legacy_dir), _summary_rows(hydra_dir)
    assert len(rows_a) == len(rows_b) == 4
    assert [sorted(r) for r in rows_a] == [sorted(r) for r in rows_b]
    for ra, rb in zip(rows_a, rows_b, strict=True):
        for key in rb:
            assert _close(ra[key], rb[key]), (key, ra, rb)
