"""Train/validation splits carved from the MNIST training set."""

from __future__ import annotations

import torch


def split_indices(
    n: int, train_size: int | None, val_size: int | None, split_seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint train/val index tensors carved from range(n) by a permutation seeded with split_seed.

    val_size None -> every index not used for training; train_size None -> every index not
    used for validation; both None -> 10% (rounded down) for validation, the rest for training.
    The permutation comes from its own torch.Generator, so it does not depend on the run seed.
    """
    if val_size is None:
        val_size = n // 10 if train_size is None else n - train_size
    if train_size is None:
        train_size = n - val_size
    if train_size < 1 or val_size < 1 or train_size + val_size > n:
        raise ValueError(
            f"Invalid split: train_size={train_size}, val_size={val_size} for n={n}; "
            "both must be >= 1 and train_size + val_size <= n."
        )
    permutation = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed))
    # Validation comes first, so the val set stays the same when only train_size is swept.
    return permutation[val_size : val_size + train_size], permutation[:val_size]
