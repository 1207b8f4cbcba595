"""Value checks after Hydra composed a config: keys no schema has (`check_keys`), ranges a type
cannot express (`validate`), the training/validation split against the data set's images
(`split_sizes`, TRAIN_IMAGES) and a schema picked as a group option (`check_choices`)."""
import math
from typing import Any, Mapping, Optional, cast

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError

from mnist_hydra.config.compose import group_options
from mnist_hydra.config.errors import ConfigError, shown, unknown_key
from mnist_hydra.config.schemas import GROUP_SCHEMAS, SCHEMA_PREFIX, DatasetName, RunConfig

# The images in each data set's training file, which the training and validation splits are
# carved from: stated once, here, so that a config is checked without loading the data (or
# torch). The files' pinned checksums fix these counts; tests/test_data.py checks them.
TRAIN_IMAGES = {DatasetName.mnist: 60_000, DatasetName.mnist_sample: 5_000}

PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")  # Lightning's names


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
        raise ConfigError(f"data.train_size={shown(train_size)} with data.val_size={shown(val_size)} does not fit "
                          f"the {images} training images: each split needs at least 1, the two at most {images} "
                          "together (null: the rest)")
    return train, val


def check_choices(choices: Mapping[str, Optional[str]]) -> None:
    """Refuse a group option that is an internal schema (`model=base_simple_cnn`): it is
    registered in the group only for the YAML files to extend."""
    for group, choice in choices.items():
        if choice and str(choice).startswith(SCHEMA_PREFIX):
            raise ConfigError(f"{group}={choice} is an internal schema, not an option; "
                              f"options: {', '.join(group_options(group))}")
