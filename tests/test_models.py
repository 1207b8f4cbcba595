import pytest
import torch

from hydra.utils import instantiate

from conftest import compose_config
from mnist_hydra.models import count_parameters


@pytest.mark.parametrize("name, params", [
    ("simple_cnn", 1_199_882),
    ("baseline", 206_922),
    ("stabilized", 207_018),
    ("high_vision", 215_370),
    ("modernist", 206_922),
])
def test_parameter_counts_match_the_report(name, params):
    model = instantiate(compose_config([f"model={name}"]).model)
    assert count_parameters(model) == params
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_family_knobs_compose_a_new_variant_from_the_command_line():
    cfg = compose_config(["model=baseline", "model.activation=silu", "model.batch_norm=true",
                          "model.dropout=0.5", "model.kernel_size=7"])
    model = instantiate(cfg.model)
    layers = [type(m).__name__ for m in model.modules()]
    assert "SiLU" in layers and "BatchNorm2d" in layers and "ReLU" not in layers
    assert model.features[0].kernel_size == (7, 7)
    assert model.classifier[3].p == 0.5
    assert model(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


def test_modernist_uses_gelu_and_stabilized_uses_batchnorm_and_dropout():
    modernist = instantiate(compose_config(["model=modernist"]).model)
    assert {type(m).__name__ for m in modernist.modules()} >= {"GELU"}
    stabilized = instantiate(compose_config(["model=stabilized"]).model)
    kinds = [type(m).__name__ for m in stabilized.modules()]
    assert kinds.count("BatchNorm2d") == 2 and stabilized.classifier[3].p == 0.3
