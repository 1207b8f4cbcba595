import pickle
import subprocess
import sys

import pytest
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf import OmegaConf

from conftest import REPO, cli_env, compose_config, multirun
from mnist_hydra.config import ConfigError, GridConfigLoader, validate


def test_defaults_are_the_original_tools_config_values():
    cfg = compose_config()
    assert (cfg.lr, cfg.batch_size, cfg.weight_decay, cfg.seed) == (0.001, 16, 1e-5, 42)
    assert cfg.model._target_ == "mnist_hydra.models.SimpleCNN"
    assert cfg.optimizer._target_ == "torch.optim.SGD" and cfg.optimizer.momentum == 0.9
    assert cfg.criterion._target_ == "torch.nn.CrossEntropyLoss"
    assert cfg.transform._target_ == "mnist_hydra.transforms.Standard"
    assert cfg.data.name.value == "mnist"


def test_optimizers_follow_top_level_lr_and_weight_decay():
    cfg = compose_config(["optimizer=adam", "lr=0.01", "weight_decay=0.0001"])
    assert cfg.optimizer._target_ == "torch.optim.Adam"
    assert (cfg.optimizer.lr, cfg.optimizer.weight_decay) == (0.01, 0.0001)


@pytest.mark.parametrize("override, message", [
    ("lr=fast", "lr"),
    ("batch_size=1.5", "batch_size"),
    ("device=tpu", "device"),
    ("model.activation=swish", "activation"),
    ("data.name=cifar", "name"),
    ("unknown_key=1", "unknown_key"),
    ("model.dropout=0.1", "dropout"),  # simple_cnn has no dropout knob
])
def test_wrong_types_values_and_unknown_keys_fail_at_compose_time(override, message):
    with pytest.raises(ConfigCompositionException) as err:
        compose_config([override])
    assert message in str(err.value) + str(err.value.__cause__)


@pytest.mark.parametrize("override", ["model=resnet", "optimizer=rmsprop", "criterion=mse", "transform=crop"])
def test_unknown_group_options_fail_and_list_the_valid_ones(override):
    with pytest.raises(MissingConfigException) as err:
        compose_config([override])
    group = override.split("=")[0]
    assert "Available options" in str(err.value) and group in str(err.value)


@pytest.mark.parametrize("overrides, problem", [
    (["lr=-0.1"], "lr=-0.1 must be a finite number > 0"),
    (["epochs=0"], "epochs=0 must be >= 1"),
    (["model=stabilized", "model.dropout=1.5"], "model.dropout=1.5 must be in [0, 1)"),
    (["data.val_size=0"], "data.val_size=0 must be >= 1 or null"),
])
def test_out_of_range_values_are_rejected_before_training(overrides, problem):
    with pytest.raises(ConfigError, match=problem.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        validate(compose_config(overrides))


def _expand(experiment: str, extra: tuple[str, ...] = ()) -> list[list[str]]:
    """The jobs Hydra's basic sweeper makes of an experiment's search space, without running them."""
    cfg = compose_config([f"+experiment={experiment}", *extra], return_hydra_config=True)
    params = [f"{key}={value}" for key, value in cfg.hydra.sweeper.params.items()]
    batches = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(params), None)
    return [job for batch in batches for job in batch]


@pytest.mark.parametrize("experiment, jobs, fixed", [
    ("lr_batch_grid", 20, {"epochs": 20, "weight_decay": 0.0, "data.train_size": 800, "data.val_size": 100,
                           "optimizer._target_": "torch.optim.Adam"}),
    ("optimizer_wd", 8, {"batch_size": 8, "epochs": 20, "data.train_size": 800}),
    ("architectures", 5, {"lr": 0.001, "batch_size": 16, "epochs": 50, "data.train_size": 6000,
                          "data.val_size": 1000, "optimizer._target_": "torch.optim.SGD"}),
    ("seeds", 6, {"epochs": 50, "data.train_size": 400, "data.val_size": 30,
                  "model._target_": "mnist_hydra.models.ExperimentalCNN", "model.batch_norm": True}),
    ("augmentation", 2, {"epochs": 50, "data.train_size": 400, "data.val_size": 30}),
])
def test_every_study_composes_and_expands_to_the_reports_runs(experiment, jobs, fixed):
    expanded = _expand(experiment)
    assert len(expanded) == jobs
    for job in expanded:
        cfg = compose_config([f"+experiment={experiment}", *job])
        validate(cfg)
        for key, value in fixed.items():
            node = cfg
            for part in key.split("."):
                node = node[part]
            assert node == value, (experiment, key)


def test_study_settings_stay_overridable_and_seed_repetitions_are_distinct_jobs():
    assert compose_config(["+experiment=lr_batch_grid", "epochs=2"]).epochs == 2
    seeds = [job[0] for job in _expand("seeds")]
    assert seeds == ["seed=42"] * 3 + ["seed=null"] * 3
    assert {job[0] for job in _expand("lr_batch_grid")} == {"lr=0.0001", "lr=0.001", "lr=0.01", "lr=0.1"}


