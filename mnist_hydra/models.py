"""The report's five CNNs: the legacy SimpleCNN and the experimental family."""
import torch
from torch import nn

from mnist_hydra.config import Activation

_ACTIVATION_MODULES: dict[Activation, type[nn.Module]] = {
    Activation.relu: nn.ReLU,
    Activation.gelu: nn.GELU,
    Activation.silu: nn.SiLU,
    Activation.tanh: nn.Tanh,
}


class SimpleCNN(nn.Module):
    """Two unpadded 3x3 convs, one max-pool, a wide dense head (1,199,882 parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(),
            nn.Conv2d(32, 64, 3), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Linear(128, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class ExperimentalCNN(nn.Module):
    """conv-[BN]-act-pool twice, then a 128-unit head with dropout.

    baseline, stabilized, high_vision and modernist are settings of these four knobs.
    """

    def __init__(
        self,
        activation: str = "relu",
        batch_norm: bool = False,
        dropout: float = 0.0,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        act = _ACTIVATION_MODULES[Activation(activation)]

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2)]
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            return layers + [act(), nn.MaxPool2d(2)]

        self.features = nn.Sequential(*block(1, 16), *block(16, 32))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 7 * 7, 128), act(), nn.Dropout(dropout), nn.Linear(128, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters, as the report counts them."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
