"""Dense autoencoders: stacked, linear (PCA), tied, denoising and sparse, in any combination.

Also the helpers every model config uses to take the data's description (a DataSpec):
`input_shape` and the reconstruction loss are read from the data by `config.for_data(spec)`
unless the config sets them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aegan.errors import AeganError
from aegan.layers import DenseTranspose, InputNoise, kl_sparsity, l1_activity

ACTIVATIONS = {"selu": nn.SELU, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "linear": nn.Identity}
RECONSTRUCTION_LOSSES = ("binary_crossentropy", "mse")
NOISES = ("none", "gaussian", "dropout")
SPARSITIES = ("none", "l1", "kl")

# What a model can do and how it trains: the API asks these class attributes, not the class.
AUTOENCODER_CAPABILITIES = frozenset({"encode", "reconstruct", "score"})


# --- the data's description: shared by every model config ---------------------------------------

def data_input_shape(config, spec) -> tuple[int, ...]:
    """The sample shape a model of `config` takes on data described by `spec` (a DataSpec).

    An empty model.input_shape means "from the data". A shape the config sets must hold as
    many values as the data's samples (older configs wrote [28, 28] for 1x28x28 images);
    the data's own shape is used.
    """
    shape = tuple(int(s) for s in spec.shape)
    given = tuple(config.input_shape)
    if given and given != shape and math.prod(given) != math.prod(shape):
        raise AeganError(
            f"model.input_shape={list(given)} does not match the data's samples ({spec.describe()}): "
            f"remove model.input_shape (the shape is read from the data), or give samples of shape {list(given)}")
    return shape


def data_values(spec) -> str:
    """How the model sees the data's values, for messages."""
    if spec.scaling == "standardize":
        return f"{spec.describe()}, standardised (data.scaling='standardize')"
    low, high = spec.value_range
    return f"{spec.describe()} with values in [{low:g}, {high:g}]"


def data_reconstruction_loss(loss: str, spec) -> str:
    """'auto' -> binary cross-entropy for data in [0, 1], MSE otherwise; BCE on other data is an error."""
    if loss == "auto":
        return "binary_crossentropy" if spec.unit_range else "mse"
    if loss == "binary_crossentropy" and not spec.unit_range:
        raise AeganError(
            f"model.reconstruction_loss='binary_crossentropy' needs data in [0, 1], but the data is "
            f"{data_values(spec)}: set model.reconstruction_loss='mse' (or 'auto'), or a data.scaling "
            "that maps it to [0, 1] (divide_255 for 0-255 values)")
    return loss


def require_image_layout(kind: str, spec, dense_preset: str) -> None:
    if not spec.is_image:
        raise AeganError(f"{kind} needs images (channels, height, width), but the data is {spec.describe()} "
                         f"({spec.layout} layout): use a dense preset such as {dense_preset}, which takes any shape")


def require_resolved(config) -> None:
    """Models are built from a config resolved by for_data (the shape and losses of the data)."""
    if not config.resolved:
        unset = [f"model.{name}" for name, value in (
            ("input_shape", tuple(getattr(config, "input_shape", ()))),
            ("reconstruction_loss", getattr(config, "reconstruction_loss", None)),
            ("output_activation", getattr(config, "output_activation", None)))
            if value in ((), "auto")]
        if getattr(config, "conditional", False) and not config.num_classes:
            unset.append("model.num_classes")
        what = ", ".join(unset) or f"model.input_shape={list(config.input_shape)} (no channels)"
        raise AeganError(f"{config.kind} model: {what} not resolved from the data: call config.for_data(spec) first")


def check_input_shape(config, dims: tuple[int, ...] = ()) -> None:
    """__post_init__: input_shape is () (from the data) or positive sizes (of a length in `dims`)."""
    shape = tuple(config.input_shape)
    if any(size <= 0 for size in shape):
        raise AeganError(f"model.input_shape={list(shape)}: expected positive sizes, or [] to read it from the data")
    if shape and dims and len(shape) not in dims:
        raise AeganError(f"model.input_shape={list(shape)}: {config.kind} expects "
                         f"{' or '.join(str(d) for d in dims)} sizes, or [] to read it from the data")


def check_reconstruction_loss(loss: str) -> None:
    if loss not in ("auto", *RECONSTRUCTION_LOSSES):
        raise AeganError(f"model.reconstruction_loss={loss!r}: expected one of "
                         f"{', '.join(repr(c) for c in ('auto', *RECONSTRUCTION_LOSSES))}")


