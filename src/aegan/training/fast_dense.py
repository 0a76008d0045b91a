"""A hand-derived SGD step for dense autoencoders: the same update as autograd + torch.optim.SGD.

Small dense models are bound by per-operation overhead, not by FLOPs. This step runs the
forward pass with in-place activations, back-propagates with one fused kernel per layer
(`elu_backward` is SELU's derivative from its output; training/private_ops.py resolves these
private operators, with public fallbacks) and applies each weight's update
inside the matrix product that computes its gradient (`W.addmm_(g.T, h, alpha=-lr)`), so no
gradient tensor is stored and no optimizer runs: about 25 kernel launches per step.
tests/test_fast_dense.py checks it against the autograd path.
"""

from __future__ import annotations

import torch
from torch import nn

from aegan.runtime import keep_freed_memory
from aegan.training import private_ops

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_REDUCTION_SUM = 2  # at::Reduction::Sum


def supports(model: nn.Module, training) -> bool:
    """Whether `model` trained with `training` (a TrainingConfig) can take the fast step: plain SGD,
    an untied dense autoencoder without noise or sparsity, SELU, ReLU or linear layers, and sigmoid
    outputs with binary cross-entropy or linear ones with MSE. (Any input shape: it is flattened.)"""
    from aegan.models.autoencoders import DenseAutoencoder

    if type(model) is not DenseAutoencoder:
        return False
    config = model.config
    return (
        training.optimizer == "sgd"
        and training.momentum == 0.0
        and not config.tied
        and (config.input_noise == "none" or config.noise_level == 0)
        and config.sparsity == "none"
        and config.coding_activation in ("", config.activation)
        and config.activation in ("selu", "relu", "linear")
        and model.output_activation == ("sigmoid" if model.config.reconstruction_loss == "binary_crossentropy"
                                        else "linear")
    )


def bce_with_logits_sum(logits: torch.Tensor, probabilities: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Summed binary cross-entropy of `logits` against `target`, reusing probabilities = sigmoid(logits).

    BCE-with-logits = softplus(h) - x.h, with softplus(h) = -log(1 - sigmoid(h)), or h itself
    where 1 - sigmoid(h) rounds below 1e-7 (there softplus(h) = h to float precision). The
    sigmoid is needed for the gradient anyway, so this costs one log instead of PyTorch's
    log-sigmoid and exp.
    """
    scratch = torch.rsub(probabilities, 1).clamp_(min=1e-7).log_().neg_()
    return torch.maximum(scratch, logits, out=scratch).sum() - torch.dot(target.reshape(-1), logits.reshape(-1))


class FastDenseSGD:
    """Call with a (batch, features) float tensor; returns the batch's summed loss."""

    def __init__(self, model: nn.Module, learning_rate: float):
        keep_freed_memory()  # large batches free and re-allocate MBs of scratch per step
        layers = [m for m in (*model.encoder, *model.decoder) if isinstance(m, nn.Linear)]
        # Views made once: they follow the in-place updates of the parameters.
        self.weights = [layer.weight for layer in layers]
        self.weights_t = [layer.weight.t() for layer in layers]
        self.biases = [layer.bias for layer in layers]
        self.biases_row = [layer.bias.view(1, -1) for layer in layers]
        self.activation = model.config.activation
        self._elu_backward = private_ops.elu_backward() if self.activation == "selu" else None
        self._threshold_backward = private_ops.threshold_backward() if self.activation == "relu" else None
        self.bce = model.config.reconstruction_loss == "binary_crossentropy"
        self.learning_rate = learning_rate
        self._buffer_rows = 0
        self._buffers_list: list[torch.Tensor] = []
        self._ones = torch.ones(1, 0)

    def _activate_(self, h: torch.Tensor) -> torch.Tensor:
        if self.activation == "selu":
            return torch.selu_(h)
        if self.activation == "relu":
            return torch.relu_(h)
        return h

    def _activation_backward(self, grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        if self.activation == "selu":
            return self._elu_backward(grad, SELU_ALPHA, SELU_SCALE, 1.0, True, out)
        if self.activation == "relu":
            return self._threshold_backward(grad, out, 0)
        return grad

    def _buffers(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-layer output buffers, allocated once: fresh memory costs page faults each step."""
        if len(x) > self._buffer_rows or self._ones.device != x.device:
            self._buffer_rows = len(x)
            self._buffers_list = [torch.empty(len(x), w.shape[0], dtype=x.dtype, device=x.device)
                                  for w in self.weights]
            self._buffers_list.append(torch.empty_like(self._buffers_list[-1]))
            self._ones = torch.ones(1, len(x), dtype=x.dtype, device=x.device)
        return [buffer[: len(x)] for buffer in self._buffers_list]

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.weights) - 1
        buffers = self._buffers(x)
        ones = self._ones[:, : len(x)]
        inputs = []
        h = x
        for index in range(last + 1):
            inputs.append(h)
            h = torch.addmm(self.biases[index], h, self.weights_t[index], out=buffers[index])
            if index < last:
                h = self._activate_(h)
        if self.bce:
            probabilities = torch.sigmoid(h, out=buffers[-1])
            loss = bce_with_logits_sum(h, probabilities, x)
            grad = probabilities.sub_(x)  # d(mean BCE)/d(logits) times x.numel()
            step = -self.learning_rate / x.numel()
        else:
            grad = h.sub_(x)
            loss = torch.dot(grad.view(-1), grad.view(-1))
            step = -2.0 * self.learning_rate / x.numel()
        for index in range(last, -1, -1):
            grad_in = torch.mm(grad, self.weights[index]) if index > 0 else None
            self.weights[index].addmm_(grad.t(), inputs[index], alpha=step)
            self.biases_row[index].addmm_(ones, grad, alpha=step)
            if index > 0:
                grad = self._activation_backward(grad_in, inputs[index])
        return loss
