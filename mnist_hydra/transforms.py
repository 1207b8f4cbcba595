"""Batch transforms on in-memory image tensors (no per-sample PIL round trip)."""
import math

import torch
import torch.nn.functional as F



class Standard:
    """Normalise a batch of images in [0, 1]: (x - mean) / std (values: StandardTransformConfig)."""

    def __init__(self, mean: float, std: float) -> None:
        self.mean = mean
        self.std = std

    def __call__(self, images: torch.Tensor, train: bool) -> torch.Tensor:
        return (images - self.mean) / self.std


class Augmented(Standard):
    """Random rotation (+/- degrees) and translation (+/- a fraction of the size), drawn
    per sample, on training batches only; evaluation batches are only normalised."""

    def __init__(self, degrees: float, translate: float, mean: float, std: float) -> None:
        super().__init__(mean, std)
        self.degrees = degrees
        self.translate = translate

    def __call__(self, images: torch.Tensor, train: bool) -> torch.Tensor:
        if train:
            images = self.random_affine(images)
        return super().__call__(images, train)

    def random_affine(self, images: torch.Tensor) -> torch.Tensor:
        """One affine_grid + grid_sample for the whole batch; zero padding is the black background."""
        n = images.shape[0]
        angle = (torch.rand(n, device=images.device) * 2 - 1) * math.radians(self.degrees)
        # affine_grid works in [-1, 1] coordinates, so a shift of t * size is 2 * t.
        shift = (torch.rand(n, 2, device=images.device) * 2 - 1) * (2 * self.translate)
        cos, sin = angle.cos(), angle.sin()
        theta = torch.stack(
            [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
        ).to(images.dtype)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
