"""Issue 18: every everyday mistake costs one line and no training time: exit status, at most
three lines on stderr, the words of the fix, no traceback, nothing written. One of each kind
through the real command in its own process (run_cli); the others run the command's own function
in this process (cli_in_process), which takes a fraction of a second instead of an interpreter
start and the imports each."""
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from conftest import TINY, multirun, run_cli
from mnist_hydra.config import (
    GROUP_SCHEMAS, ConfigError, GridConfigLoader, RunConfig, compose_config, explain, validate, validate_grid,
)
from mnist_hydra.legacy.cli import build_command
from mnist_hydra.train import train
from mnist_hydra.sweep.read import basic_sweep_jobs, parse_sweep

MAX_LINES = 3


def refused(run: Callable[..., Any], tmp_path: Path, args: list[str], *fix: str, module: str = "mnist_hydra.run",
            status: int = 1) -> str:
    """Run the command from an empty folder, in its own process (run=run_cli) or in this one
    (run=cli_in_process); assert it refused in a few lines naming the fix and left the folder
    empty. Returns stderr."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    proc = run(args, cwd=cwd, module=module, **({"timeout": 120} if run is run_cli else {}))
    assert proc.returncode == status, (proc.returncode, proc.stderr[-3000:])
    lines = proc.stderr.strip().splitlines()
    assert 1 <= len(lines) <= MAX_LINES, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    for words in fix:
        assert words in proc.stderr, proc.stderr
    assert sorted(p.name for p in cwd.iterdir() if p.name != ".cache") == [], "something was written"
    return proc.stderr


# -- config mistakes in `python -m mnist_hydra.run` ---------------------------------------------

MISTAKES = [
    ("epoch=3", "did you mean epochs=3?"),  # Hydra's advice was `use +epoch=3`, a second error
    ("+data.trian_size=500", "did you mean data.train_size=500?"),
    ("model=baseline model.dropot=0.3", "did you mean model.dropout=0.3?"),
    ("model=resnet", "options: baseline, high_vision, modernist, simple_cnn, stabilized"),
    ("model=Stabilized", "did you mean model=stabilized?"),  # the old tool's spelling
    ("optimizer=AdamW", "did you mean optimizer=adam?"),
    ("lr=fast", "lr must be a number, like lr=0.001"),
    ("batch_size=1.5", "batch_size must be a whole number, like batch_size=16"),
    ("seed=x", "seed must be a whole number or null"),
    ("test=maybe", "test must be true or false"),
    ("lr=0.001,0.0l", "add --multirun"),
    ("device=gpu", "device must be one of auto, cpu, cuda, mps"),
]


@pytest.mark.parametrize("overrides, fix", MISTAKES)
def test_each_config_mistake_is_explained_in_one_line(overrides, fix):
    """What the command prints (below, through real processes for a few of them)."""
    with pytest.raises(Exception) as err:
        validate(compose_config(overrides.split()))
    line = explain(err.value)
    assert line is not None and "\n" not in line and fix in line, line
    assert "+epoch" not in line and "base_" not in line  # no advice that gives a second error


def test_a_config_mistake_costs_one_line_and_nothing_else_in_a_real_process(tmp_path):
    overrides, fix = MISTAKES[0]
    stderr = refused(run_cli, tmp_path, [*TINY, *overrides.split()], fix)
    assert len(stderr.strip().splitlines()) == 1, stderr


@pytest.mark.parametrize("overrides, fix", [MISTAKES[4], MISTAKES[6]])
def test_a_config_mistake_costs_one_line_and_nothing_else(tmp_path, cli_in_process, overrides, fix):
    stderr = refused(cli_in_process, tmp_path, [*TINY, *overrides.split()], fix)
    assert len(stderr.strip().splitlines()) == 1, stderr


def test_an_internal_schema_is_not_selectable(tmp_path, cli_in_process):
    refused(cli_in_process, tmp_path, [*TINY, "model=base_simple_cnn"], "model=base_simple_cnn is an internal schema",
            "options: baseline")


def test_a_developer_still_gets_the_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    proc = run_cli([*TINY, "epoch=3"], cwd=tmp_path, timeout=120)
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "ConfigCompositionException" in proc.stderr


# -- a sweep is checked before its first job -----------------------------------------------------

def test_a_bad_value_anywhere_in_a_sweep_refuses_it_before_any_job(tmp_path):
    """Before, job 0 trained first and job 1 failed: on a 20-run study, after hours."""
    refused(run_cli, tmp_path, ["--multirun", *TINY, "lr=0.001,0.01,0", "batch_size=8,16"],
            "sweep refused before any job ran", "job 4", "lr=0", "must be a finite number > 0")


def test_every_job_of_a_study_is_composed_and_a_bad_one_named():
    with multirun(["+experiment=lr_batch_grid", "lr=0.1,fast"]) as (hydra, study):
        params = [f"{key}={value}" for key, value in study.hydra.sweeper.params.items()]
        jobs = basic_sweep_jobs(parse_sweep([*params, "+experiment=lr_batch_grid", "lr=0.1,fast"]))
        assert len(jobs) == 10 and all("+experiment=lr_batch_grid" in job for job in jobs)
        loader = GridConfigLoader(hydra)  # as the sweep composes them: lr=fast is composed in full
        with pytest.raises(ConfigError, match=r"job 5 of the sweep \(lr=fast batch_size=8 .*lr must be a number"):
            validate_grid(study, jobs, loader)
        assert [cfg.lr for cfg in validate_grid(study, jobs[:5], loader)] == [0.1] * 5  # the good ones pass


# -- split sizes that do not fit the data set, before any folder or job -----------------------------

def test_split_sizes_that_do_not_fit_the_training_set_refuse_a_run_in_one_line(tmp_path, cli_in_process):
    """Before, a ValueError traceback once the data was loaded, and a run folder left behind."""
    stderr = refused(cli_in_process, tmp_path, ["data.train_size=59000", "epochs=1"], "mnist-hydra: error: ",
                     "data.train_size=59000 with data.val_size=5000 does not fit the 60000 training images")
    assert len(stderr.strip().splitlines()) == 1, stderr


def test_split_sizes_that_do_not_fit_refuse_a_sweep_before_any_job(tmp_path, cli_in_process):
    """The shipped sample has 5,000 training images: job 1's 4,950 + 100 do not fit."""
    refused(cli_in_process, tmp_path,
            ["--multirun", "data=mnist_sample", "data.val_size=100", "epochs=1", "data.train_size=300,4950"],
            "sweep refused before any job ran", "job 1", "does not fit the 5000 training images")


