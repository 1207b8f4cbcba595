"""Train/validation splits carved from the MNIST training set."""

from __future__ import annotations

import torch

from mnist_hydra.config import split_sizes


def split_indices(
    n: int, train_size: int | None, val_size: int | None, split_seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint train/val index tensors carved from range(n) by a permutation seeded with split_seed.

    The sizes are config.split_sizes' (the rule `validate` checks a config by; a ConfigError
    when they do not fit). The permutation comes from its own torch.Generator, so it does not
    depend on the run seed.
    """
    train_size, val_size = split_sizes(n, train_size, val_size)
    permutation = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed))
    # Validation comes first, so the val set stays the same when only train_size is swept.
    return permutation[val_size : val_size + train_size], permutation[:val_size]
