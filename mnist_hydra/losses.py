"""The project's own cross-entropy (the report's `manual` criterion)."""
import torch
from torch import nn


class ManualCrossEntropy(nn.Module):
    """Mean negative log-likelihood of softmax(logits), computed stably.

    A naive log(softmax(x)) overflows for large logits (exp(1e4) = inf) and gives
    log(0) = -inf for very negative ones; subtracting the row maximum before the
    exponent (log-sum-exp trick) keeps every term finite.
    """

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # The shift is a constant for the gradient: d/dx of logsumexp does not depend on it.
        shift = logits.max(dim=1, keepdim=True).values.detach()
        shifted = logits - shift
        log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
        return -log_probs.gather(1, target.unsqueeze(1)).mean()
