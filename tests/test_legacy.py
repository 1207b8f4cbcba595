"""The legacy (old argparse) command line: flags -> Hydra overrides, errors, dry run, and an
end-to-end comparison of a legacy grid search with the equivalent Hydra multirun."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mnist_hydra import legacy
from mnist_hydra.legacy import build_command, main

REPO = Path(__file__).resolve().parent.parent
SAMPLE = str(REPO / "examples" / "legacy_config.yaml")


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path, monkeypatch):
    """Run in an empty folder: no stray ./config.yaml, nothing written in the checkout."""
    monkeypatch.chdir(tmp_path)


def write_config(tmp_path: Path, text: str, name: str = "old.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


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
         "weight_decay=0.0,1e-4", "seed=1,2"], True),
    "grid search, one value": (["--grid_search", "--lr", "0.01"], ["lr=0.01"], True),
    "number text kept": (["--lr", ".5", "--weight_decay", "1E-05"],
                         ["lr=.5", "weight_decay=1e-05"], False),
    "integer lr becomes float": (["--lr", "1"], ["lr=1.0"], False),
    "model SimpleCNN": (["--model", "SimpleCNN"], ["model=simple_cnn"], False),
    "model simple_cnn": (["--model", "simple_cnn"], ["model=simple_cnn"], False),
    "model simplecnn": (["--model", "simplecnn"], ["model=simple_cnn"], False),
    "model Baseline": (["--model", "Baseline"], ["model=baseline"], False),
    "model BASELINE": (["--model", "BASELINE"], ["model=baseline"], False),
    "model Stabilized": (["--model", "Stabilized"], ["model=stabilized"], False),
    "model stabilized": (["--model", "stabilized"], ["model=stabilized"], False),
    "model High-Vision": (["--model", "High-Vision"], ["model=high_vision"], False),
    "model high-vision": (["--model", "high-vision"], ["model=high_vision"], False),
    "model HighVision": (["--model", "HighVision"], ["model=high_vision"], False),
    "model high_vision": (["--model", "high_vision"], ["model=high_vision"], False),
    "model Modernist": (["--model", "Modernist"], ["model=modernist"], False),
    "model modernist": (["--model", "modernist"], ["model=modernist"], False),
    "criterion manual": (["--criterion", "manual"], ["criterion=manual"], False),
    "criterion cross_entropy": (["--criterion", "cross_entropy"],
                                ["criterion=cross_entropy"], False),
    "transform augmented": (["--transform", "augmented"], ["transform=augmented"], False),
    "transform Standard": (["--transform", "Standard"], ["transform=standard"], False),
    "logdir single run": (["--logdir", "runs/exp"], ["hydra.run.dir=runs/exp"], False),
    "logdir grid search": (["--grid_search", "--logdir", "runs/grid", "--lr", "0.1", "0.2"],
                           ["lr=0.1,0.2", "hydra.sweep.dir=runs/grid"], True),
    "logdir with a space": (["--logdir", "my runs"], ["hydra.run.dir='my runs'"], False),
    "seed None": (["--seed", "None"], ["seed=null"], False),
    "seed none": (["--seed", "none"], ["seed=null"], False),
    "seed null in a grid": (["--grid_search", "--seed", "null", "42"], ["seed=null,42"], True),
    "passthrough": (["--lr", "0.1", "--", "data=mnist_sample", "lr=0.2", "+foo=bar"],
                    ["lr=0.1", "data=mnist_sample", "lr=0.2", "+foo=bar"], False),
    "passthrough only": (["--", "epochs=1"], ["epochs=1"], False),
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
    assert out.strip() == "python -m mnist_hydra.run optimizer=adam"
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
    command = build_command(["--config", path])
    assert command.overrides == ["lr=0.01", "data.root=./data"]
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
        "lr=1.0", "batch_size=64", "weight_decay=1e-4", "seed=null", "data.train_size=null"]
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


BAD = {
    "unknown optimizer": (["--optimizer", "rmsprop"], ["rmsprop", "sgd", "adam"]),
    "unknown optimizer in a grid": (["--grid_search", "--optimizer", "adam", "lbfgs"],
                                    ["lbfgs", "sgd, adam"]),
    "unknown model": (["--model", "ResNet"], ["ResNet", "SimpleCNN", "High-Vision",
                                              "high_vision"]),
    "unknown criterion": (["--criterion", "mse"], ["mse", "cross_entropy", "manual"]),
    "unknown transform": (["--transform", "rotate"], ["rotate", "standard", "augmented"]),
    "non-numeric lr": (["--lr", "fast"], ["--lr", "fast"]),
    "non-numeric lr later": (["--lr", "0.1", "x1"], ["--lr", "x1"]),
    "nan lr": (["--lr", "nan"], ["--lr", "nan"]),
    "negative lr": (["--lr", "-0.01"], ["--lr", "-0.01", "negative"]),
    "non-numeric weight_decay": (["--weight_decay", "lots"], ["--weight_decay", "lots"]),
    "negative weight_decay": (["--weight_decay", "-1e-4"], ["--weight_decay", "-1e-4"]),
    "zero batch size": (["--batch_size", "0"], ["--batch_size", "'0'", "positive"]),
    "negative batch size": (["--batch_size", "16", "-8"], ["--batch_size", "-8"]),
    "fractional batch size": (["--batch_size", "16.5"], ["--batch_size", "16.5"]),
    "zero epochs": (["--epochs", "0"], ["--epochs", "positive"]),
    "fractional epochs": (["--epochs", "2.5"], ["--epochs", "2.5"]),
    "bad seed": (["--seed", "abc"], ["--seed", "abc"]),
    "empty logdir": (["--logdir", ""], ["--logdir"]),
    "unknown flag": (["--momentum", "0.9"], ["--momentum"]),
    "missing flag value": (["--lr"], ["--lr"]),
    "missing config": (["--config", "no/such/file.yaml"], ["no/such/file.yaml"]),
}


@pytest.mark.parametrize("argv, mentions", BAD.values(), ids=BAD.keys())
def test_bad_input(argv, mentions, capsys, monkeypatch):
    monkeypatch.setattr(legacy, "_run", _must_not_run)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "error:" in err
    for text in mentions:
        assert text in err, (text, err)


BAD_CONFIGS = {
    "not YAML": ("training: [unclosed\n", ["not valid YAML"]),
    "not a mapping": ("- just\n- a list\n", ["mapping", "list"]),
    "empty": ("", ["mapping", "empty"]),
    "section not a mapping": ("training: 5\n", ["'training'", "mapping"]),
    "learning_rate fast": ("training: {learning_rate: fast}\n",
                           ["training.learning_rate", "fast"]),
    "batch_size fraction": ("training: {batch_size: 1.5}\n", ["training.batch_size", "1.5"]),
    "epochs bool": ("training: {epochs: true}\n", ["training.epochs", "True"]),
    "optimizer unknown": ("training: {optimizer: adagrad}\n",
                          ["training.optimizer", "adagrad", "sgd, adam"]),
    "criterion unknown": ("training: {criterion: nll}\n", ["training.criterion", "nll"]),
    "param_grid lr": ("training: {param_grid: {learning_rate: [0.1, big]}}\n",
                      ["param_grid.learning_rate", "big"]),
    "param_grid not a mapping": ("training: {param_grid: [1, 2]}\n", ["param_grid", "mapping"]),
    "subset_train negative": ("data: {subset_train: -5}\n", ["data.subset_train", "-5"]),
    "root not a string": ("data: {root: [a]}\n", ["data.root"]),
    "log_dir not a string": ("training: {log_dir: 5}\n", ["training.log_dir"]),
}


@pytest.mark.parametrize("text, mentions", BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_bad_config(text, mentions, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(legacy, "_run", _must_not_run)
    path = write_config(tmp_path, text)
    with pytest.raises(SystemExit) as exc:
        main(["--config", path, "--grid_search"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "--config" in err
    for item in mentions:
        assert item in err, (item, err)


def _must_not_run(args):
    raise AssertionError(f"ran {args}")


def test_dry_run_prints_and_runs_nothing(capsys, monkeypatch):
    monkeypatch.setattr(legacy, "_run", _must_not_run)
    monkeypatch.setattr(legacy.subprocess, "Popen", _must_not_run)
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

    monkeypatch.setattr(legacy, "_run", fake_run)
    assert main(["--lr", "0.1", "--", "epochs=1"]) == 3
    assert calls == [["lr=0.1", "epochs=1"]]
    err = capsys.readouterr().err
    assert "python -m mnist_hydra.run lr=0.1 epochs=1" in err


def test_run_uses_this_interpreter_and_exit_status(monkeypatch):
    seen = {}

    class FakePopen:
        def __init__(self, cmd, env):
            seen["cmd"], seen["env"] = cmd, env

        def wait(self):
            return -2  # killed by SIGINT

    monkeypatch.setattr(legacy.subprocess, "Popen", FakePopen)
    assert legacy._run(["lr=0.1"]) == 130
    assert seen["cmd"] == [sys.executable, "-m", "mnist_hydra.run", "lr=0.1"]
    assert str(REPO) in seen["env"]["PYTHONPATH"].split(os.pathsep)


def test_help_states_defaults(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for text in ("--dry-run", "SimpleCNN", "(app default: 0.001)", "(app default: 16)",
                 "(app default: sgd)", "(app default: 42)", "(app default: 3)"):
        assert text in out, text


def test_overrides_parse_in_hydra():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    command = build_command(["--grid_search", "--lr", "0.001", "1e-5", "--seed", "None", "3",
                             "--logdir", "it's a ,dir\\"])
    parsed = OverridesParser.create().parse_overrides(command.overrides)
    values = {o.key_or_group: o for o in parsed}
    assert list(values["lr"].sweep_iterator()) == [0.001, 1e-5]
    assert list(values["seed"].sweep_iterator()) == [None, 3]
    assert values["hydra.sweep.dir"].value() == "it's a ,dir\\"


def test_module_entry_point_dry_run(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for cmd in ([sys.executable, "-m", "mnist_hydra.legacy"],
                [sys.executable, str(REPO / "main.py")]):
        result = subprocess.run([*cmd, "--dry-run", "--lr", "0.1", "0.2"], cwd=tmp_path,
                                env=env if "-m" in cmd else None, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout == "python -m mnist_hydra.run lr=0.1\n"
        assert "dropped: 0.2" in result.stderr


# ----------------------------------------------------------------------------- end to end
def _jobs(sweep: Path) -> dict[str, Path]:
    return {p.name: p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()}


def _summary_rows(sweep: Path) -> list[dict]:
    with open(sweep / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    volatile = ("time", "duration", "second", "dir", "path", "date")
    return [{k: v for k, v in row.items() if not any(w in k.lower() for w in volatile)}
            for row in rows]


def _close(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return abs(float(a) - float(b)) <= 1e-6
    except ValueError:
        return False


@pytest.mark.slow
def test_legacy_grid_search_matches_hydra_multirun(tmp_path):
    if not (REPO / "mnist_hydra" / "run.py").is_file():
        pytest.skip("mnist_hydra.run does not exist yet")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    data = ["data=mnist_sample", "data.train_size=200", "data.val_size=100"]
    legacy_dir, hydra_dir = tmp_path / "legacy", tmp_path / "hydra"
    legacy_cmd = [sys.executable, "-m", "mnist_hydra.legacy", "--grid_search",
                  "--lr", "0.001", "0.01", "--batch_size", "16", "32", "--epochs", "1",
                  "--logdir", str(legacy_dir), "--", *data]
    hydra_cmd = [sys.executable, "-m", "mnist_hydra.run", "--multirun", "lr=0.001,0.01",
                 "batch_size=16,32", "epochs=1", *data, f"hydra.sweep.dir={hydra_dir}"]
    for cmd in (legacy_cmd, hydra_cmd):
        result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=900)
        assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])

    legacy_jobs, hydra_jobs = _jobs(legacy_dir), _jobs(hydra_dir)
    assert sorted(legacy_jobs) == sorted(hydra_jobs) == ["0", "1", "2", "3"]
    for name in sorted(hydra_jobs):
        a, b = legacy_jobs[name], hydra_jobs[name]
        ov_a = yaml.safe_load((a / ".hydra" / "overrides.yaml").read_text())
        ov_b = yaml.safe_load((b / ".hydra" / "overrides.yaml").read_text())
        strip = [o for o in ov_b if not o.startswith("hydra.sweep.dir=")]
        assert [o for o in ov_a if not o.startswith("hydra.sweep.dir=")] == strip
        m_a = json.loads((a / "metrics.json").read_text())
        m_b = json.loads((b / "metrics.json").read_text())
        assert m_a.get("status") == m_b.get("status") == "completed", (m_a, m_b)
        assert abs(m_a["best_val_acc"] - m_b["best_val_acc"]) <= 1e-6, name

    rows_a, rows_b = _summary_rows(legacy_dir), _summary_rows(hydra_dir)
    assert len(rows_a) == len(rows_b) == 4
    assert [sorted(r) for r in rows_a] == [sorted(r) for r in rows_b]
    for ra, rb in zip(rows_a, rows_b):
        for key in rb:
            assert _close(ra[key], rb[key]), (key, ra, rb)