# -- data problems before any folder or job ------------------------------------------------------

SAMPLE = Path(__file__).resolve().parent.parent / "mnist_hydra" / "sample_data"


def data_root(tmp_path: Path, problem: str) -> Path:
    """A data.root with a problem: absent, a file, or holding files that are not full MNIST
    (the shipped sample's files under the full set's names: a checksum mismatch)."""
    root = tmp_path / "mnist"
    if problem == "a file":
        root.write_text("not a folder")
    elif problem == "corrupt":
        root.mkdir()
        for sample in SAMPLE.glob("*.gz"):
            (root / sample.name).write_bytes(sample.read_bytes())
    return root


DATA_PROBLEMS = [
    ("missing", "Pass data.download=true to fetch them"),
    ("a file", "is not a folder"),
    ("corrupt", "the file is corrupt or truncated. Delete the file and re-run with data.download=true"),
]


def test_a_data_problem_is_one_line_before_any_run_folder_in_a_real_process(tmp_path):
    problem, fix = DATA_PROBLEMS[0]
    root = data_root(tmp_path, problem)
    refused(run_cli, tmp_path, ["data=mnist", f"data.root={root}", "data.download=false", "epochs=1"], str(root), fix)


@pytest.mark.parametrize("problem, fix", DATA_PROBLEMS[1:])
def test_a_data_problem_is_one_line_before_any_run_folder(tmp_path, cli_in_process, problem, fix):
    root = data_root(tmp_path, problem)
    refused(cli_in_process, tmp_path, ["data=mnist", f"data.root={root}", "data.download=false", "epochs=1"],
            str(root), fix)


def test_a_data_problem_refuses_a_sweep_before_any_job(tmp_path, cli_in_process):
    root = data_root(tmp_path, "missing")
    refused(cli_in_process, tmp_path,
            ["--multirun", "data=mnist", f"data.root={root}", "data.download=false", "lr=0.1,0.01"],
            "sweep refused before any job ran", str(root), "data.download=true")


# -- --help is true --------------------------------------------------------------------------------

def test_help_lists_every_settable_key_with_its_real_default(tmp_path, cli_in_process):
    proc = cli_in_process(["--help"], cwd=tmp_path)  # through a real process: tests/test_package.py
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {line.split()[0]: line for line in proc.stdout.splitlines() if line.startswith("  ") and "[" in line}
    assert "required" not in proc.stdout
    for key, default in [("data.name", "[mnist]"), ("data.val_size", "[5000]"), ("epochs", "[2]"),
                         ("model.dropout", "[0.0; stabilized: 0.3]"), ("model.activation", "[relu; modernist: gelu]"),
                         ("model.kernel_size", "[3; high_vision: 5]"), ("transform.mean", "[0.5]"),
                         ("transform.std", "[0.5]"), ("transform.degrees", "[30.0]"), ("optimizer.momentum", "[0.9]")]:
        assert rows[key].endswith(default), rows.get(key)
    schema_keys = {f.name for f in fields(RunConfig) if f.name not in GROUP_SCHEMAS and f.name != "data"}
    assert schema_keys <= set(rows), schema_keys - set(rows)