def test_a_grids_jobs_get_what_hydra_composes_with_one_composition_per_set_of_other_overrides(monkeypatch):
    """config.GridConfigLoader: jobs alike but for plain `key=value` overrides (hydra.sweep.subdir
    included) share one composition; every job's config equals Hydra's own composition of it,
    whatever the kind of override; a value that does not fit gets Hydra's error; a copy pickled
    with a job (joblib, submitit) composes nothing for the jobs the grid check composed."""
    grid = [["+experiment=lr_batch_grid", f"lr={lr}", f"batch_size={batch}", "epochs=5"]
            for lr in (0.001, 0.1) for batch in (8, 16)]
    rung = [[*job, "stop_at_epoch=3", "resume=true", f"hydra.sweep.subdir={n}"] for n, job in enumerate(grid)]
    others = [["model=baseline", "lr=1e-3", "data.train_size=300"], ["optimizer=sgd", "optimizer.momentum=0.5"],
              ["data.root=/x", "seed=null", "test=false"], ["+launcher=local", "lr=0.5"], ["~seed", "lr=0.2"],
              ["++lr=0.3", "lr=0.2"], ["lr=0.2", "++lr=0.3"], ["hydra.job.chdir=true", "lr=0.1"],
              ["hydra/job_logging=disabled", "lr=0.1", "hydra.sweep.subdir=x"]]
    with multirun(["hydra/sweeper=halving", "hydra.sweep.dir=/sweep", "hydra.job.env_copy=[HOME]"]) as (hydra, master):
        def tree(cfg):
            return OmegaConf.is_struct(cfg), OmegaConf.to_container(cfg, resolve=False)

        expected = {tuple(job): tree(hydra.load_sweep_config(master, job)) for job in grid + rung + others}
        loader = GridConfigLoader(hydra)
        for job in grid + rung + others:
            assert tree(loader.load_sweep_config(master, job)) == expected[tuple(job)], job
        assert list(loader.compositions)[:2] == [("+experiment=lr_batch_grid",), ("model=baseline",)]
        assert len(loader.compositions) == 1 + 6  # ++lr clashes with lr: both orders composed in full
        with pytest.raises(ConfigCompositionException, match="batch_size=1.5"):
            loader.load_sweep_config(master, ["+experiment=lr_batch_grid", "batch_size=1.5"])

        shipped = pickle.loads(pickle.dumps(loader))
        monkeypatch.setattr(ConfigLoaderImpl, "load_configuration", lambda *args, **kwargs: pytest.fail("composed"))
        for job in rung:
            assert tree(shipped.load_sweep_config(master, job)) == expected[tuple(job)], job




def test_what_each_job_receives_does_not_grow_with_the_sweeps_group_combinations():
    """5 models x 2 optimizers x 2 transforms x 2 criteria x 2 lr: 40 compositions in the grid
    check; the loader pickled with each job carries 8 of them (all 40: 699 kB, measured)."""
    from mnist_hydra.config.grid import SHIPPED_COMPOSITIONS

    sweep = ["model=simple_cnn,baseline,stabilized,high_vision,modernist", "optimizer=adam,sgd",
             "transform=standard,augmented", "criterion=cross_entropy,manual", "lr=0.001,0.01"]
    with multirun(sweep) as (hydra, master):
        jobs = [job for batch in BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(sweep), None)
                for job in batch]
        loader = GridConfigLoader(hydra)
        for job in jobs:
            loader.load_sweep_config(master, job)
        assert len(jobs) == 80 and len(loader.compositions) == 40
        shipped = pickle.loads(pickle.dumps(loader))
        assert list(shipped.compositions) == list(loader.compositions)[:SHIPPED_COMPOSITIONS]
        assert len(pickle.dumps(loader)) < 200_000
        # A job whose composition stayed behind gets Hydra's own composition all the same.
        late = jobs[-1]
        assert OmegaConf.to_container(shipped.load_sweep_config(master, late), resolve=False) == \
            OmegaConf.to_container(hydra.load_sweep_config(master, late), resolve=False)


def test_importing_the_config_again_keeps_its_resolvers(tmp_path):
    """config.py and folders.py register their `${mnist_hydra.*:}` resolvers once, however often
    they are imported (a reload used to fail: resolver already registered)."""
    script = ("import importlib; from omegaconf import OmegaConf; import mnist_hydra.config as config; "
              "import mnist_hydra.rundir.folders as folders; importlib.reload(config); folders.register_resolver(); "
              "importlib.reload(folders); folders.register_resolver(); "
              "print(OmegaConf.has_resolver('mnist_hydra.help'), OmegaConf.has_resolver('mnist_hydra.unique_dir'))")
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=cli_env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["True", "True"]
