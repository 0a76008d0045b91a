"""The seed's recurrent autoencoder: a sequence-to-vector LSTM encoder, a vector-to-sequence decoder.

Images are read as sequences of rows (28 steps of 28 features); any (N, T, F) array works.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aegan.errors import AeganError


@dataclass(frozen=True)
class RecurrentAutoencoderConfig:
    kind: str = "recurrent_ae"
    input_shape: tuple[int, ...] = (28, 28)  # (time steps, features per step)
    hidden_size: int = 100
    coding_size: int = 30
    reconstruction_loss: str = "binary_crossentropy"  # sigmoid outputs; "mse": linear outputs

    def __post_init__(self):
        if len(self.input_shape) != 2 or min(self.input_shape) <= 0:
            raise AeganError(f"model.input_shape={list(self.input_shape)}: expected [time steps, features]")
        if self.hidden_size <= 0 or self.coding_size <= 0:
            raise AeganError("model.hidden_size and model.coding_size: expected positive whole numbers")
        if self.reconstruction_loss not in ("binary_crossentropy", "mse"):
            raise AeganError(f"model.reconstruction_loss={self.reconstruction_loss!r}: expected "
                             "'binary_crossentropy' or 'mse'")


def keras_lstm_init_(lstm: nn.LSTM) -> nn.LSTM:
    """Keras' LSTM initialisation: Glorot-uniform input weights, orthogonal recurrent weights,
    zero biases except 1 for the forget gate."""
    hidden = lstm.hidden_size
    for name, parameter in lstm.named_parameters():
        if name.startswith("weight_ih"):
            nn.init.xavier_uniform_(parameter)
        elif name.startswith("weight_hh"):
            for gate in range(4):
                nn.init.orthogonal_(parameter.data[gate * hidden:(gate + 1) * hidden])
        elif name.startswith("bias_ih"):
            nn.init.zeros_(parameter)
            parameter.data[hidden:2 * hidden] = 1.0  # PyTorch's gate order: input, forget, cell, output
        else:
            nn.init.zeros_(parameter)
    return lstm


class RecurrentAutoencoder(nn.Module):
    """LSTM 100 (sequence) -> LSTM 30 (last state) | repeat T -> LSTM 100 (sequence) -> Dense F per step."""

    def __init__(self, config: RecurrentAutoencoderConfig):
        super().__init__()
        self.config = config
        steps, features = config.input_shape
        self.encoder_lstm1 = keras_lstm_init_(nn.LSTM(features, config.hidden_size, batch_first=True))
        self.encoder_lstm2 = keras_lstm_init_(nn.LSTM(config.hidden_size, config.coding_size, batch_first=True))
        self.decoder_lstm = keras_lstm_init_(nn.LSTM(config.coding_size, config.hidden_size, batch_first=True))
        self.output = nn.Linear(config.hidden_size, features)
        nn.init.xavier_uniform_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        sequence, _ = self.encoder_lstm1(x.reshape(len(x), *self.config.input_shape))
        _, (last_hidden, _) = self.encoder_lstm2(sequence)
        return last_hidden[-1]

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        repeated = z[:, None, :].expand(len(z), self.config.input_shape[0], z.shape[1])
        sequence, _ = self.decoder_lstm(repeated)
        return self.output(sequence)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decode_logits(z)
        return torch.sigmoid(out) if self.config.reconstruction_loss == "binary_crossentropy" else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def loss_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.decode_logits(self.encode(x))
        target = x.reshape(out.shape)
        if self.config.reconstruction_loss == "binary_crossentropy":
            reconstruction = F.binary_cross_entropy_with_logits(out, target)
        else:
            reconstruction = F.mse_loss(out, target)
        return {"loss": reconstruction, "reconstruction": reconstruction}
