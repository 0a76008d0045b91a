"""An exponential moving average of the generator's weights (`training.ema_decay`).

After every generator step, ema = decay * ema + (1 - decay) * live, for parameters and buffers
(batch-norm statistics) alike; samples drawn from the average are smoother and often better
than from the live weights (Karras et al. 2018, Yazici et al. 2019). A run that keeps one
samples from it by default. torch.optim.swa_utils.AveragedModel does the averaging.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def generator_average(generator: nn.Module, decay: float) -> AveragedModel:
    """An averaged copy of `generator`, updated by `.update_parameters(generator)` after each step."""
    return AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def averaged_state(average: AveragedModel) -> dict[str, torch.Tensor]:
    """The averaged generator's weights, named as the generator's own (without AveragedModel's prefix)."""
    return {name[len("module."):]: value for name, value in average.state_dict().items() if name.startswith("module.")}