@dataclass(frozen=True)
class DenseAutoencoderConfig:
    kind: str = "dense_ae"
    input_shape: tuple[int, ...] = ()  # () = the data's sample shape (for_data); any shape, flattened
    hidden_sizes: tuple[int, ...] = (100,)
    coding_size: int = 30
    activation: str = "selu"
    # binary_crossentropy: sigmoid outputs, inputs in [0, 1]; mse: linear outputs;
    # auto: binary_crossentropy for data in [0, 1], mse otherwise
    reconstruction_loss: str = "auto"
    coding_activation: str = ""  # the coding layer's activation; "" = `activation`
    output_activation: str = ""  # "" = sigmoid for binary_crossentropy, linear for mse
    tied: bool = False  # decoder reuses the transposed encoder weights, with its own biases
    input_noise: str = "none"  # denoising: "gaussian" (std noise_level) or "dropout" (rate noise_level)
    noise_level: float = 0.0
    sparsity: str = "none"  # "l1" activity penalty or "kl" divergence from sparsity_target
    sparsity_weight: float = 0.0
    sparsity_target: float = 0.1

    def __post_init__(self):
        check_input_shape(self)
        if any(size <= 0 for size in self.hidden_sizes):
            raise AeganError(f"model.hidden_sizes={list(self.hidden_sizes)}: expected positive sizes")
        if self.coding_size <= 0:
            raise AeganError(f"model.coding_size={self.coding_size}: expected a positive whole number")
        if self.activation not in ACTIVATIONS:
            raise AeganError(f"model.activation={self.activation!r}: expected one of {', '.join(ACTIVATIONS)}")
        for name, choices in (("coding_activation", ("", *ACTIVATIONS)), ("output_activation", ("", *ACTIVATIONS)),
                              ("input_noise", NOISES), ("sparsity", SPARSITIES)):
            if getattr(self, name) not in choices:
                raise AeganError(f"model.{name}={getattr(self, name)!r}: expected one of "
                                 f"{', '.join(repr(c) for c in choices)}")
        if not 0 <= self.noise_level < (1 if self.input_noise == "dropout" else float("inf")):
            raise AeganError(f"model.noise_level={self.noise_level}: expected >= 0 (and < 1 for dropout)")
        if self.sparsity_weight < 0 or not 0 < self.sparsity_target < 1:
            raise AeganError("model.sparsity_weight must be >= 0 and model.sparsity_target in (0, 1)")
        if self.sparsity == "kl" and self.coding_activation != "sigmoid":
            raise AeganError("model.sparsity='kl' needs activations in [0, 1]: set model.coding_activation='sigmoid'")
        check_reconstruction_loss(self.reconstruction_loss)

    @property
    def resolved(self) -> bool:
        return bool(self.input_shape) and self.reconstruction_loss != "auto"

    def for_data(self, spec) -> "DenseAutoencoderConfig":
        """This config with the data's sample shape and, unless set, its reconstruction loss."""
        return with_data_shape_and_loss(self, spec)


def glorot_uniform_(linear: nn.Linear) -> nn.Linear:
    """Keras' default Dense initialisation (Glorot uniform weights, zero biases)."""
    limit = math.sqrt(6.0 / (linear.in_features + linear.out_features))
    nn.init.uniform_(linear.weight, -limit, limit)
    nn.init.zeros_(linear.bias)
    return linear


def dense_stack(sizes: list[int], activation: str, last_activation: bool | str) -> nn.Sequential:
    """Dense layers; `last_activation` is True (same as the others), False (none) or a name."""
    layers = []
    for index, (size_in, size_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(glorot_uniform_(nn.Linear(size_in, size_out)))
        if index < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
        elif last_activation:
            layers.append(ACTIVATIONS[activation if last_activation is True else last_activation]())
    return nn.Sequential(*layers)


def with_data_shape_and_loss(config, spec):
    """`config` with the data's sample shape and, unless it sets one, the loss the data's scaling calls for."""
    return dataclasses.replace(config, input_shape=data_input_shape(config, spec),
                               reconstruction_loss=data_reconstruction_loss(config.reconstruction_loss, spec))


class DenseAutoencoder(nn.Module):
    """Flatten, dense layers down to the codings, mirrored dense layers back up, Reshape.

    Options compose: `tied` decoder weights, `input_noise` while training (denoising), and a
    `sparsity` penalty on the codings. `decode` returns probabilities for a binary
    cross-entropy model; `decode_logits` returns the last layer's pre-activation.
    """

    capabilities = AUTOENCODER_CAPABILITIES
    training_loop = "autoencoder"
    evaluations = ("reconstruction", "representation", "sparsity", "pca")

    def __init__(self, config: DenseAutoencoderConfig):
        super().__init__()
        require_resolved(config)
        self.config = config
        self.input_size = math.prod(config.input_shape)
        down = [self.input_size, *config.hidden_sizes, config.coding_size]
        coding_activation = config.coding_activation or config.activation
        self.noise = InputNoise(config.input_noise, config.noise_level)
        self.encoder = dense_stack(down, config.activation, last_activation=coding_activation)
        output = config.output_activation or ("sigmoid" if config.reconstruction_loss == "binary_crossentropy"
                                              else "linear")
        self.output_activation = output
        # With sigmoid outputs the decoder stops at the logits; decode() applies the sigmoid.
        last = False if output in ("sigmoid", "linear") else output
        if config.tied:
            encoder_linears = [m for m in self.encoder if isinstance(m, nn.Linear)]
            layers = []
            for index, linear in enumerate(reversed(encoder_linears)):
                layers.append(DenseTranspose(linear))
                if index < len(encoder_linears) - 1:
                    layers.append(ACTIVATIONS[config.activation]())
                elif last:
                    layers.append(ACTIVATIONS[last]())
            self.decoder = nn.Sequential(*layers)
        else:
            self.decoder = dense_stack(down[::-1], config.activation, last_activation=last)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decode_logits(z)
        if self.output_activation == "sigmoid":
            out = torch.sigmoid(out)
        return out.view(-1, *self.config.input_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def loss_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        target = x.flatten(1)
        codings = self.encoder(self.noise(target))
        out = self.decode_logits(codings)
        if self.config.reconstruction_loss == "binary_crossentropy":
            if self.output_activation == "sigmoid":
                reconstruction = F.binary_cross_entropy_with_logits(out, target)
            else:
                reconstruction = F.binary_cross_entropy(out.clamp(1e-7, 1 - 1e-7), target)
        else:
            reconstruction = F.mse_loss(out, target)
        terms = {"reconstruction": reconstruction}
        loss = reconstruction
        if self.config.sparsity != "none":
            if self.config.sparsity == "l1":
                penalty = l1_activity(codings)
            else:
                penalty = kl_sparsity(codings, self.config.sparsity_target)
            terms["sparsity"] = self.config.sparsity_weight * penalty
            loss = loss + terms["sparsity"]
        terms["loss"] = loss
        return terms
