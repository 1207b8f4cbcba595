"""Optuna search (`+hparams_search=optuna`) on the shipped sample."""
import csv
import json
from pathlib import Path

import pytest
import yaml

from conftest import TINY, run_cli

pytestmark = pytest.mark.slow
pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="pip install -e '.[search]'")

SEARCH = ["+hparams_search=optuna", "hydra.sweeper.n_trials=4"]
SWEPT = ("lr", "batch_size", "optimizer", "weight_decay")
# TINY less batch_size and optimizer, which the search chooses.
FIXED = [o for o in TINY if not o.startswith(("batch_size=", "optimizer="))]


def _trials(sweep: Path) -> list[tuple[dict[str, str], dict]]:
    """(sampled overrides, metrics.json) by trial number (= job folder)."""
    out = []
    for job in sorted((int(d.name) for d in sweep.iterdir() if d.name.isdigit())):
        overrides = yaml.safe_load((sweep / str(job) / ".hydra" / "overrides.yaml").read_text())
        params = dict(o.split("=", 1) for o in overrides if o.split("=", 1)[0] in SWEPT)
        out.append((params, json.loads((sweep / str(job) / "metrics.json").read_text())))
    return out


def _summary_rows(sweep: Path) -> list[dict[str, str]]:
    with open(sweep / "summary.csv") as f:
        return list(csv.DictReader(f))


def _search(tmp_path: Path, name: str, *extra: str):
    sweep = tmp_path / name
    # A key both fixed and given a search space stays fixed: the extra ones replace FIXED's.
    keys = {o.split("=", 1)[0] for o in extra}
    fixed = [o for o in FIXED if o.split("=", 1)[0] not in keys]
    proc = run_cli(["--multirun", *SEARCH, *fixed, *extra, f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    return sweep, proc


def test_an_optuna_search_is_reproducible_and_summarized(tmp_path):
    first, proc = _search(tmp_path, "first")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    second, proc2 = _search(tmp_path, "second")
    assert proc2.returncode == 0, proc2.stdout[-3000:] + proc2.stderr[-3000:]

    a, b = _trials(first), _trials(second)
    assert len(a) == 4 and [params for params, _ in a] == [params for params, _ in b]
    assert all(set(params) == set(SWEPT) for params, _ in a)
    assert len({tuple(sorted(params.items())) for params, _ in a}) > 1, "the search sampled one point"
    assert all(0.0001 <= float(params["lr"]) <= 0.1 for params, _ in a)
    for (_, ma), (_, mb) in zip(a, b, strict=True):
        assert ma["status"] == mb["status"] == "completed"
        # same sampled config, seed and threads: the same numbers, not merely close ones
        assert (ma["best_val_acc"], ma["final_train_loss"]) == (mb["best_val_acc"], mb["final_train_loss"])

    results = yaml.safe_load((first / "optimization_results.yaml").read_text())
    assert set(results["best_params"]) == set(SWEPT)
    best_job = max(range(4), key=lambda j: a[j][1]["best_val_acc"])
    assert results["best_value"] == pytest.approx(a[best_job][1]["best_val_acc"])

    rows = _summary_rows(first)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"completed"}
    assert set(SWEPT) <= set(rows[0])
    assert float(rows[0]["best_val_acc"]) == pytest.approx(results["best_value"])
    assert "Optuna best" in proc.stdout and "Best:" in proc.stdout
    assert (first / "summary.md").exists()

    # Resumed into that folder with another space: trials 0 and 1 sample other configs, whose
    # folders hold the first search's runs. Those stay; the sweep says the new trials never ran.
    before = {job: (first / str(job) / "metrics.json").read_bytes() for job in range(4)}
    changed = run_cli(["--multirun", *SEARCH, *FIXED, "hydra.sweeper.n_trials=2", "resume=true",
                       "lr=tag(log,interval(0.002,0.003))", f"hydra.sweep.dir={first}"], cwd=tmp_path)
    assert changed.returncode == 1, changed.stdout[-3000:] + changed.stderr[-3000:]  # before: 0
    assert {job: (first / str(job) / "metrics.json").read_bytes() for job in range(4)} == before
    rows = {r["job"]: r for r in _summary_rows(first)}
    assert [rows[job]["status"] for job in "0123"] == ["other config", "other config", "completed", "completed"]
    assert 0.002 <= float(rows["0"]["lr"]) <= 0.003 and "never ran" in rows["0"]["error"]


def test_failed_trials_do_not_stop_the_study_and_are_marked_in_the_summary(tmp_path):
    # Half the sampled train sizes cannot be carved from the sample: those trials fail.
    sweep, proc = _search(tmp_path, "sweep", "data.train_size=choice(300,999999)")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]  # some trial failed
    trials = _trials(sweep)
    assert len(trials) == 4, "the study stopped early"
    statuses = {m["status"] for _, m in trials}
    assert statuses == {"completed", "failed"}, f"the seed should sample both train sizes: {statuses}"
    rows = _summary_rows(sweep)
    assert {r["job"]: r["status"] for r in rows} == {str(j): m["status"] for j, (_, m) in enumerate(trials)}
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_value"] > 0  # a failed trial counts as 0.0
