"""An exponential moving average of the generator's weights (`training.ema_decay`).

After every generator step, ema = decay * ema + (1 - decay) * live, for parameters and buffers
(batch-norm statistics) alike; samples drawn from the average are smoother and often better
than from the live weights (Karras et al. 2018, Yazici et al. 2019). A run that keeps one
samples from it by default. torch.optim.swa_utils.AveragedModel does the averaging.

A generator with batch norm samples in eval mode from running statistics, and an average of the
live networks' statistics does not fit the averaged weights. So before sampling, such an
averaged generator's statistics are measured again on its own activations (`standing_statistics`,
BigGAN's "standing statistics", with torch.optim.swa_utils.update_bn) from fixed codings; the
average kept for resuming is left as it is.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn

STANDING_BATCHES = 100  # batches of codings that measure an averaged generator's batch-norm statistics


def generator_average(generator: nn.Module, decay: float) -> AveragedModel:
    """An averaged copy of `generator`, updated by `.update_parameters(generator)` after each step."""
    return AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def averaged_state(average: AveragedModel) -> dict[str, torch.Tensor]:
    """The averaged generator's weights, named as the generator's own (without AveragedModel's prefix)."""
    return {name[len("module."):]: value for name, value in average.state_dict().items() if name.startswith("module.")}


class _Generating(nn.Module):
    """`network` as model.generate runs it (labels drawn for a conditional GAN), for update_bn; the
    model is held outside the module tree, so that update_bn touches `network`'s statistics only."""

    def __init__(self, model, network: nn.Module, draws: torch.Generator):
        super().__init__()
        self.network, self._outside = network, (model, draws)

    def forward(self, codings: torch.Tensor) -> torch.Tensor:
        model, draws = self._outside
        labels = model.random_labels(len(codings), generator=draws)
        return model.generate(codings, None if labels is None else labels.to(codings.device), self.network)


def standing_statistics(model, network: nn.Module, batch_size: int, seed: int = 0) -> bool:
    """Measure the batch-norm statistics of `network` (a GAN's averaged generator, in place) on its
    own activations: STANDING_BATCHES batches of `batch_size` codings drawn from `seed`, in
    training mode (the statistics the live generator learned under), then eval mode. Whether it
    has batch norm (without, nothing changes)."""
    if not any(isinstance(module, _BatchNorm) for module in network.modules()):
        return False
    draws = torch.Generator().manual_seed(seed)
    device = next(network.parameters()).device
    codings = [torch.randn(batch_size, model.config.coding_size, generator=draws).to(device)
               for _ in range(STANDING_BATCHES)]
    with torch.no_grad():
        update_bn(codings, _Generating(model, network, draws), device=device)
    network.eval()
    return True