# -- the same mistakes through the other commands --------------------------------------------------

OTHER_COMMANDS = [
    ("mnist_hydra.legacy", ["--lr", "fast"], 2, "--lr: lr must be a number, like lr=0.001"),
    ("mnist_hydra.legacy", ["--", "epoch=3"], 2, "did you mean epochs=3?"),
    ("mnist_hydra.eval", ["ckpt_pth=best.pt"], 1, "did you mean ckpt_path=best.pt?"),
    ("mnist_hydra.eval", ["ckpt_path=no/such/best.pt"], 1, "no such checkpoint file"),  # its folder removed
    ("mnist_hydra.summarize", ["no/such/sweep"], 2, "no such directory"),
]


def test_the_other_commands_refuse_in_one_line_in_a_real_process(tmp_path):
    """mnist-eval's; mnist-legacy's and mnist-summarize's through a real process: tests/test_legacy.py
    (test_zero_lr_exits_2_with_the_apps_message), tests/test_summarize.py (test_cli_module_runs)."""
    module, args, status, fix = OTHER_COMMANDS[2]
    refused(run_cli, tmp_path, args, fix, module=module, status=status)


@pytest.mark.parametrize("module, args, status, fix", [OTHER_COMMANDS[i] for i in (0, 1, 3, 4)])
def test_the_other_commands_refuse_in_one_line(tmp_path, cli_in_process, module, args, status, fix):
    refused(cli_in_process, tmp_path, args, fix, module=module, status=status)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run's best.pt."""
    run_dir = tmp_path_factory.mktemp("run")
    train(compose_config([*TINY, "device=cpu"]), run_dir)
    return run_dir / "best.pt"


def changed_checkpoint(checkpoint: Path, folder: Path, **config: Any) -> Path:
    """A copy of the checkpoint whose config has these top-level values changed."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state["config"].update(config)
    folder.mkdir(exist_ok=True)
    torch.save(state, folder / "best.pt")
    return folder / "best.pt"


ABSENT_DEVICE = "mps" if torch.cuda.is_available() else "cuda"


@pytest.mark.parametrize("problem", ["device", "precision", "data", "weights"])
def test_mnist_eval_refuses_every_user_error_in_one_line(tmp_path, cli_in_process, checkpoint, problem):
    """Before, an absent device, a bad precision, missing data or weights of another model were
    tracebacks; now each is the app's one line naming the fix, and no folder."""
    args, fix = {
        "device": ([f"device={ABSENT_DEVICE}"], f"device={ABSENT_DEVICE} requested but not available here"),
        "precision": (["precision=fp8"], "precision=fp8 must be one of 32-true, bf16-mixed"),
        "data": ([f"data_root={tmp_path / 'no-mnist'}"], "Pass data.download=true to fetch them"),
        "weights": ([], "its weights do not fit the model its config names"),
    }[problem]
    ckpt = checkpoint
    if problem == "data":  # full MNIST, from a folder that lacks it
        ckpt = changed_checkpoint(checkpoint, tmp_path / "ckpt", data={"name": "mnist", "root": "unused",
                                  "train_size": 300, "val_size": 100, "split_seed": 0, "download": False})
    elif problem == "weights":  # a config that names another model than the weights are of
        ckpt = changed_checkpoint(checkpoint, tmp_path / "ckpt",
                                  model={"_target_": "mnist_hydra.models.ExperimentalCNN"})
    stderr = refused(cli_in_process, tmp_path, [f"ckpt_path={ckpt}", *args], "mnist-eval: error: ", fix,
                     module="mnist_hydra.eval")
    assert len(stderr.strip().splitlines()) == 1, stderr


EXAMPLE_CONFIG = str(Path(__file__).resolve().parent.parent / "examples" / "legacy_config.yaml")


@pytest.mark.parametrize("flags, fixed", [
    ([], "optimizer and weight_decay stay fixed"),
    (["--optimizer", "adam", "sgd", "--weight_decay", "0", "1e-4"], None),
])
def test_legacy_says_when_a_config_grid_sweeps_less_than_the_old_tool(flags, fixed):
    warnings = build_command(["--config", EXAMPLE_CONFIG, "--grid_search", *flags]).warnings
    notes = [w for w in warnings if "sweeps fewer values than the old tool" in w]
    assert [fixed in note for note in notes] == ([True] if fixed else []), warnings
