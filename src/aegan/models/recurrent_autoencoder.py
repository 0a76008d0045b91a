"""The seed's recurrent autoencoder: a sequence-to-vector LSTM encoder, a vector-to-sequence decoder.

Sequences (T, F) are read as they are; images (C, H, W) as H steps of W*C features (each row,
channels last): Fashion-MNIST's 28 steps of 28 pixels.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aegan.errors import AeganError
from aegan.models.autoencoders import (
    AUTOENCODER_CAPABILITIES,
    check_input_shape,
    check_reconstruction_loss,
    data_input_shape,
    data_reconstruction_loss,
    require_resolved,
)


@dataclass(frozen=True)
class RecurrentAutoencoderConfig:
    kind: str = "recurrent_ae"
    # () = the data's shape (for_data): (time steps, features) or an image's (C, H, W)
    input_shape: tuple[int, ...] = ()
    hidden_size: int = 100
    coding_size: int = 30
    # binary_crossentropy: sigmoid outputs; mse: linear outputs; auto: from the data's range
    reconstruction_loss: str = "auto"

    def __post_init__(self):
        check_input_shape(self, dims=(2, 3))
        if self.hidden_size <= 0 or self.coding_size <= 0:
            raise AeganError("model.hidden_size and model.coding_size: expected positive whole numbers")
        check_reconstruction_loss(self.reconstruction_loss)

    @property
    def resolved(self) -> bool:
        return bool(self.input_shape) and self.reconstruction_loss != "auto"

    def for_data(self, spec) -> "RecurrentAutoencoderConfig":
        """This config with the data's shape (sequences or images) and, unless set, its loss."""
        if spec.layout not in ("sequence", "image"):
            raise AeganError(f"recurrent_ae reads sequences (time steps, features) or images (rows as steps), "
                             f"but the data is {spec.describe()} ({spec.layout} layout, no time steps): "
                             "use a dense preset such as stacked_ae")
        return dataclasses.replace(self, input_shape=data_input_shape(self, spec),
                                   reconstruction_loss=data_reconstruction_loss(self.reconstruction_loss, spec))

    @property
    def sequence_shape(self) -> tuple[int, int]:
        """(time steps, features per step): an image's rows, channels last within a row."""
        if len(self.input_shape) == 3:
            channels, height, width = self.input_shape
            return height, width * channels
        steps, features = self.input_shape
        return steps, features


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
    """LSTM 100 (sequence) -> LSTM 30 (last state) | repeat T -> LSTM 100 (sequence) -> Dense F per step.

    `decode` returns samples of the data's shape (N, *input_shape)."""

    capabilities = AUTOENCODER_CAPABILITIES
    training_loop = "autoencoder"
    evaluations = ("reconstruction", "representation")

    def __init__(self, config: RecurrentAutoencoderConfig):
        super().__init__()
        require_resolved(config)
        self.config = config
        steps, features = config.sequence_shape
        self.encoder_lstm1 = keras_lstm_init_(nn.LSTM(features, config.hidden_size, batch_first=True))
        self.encoder_lstm2 = keras_lstm_init_(nn.LSTM(config.hidden_size, config.coding_size, batch_first=True))
        self.decoder_lstm = keras_lstm_init_(nn.LSTM(config.coding_size, config.hidden_size, batch_first=True))
        self.output = nn.Linear(config.hidden_size, features)
        nn.init.xavier_uniform_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    @property
    def output_activation(self) -> str:
        return "sigmoid" if self.config.reconstruction_loss == "binary_crossentropy" else "linear"

    def to_sequences(self, x: torch.Tensor) -> torch.Tensor:
        """Samples as (N, time steps, features): images' rows, channels last within each row."""
        shape = self.config.input_shape
        if len(shape) == 3 and shape[0] > 1:
            x = x.reshape(len(x), *shape).permute(0, 2, 3, 1)
        return x.reshape(len(x), *self.config.sequence_shape)

    def from_sequences(self, out: torch.Tensor) -> torch.Tensor:
        """(N, time steps, features) back to samples (N, *input_shape)."""
        shape = self.config.input_shape
        if len(shape) == 3 and shape[0] > 1:
            channels, height, width = shape
            return out.reshape(len(out), height, width, channels).permute(0, 3, 1, 2)
        return out.reshape(len(out), *shape)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        sequence, _ = self.encoder_lstm1(self.to_sequences(x))
        _, (last_hidden, _) = self.encoder_lstm2(sequence)
        return last_hidden[-1]

    def decode_sequences(self, z: torch.Tensor) -> torch.Tensor:
        """(N, time steps, features) before the output activation."""
        repeated = z[:, None, :].expand(len(z), self.config.sequence_shape[0], z.shape[1])
        sequence, _ = self.decoder_lstm(repeated)
        return self.output(sequence)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """(N, *input_shape) before the output activation, in the samples' own layout."""
        return self.from_sequences(self.decode_sequences(z))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decode_sequences(z)
        out = torch.sigmoid(out) if self.output_activation == "sigmoid" else out
        return self.from_sequences(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def loss_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.decode_sequences(self.encode(x))
        target = self.to_sequences(x)
        if self.config.reconstruction_loss == "binary_crossentropy":
            reconstruction = F.binary_cross_entropy_with_logits(out, target)
        else:
            reconstruction = F.mse_loss(out, target)
        return {"loss": reconstruction, "reconstruction": reconstruction}
