"""A real sweep as a person sees it: TensorBoard's HParams tab through TensorBoard's own HTTP
API, and a float range's values as typed (0.009) wherever the summary shows them."""
import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import TINY, cli_env, csv_rows, run_cli, summary_rows, sweep_metrics, tensorboard_run

pytestmark = pytest.mark.slow
# Hydra's float range gives 0.001, 0.005, 0.009000000000000001; test=false as in the report's studies.
SWEEP = ["lr=range(0.001,0.01,0.004)", "batch_size=16,32", "test=false", "limit_train_batches=2"]
EXACT, SHOWN = "0.009000000000000001", "0.009"


@pytest.fixture(scope="module")
def range_sweep(tmp_path_factory) -> tuple[Path, str]:
    workdir = tmp_path_factory.mktemp("range")
    sweep = workdir / "sweep"
    proc = run_cli(["--multirun", *SWEEP, *TINY, f"hydra.sweep.dir={sweep}"], cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return sweep, proc.stdout


def test_a_float_range_shows_as_typed_in_the_summary_and_run_names(range_sweep) -> None:
    sweep, stdout = range_sweep
    (job,) = [j for j, m in sweep_metrics(sweep).items() if {f"lr={EXACT}", "batch_size=16"} <= set(m["overrides"])]
    assert f"lr={EXACT}" in yaml.safe_load((sweep / str(job) / ".hydra/overrides.yaml").read_text())  # exact there
    assert tensorboard_run(sweep / str(job)).name == f"batch_size=16,lr={SHOWN}"

    assert {row["lr"] for row in summary_rows(sweep)} == {"0.001", "0.005", SHOWN}
    assert [row["lr \\ batch_size"] for row in csv_rows(sweep / "pivot.csv")] == ["0.001", "0.005", SHOWN]
    markdown = (sweep / "summary.md").read_text()
    assert f"| {SHOWN} |" in markdown and EXACT not in markdown
    ours = [line for line in stdout.splitlines() if not line.startswith("[20")]  # Hydra's own log lines aside
    assert any(f"lr={SHOWN} batch_size=16" in line for line in ours)  # the progress line
    assert EXACT not in "\n".join(ours)
    # One epoch: no curves.png (a column of dots says nothing the heatmap does not).
    assert (sweep / "summary.png").exists() and not (sweep / "curves.png").exists()


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/json", "X-XSRF-Protected": "1"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def tensorboard(range_sweep, tmp_path):
    """`tensorboard --logdir <sweep>` on a free port of 127.0.0.1; its base URL."""
    proc = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(range_sweep[0]),
                             "--host", "127.0.0.1", "--port", "0"], env=cli_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:  # "TensorBoard 2.x at http://127.0.0.1:PORT/ (Press CTRL+C to quit)"
            if match := re.search(r"http://127\.0\.0\.1:\d+", line):
                yield match.group(0)
                break
        else:
            pytest.fail("TensorBoard did not start")
    finally:
        proc.kill()
        proc.wait()


def test_hparams_api_marks_the_swept_keys_and_shows_no_unmeasured_test_acc(tensorboard) -> None:
    request = {"experimentName": "", "startIndex": 0, "sliceSize": 100,
               "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
               "colParams": [{"hparam": "lr"}, {"metric": {"group": "", "tag": "hparam/best_val_acc"}}]}
    deadline = time.monotonic() + 60
    while len(groups := _post(f"{tensorboard}/data/plugin/hparams/session_groups", request)["sessionGroups"]) < 6:
        assert time.monotonic() < deadline, groups  # TensorBoard loads the logdir in the background
        time.sleep(0.5)
    assert sorted({group["hparams"]["lr"] for group in groups}) == [0.001, 0.005, float(SHOWN)]
    for group in groups:
        tags = {value["name"]["tag"] for value in group["metricValues"]}
        assert "hparam/best_val_acc" in tags and "hparam/test_acc" not in tags  # test=false: not 0

    experiment = _post(f"{tensorboard}/data/plugin/hparams/experiment", {"experimentName": ""})
    infos = experiment["hparamInfos"]
    assert [info["name"] for info in infos if info.get("differs")] == ["batch_size", "lr"]
    assert [info["name"] for info in infos[:2]] == ["batch_size", "lr"]  # shown first
    assert {"data", "epochs", "model", "optimizer", "seed", "test"} <= {info["name"] for info in infos}  # available
    metrics = {info["name"]["tag"] for info in experiment["metricInfos"]}
    assert {"hparam/best_val_acc", "hparam/best_epoch", "hparam/train_time_s"} <= metrics
    assert "hparam/test_acc" not in metrics
