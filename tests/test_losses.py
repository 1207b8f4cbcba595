import pytest
import torch

from mnist_hydra.losses import ManualCrossEntropy


def _value_and_grad(loss_fn, logits, target):
    logits = logits.clone().requires_grad_(True)
    loss = loss_fn(logits, target)
    loss.backward()
    return loss.detach(), logits.grad


@pytest.mark.parametrize("scale", [1.0, 10.0, 1e4])
def test_manual_matches_torch_in_value_and_gradient(scale):
    gen = torch.Generator().manual_seed(int(scale))
    logits = torch.randn(64, 10, generator=gen, dtype=torch.float64) * scale
    target = torch.randint(0, 10, (64,), generator=gen)
    ours = _value_and_grad(ManualCrossEntropy(), logits, target)
    ref = _value_and_grad(torch.nn.CrossEntropyLoss(), logits, target)
    torch.testing.assert_close(ours[0], ref[0], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(ours[1], ref[1], atol=1e-6, rtol=1e-6)


def test_extreme_logits_stay_finite_where_naive_log_softmax_does_not():
    logits = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 3.0], [1e4, 1e4, -1e4]])
    target = torch.tensor([1, 1, 0])
    naive = -torch.log(torch.softmax(logits, 1)).gather(1, target[:, None]).mean()
    assert not torch.isfinite(naive)
    value, grad = _value_and_grad(ManualCrossEntropy(), logits, target)
    ref_value, ref_grad = _value_and_grad(torch.nn.CrossEntropyLoss(), logits, target)
    assert torch.isfinite(value) and torch.isfinite(grad).all()
    torch.testing.assert_close(value, ref_value, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(grad, ref_grad, atol=1e-6, rtol=1e-6)
