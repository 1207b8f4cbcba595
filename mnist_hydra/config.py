"""Dataclass schemas for every config group, registered in Hydra's ConfigStore.

The YAML files in conf/ fill these schemas, so a wrong type, an unknown key or an
out-of-list name fails when Hydra composes the config, before any work starts.
Value ranges that a type cannot express are checked by `validate` right after.
"""
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Optional, Sequence

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import II, MISSING, DictConfig, OmegaConf

_PACKAGE = Path(__file__).resolve().parent
# The project keeps its configs in the top-level conf/; a wheel ships that folder inside
# the package as mnist_hydra/conf (pyproject.toml maps it), so look there first. Built from
# __file__, not relative to the caller, so console scripts work from any folder.
CONFIG_DIR = str(next(p for p in (_PACKAGE / "conf", _PACKAGE.parent / "conf") if p.is_dir()))


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class Activation(str, Enum):
    """Activations the experimental CNN family can use (models.py maps them to modules)."""

    relu = "relu"
    gelu = "gelu"
    silu = "silu"
    tanh = "tanh"


class DatasetName(str, Enum):
    mnist = "mnist"
    mnist_sample = "mnist_sample"


@dataclass
class SimpleCNNConfig:
    _target_: str = "mnist_hydra.models.SimpleCNN"


@dataclass
class ExperimentalCNNConfig:
    _target_: str = "mnist_hydra.models.ExperimentalCNN"
    activation: Activation = Activation.relu
    batch_norm: bool = False
    dropout: float = 0.0
    kernel_size: int = 3


@dataclass
class SGDConfig:
    _target_: str = "torch.optim.SGD"
    _partial_: bool = True  # the model's parameters are bound at run time
    lr: float = II("lr")
    weight_decay: float = II("weight_decay")
    momentum: float = 0.9


@dataclass
class AdamConfig:
    _target_: str = "torch.optim.Adam"
    _partial_: bool = True
    lr: float = II("lr")
    weight_decay: float = II("weight_decay")


@dataclass
class CriterionConfig:
    _target_: str = MISSING


@dataclass
class StandardTransformConfig:
    _target_: str = "mnist_hydra.transforms.Standard"
    mean: float = 0.1307
    std: float = 0.3081


@dataclass
class AugmentedTransformConfig(StandardTransformConfig):
    _target_: str = "mnist_hydra.transforms.Augmented"
    degrees: float = 30.0
    translate: float = 0.1


@dataclass
class DataConfig:
    name: DatasetName = DatasetName.mnist
    root: str = "${oc.env:MNIST_ROOT,./data}"  # an explicit data.root=... wins over $MNIST_ROOT
    train_size: Optional[int] = None  # null: every image not used for validation
    val_size: Optional[int] = None  # null: every image not used for training
    split_seed: int = 0  # independent of `seed`: every run of a sweep sees the same images
    download: bool = True


@dataclass
class RunConfig:
    model: Any = MISSING
    optimizer: Any = MISSING
    criterion: Any = MISSING
    transform: Any = MISSING
    data: DataConfig = MISSING
    lr: float = 0.001
    batch_size: int = 16
    weight_decay: float = 1e-5
    seed: Optional[int] = 42  # null: draw one and record it in metrics.json
    epochs: int = 2
    device: Device = Device.auto
    deterministic: bool = False  # torch.use_deterministic_algorithms
    # Evaluation batches small enough for the activations to stay in cache: on CPU 128 runs
    # 1.8-2.9x faster than 1000 (SimpleCNN and Stabilized over the 10,000 test images).
    eval_batch_size: int = 128
    # NHWC convolutions: faster on CPU (1.1-1.7x per step, benchmarks/README.md), same results
    # up to float rounding; false gives the plain NCHW layout.
    channels_last: bool = True
    threads: Optional[int] = None  # null: SLURM_CPUS_PER_TASK, else usable cores / parallel jobs
    resume: bool = False  # skip jobs whose folder holds a finished run of the same config


def register_configs() -> None:
    """Register the schemas the YAML files in conf/ extend (`defaults: [base_...]`)."""
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=RunConfig)
    cs.store(group="model", name="base_simple_cnn", node=SimpleCNNConfig)
    cs.store(group="model", name="base_experimental_cnn", node=ExperimentalCNNConfig)
    cs.store(group="optimizer", name="base_sgd", node=SGDConfig)
    cs.store(group="optimizer", name="base_adam", node=AdamConfig)
    cs.store(group="criterion", name="base_criterion", node=CriterionConfig)
    cs.store(group="transform", name="base_standard", node=StandardTransformConfig)
    cs.store(group="transform", name="base_augmented", node=AugmentedTransformConfig)
    cs.store(group="data", name="base_data", node=DataConfig)


class ConfigError(ValueError):
    """A config value that type-checks but cannot work (e.g. a negative learning rate)."""


def validate(cfg: DictConfig) -> None:
    """Reject values a schema type cannot rule out, naming the key and the allowed range."""
    checks = [
        ("lr", cfg.lr > 0, "must be > 0"),
        ("weight_decay", cfg.weight_decay >= 0, "must be >= 0"),
        ("batch_size", cfg.batch_size >= 1, "must be >= 1"),
        ("epochs", cfg.epochs >= 1, "must be >= 1"),
        ("eval_batch_size", cfg.eval_batch_size >= 1, "must be >= 1"),
        ("threads", cfg.threads is None or cfg.threads >= 1, "must be >= 1 or null"),
        ("data.train_size", cfg.data.train_size is None or cfg.data.train_size >= 1, "must be >= 1 or null"),
        ("data.val_size", cfg.data.val_size is None or cfg.data.val_size >= 1, "must be >= 1 or null"),
    ]
    if "dropout" in cfg.model:
        checks.append(("model.dropout", 0 <= cfg.model.dropout < 1, "must be in [0, 1)"))
    if "kernel_size" in cfg.model:
        checks.append(("model.kernel_size", cfg.model.kernel_size in (1, 3, 5, 7), "must be 1, 3, 5 or 7"))
    problems = [f"{key}={OmegaConf.select(cfg, key)} {rule}" for key, ok, rule in checks if not ok]
    if problems:
        raise ConfigError("invalid config: " + "; ".join(problems))


def group_options(group: str) -> list[str]:
    """The options of a config group: its YAML files in conf/<group>/ (not the base_* schemas)."""
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml"))


def compose_config(overrides: Sequence[str] = (), return_hydra_config: bool = False) -> DictConfig:
    """The config a run with these overrides gets, composed in-process (no run, no folders)."""
    register_configs()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=return_hydra_config)
