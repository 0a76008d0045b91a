"""Every family takes its shape, loss and output from the data's description (a DataSpec).

Fashion-MNIST (1x28x28, divided by 255, 10 classes) must give the very models of the seed
(same layers, same initial weights for a seed); other shapes must give outputs of exactly
the data's shape; configs that do not fit the data are user errors that say what to change.
"""

import dataclasses

import pytest
import torch
from torch import nn

from aegan.data.fashion_mnist import fashion_mnist_spec
from aegan.data.spec import DataSpec
from aegan.errors import AeganError
from aegan.models import (
    GAN,
    MODEL_KINDS,
    ConvAutoencoder,
    ConvAutoencoderConfig,
    ConvVAEConfig,
    ConvVariationalAutoencoder,
    DCGANConfig,
    DenseAutoencoderConfig,
    GANConfig,
    RecurrentAutoencoder,
    RecurrentAutoencoderConfig,
    VAEConfig,
)

FASHION = fashion_mnist_spec()


def images(channels, height, width, labels=("a", "b", "c"), scaling="divide_255"):
    stats = {"mean": (0.5,) * channels, "std": (0.2,) * channels} if scaling == "standardize" else {}
    return DataSpec(layout="image", shape=(channels, height, width), dtype="uint8", scaling=scaling,
                    value_range=(0.0, 255.0), class_names=tuple(labels), **stats)


TABLE = DataSpec(layout="table", shape=(7,), scaling="standardize", value_range=(-3.0, 40.0), mean=(0.0,) * 7,
                 std=(1.0,) * 7)
UNIT_TABLE = DataSpec(layout="table", shape=(6,), scaling="none", value_range=(0.0, 1.0))
SEQUENCES = DataSpec(layout="sequence", shape=(9, 2), scaling="standardize", value_range=(-1.0, 1.0),
                     mean=(0.0, 0.0), std=(1.0, 1.0))

# Every side divisible by 4 up to 128 for the height, and the same sides reversed for the width
# (each dimension is built on its own), then sides that are not, and a few pairs by name.
SIDES = list(range(4, 129, 4))
SIZES = list(zip(SIDES, SIDES[::-1])) + list(zip(range(8, 41), range(40, 7, -1))) + [(24, 40), (30, 30), (28, 28)]


# --- Fashion-MNIST: the seed's models, weight for weight ---------------------------------------------

def _glorot(module):
    nn.init.xavier_uniform_(module.weight)
    nn.init.zeros_(module.bias)
    return module


def seed_conv_autoencoder():
    """The seed's conv_ae layers, written out for 28x28 as they were."""
    encoder = nn.Sequential(
        _glorot(nn.Conv2d(1, 16, 3, padding=1)), nn.SELU(), nn.MaxPool2d(2),
        _glorot(nn.Conv2d(16, 32, 3, padding=1)), nn.SELU(), nn.MaxPool2d(2),
        _glorot(nn.Conv2d(32, 64, 3, padding=1)), nn.SELU(), nn.MaxPool2d(2))
    decoder = nn.Sequential(
        _glorot(nn.ConvTranspose2d(64, 32, 3, stride=2)), nn.SELU(),
        _glorot(nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1)), nn.SELU(),
        _glorot(nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1)))
    return nn.ModuleDict({"encoder": encoder, "decoder": decoder})


def seed_conv_vae():
    encoder = nn.Sequential(nn.Identity(), nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.SELU(),
                            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.SELU(), nn.Flatten())
    mean_head, log_var_head = nn.Linear(64 * 49, 10), nn.Linear(64 * 49, 10)
    decoder = nn.Sequential(
        nn.Linear(10, 64 * 49), nn.SELU(), nn.Unflatten(1, (64, 7, 7)),
        nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1), nn.SELU(),
        nn.ConvTranspose2d(32, 1, 3, stride=2, padding=1, output_padding=1))
    return nn.ModuleDict({"encoder": encoder, "mean_head": mean_head, "log_var_head": log_var_head,
                          "decoder": decoder})


def seed_dcgan_layers(classes=0):
    generator = nn.Sequential(
        nn.Linear(100 + classes, 7 * 7 * 128), nn.Unflatten(1, (128, 7, 7)), nn.BatchNorm2d(128),
        nn.ConvTranspose2d(128, 64, 5, stride=2, padding=2, output_padding=1), nn.SELU(), nn.BatchNorm2d(64),
        nn.ConvTranspose2d(64, 1, 5, stride=2, padding=2, output_padding=1))
    features = nn.Sequential(
        nn.Conv2d(1 + classes, 64, 5, stride=2, padding=2), nn.LeakyReLU(0.2), nn.Dropout(0.4),
        nn.Conv2d(64, 128, 5, stride=2, padding=2), nn.BatchNorm2d(128), nn.LeakyReLU(0.2), nn.Dropout(0.4),
        nn.Flatten())
    return generator, features


def assert_same_tensors(actual: dict, expected: dict):
    assert list(actual) == list(expected)
    for name, tensor in expected.items():
        assert actual[name].shape == tensor.shape and torch.equal(actual[name], tensor), name


def test_fashion_conv_autoencoder_is_the_seeds():
    torch.manual_seed(0)
    model = ConvAutoencoder(ConvAutoencoderConfig().for_data(FASHION))
    torch.manual_seed(0)
    seed = seed_conv_autoencoder()
    assert_same_tensors(model.state_dict(), seed.state_dict())
    for new, old in zip(model.decoder, seed["decoder"]):
        if isinstance(old, nn.ConvTranspose2d):
            assert tuple(new.padding) == tuple(old.padding) and tuple(new.output_padding) == tuple(old.output_padding)
    x = torch.rand(4, 1, 28, 28)
    codings = seed["encoder"](x)
    assert torch.equal(model.encode(x), codings.flatten(1))
    assert torch.equal(model.decode(codings.flatten(1)), torch.sigmoid(seed["decoder"](codings)))


def test_fashion_conv_vae_is_the_seeds():
    torch.manual_seed(0)
    model = ConvVariationalAutoencoder(ConvVAEConfig().for_data(FASHION))
    torch.manual_seed(0)
    seed = seed_conv_vae()
    assert_same_tensors(model.state_dict(), seed.state_dict())
    z = torch.randn(3, 10)
    assert torch.equal(model.decode(z), torch.sigmoid(seed["decoder"](z)))


@pytest.mark.parametrize("conditional", [False, True])
def test_fashion_dcgan_is_the_seeds(conditional):
    torch.manual_seed(0)
    model = GAN(DCGANConfig(conditional=conditional).for_data(FASHION))
    torch.manual_seed(0)
    generator, features = seed_dcgan_layers(10 if conditional else 0)
    output = nn.Linear(128 * 49, 1)
    assert_same_tensors(dict(model.generator.state_dict()), dict(generator.state_dict()))
    assert_same_tensors(dict(model.discriminator.features.state_dict()), dict(features.state_dict()))
    assert model.discriminator.output.weight.shape == output.weight.shape
    assert model.tanh_output and model.config.num_classes == (10 if conditional else 0)


def test_fashion_configs_resolve_as_the_seed_had_them():
    assert DenseAutoencoderConfig().for_data(FASHION).reconstruction_loss == "binary_crossentropy"
    assert VAEConfig().for_data(FASHION).input_shape == (1, 28, 28)
    assert RecurrentAutoencoderConfig().for_data(FASHION).sequence_shape == (28, 28)
    assert GANConfig().for_data(FASHION).output_activation == "sigmoid"
    assert DCGANConfig().for_data(FASHION).output_activation == "tanh"
    # The presets of older runs wrote input_shape=[28, 28]: the data's 1x28x28 is used.
    assert DenseAutoencoderConfig(input_shape=(28, 28)).for_data(FASHION).input_shape == (1, 28, 28)
    assert GANConfig(num_classes=10).for_data(FASHION).conditional


# --- any image size --------------------------------------------------------------------------------

@pytest.fixture
def plain_convolutions():
    """PyTorch's own convolutions on one thread: oneDNN would compile kernels for each of the many
    shapes below, and tiny convolutions spend more time starting threads than computing."""
    enabled, threads = torch.backends.mkldnn.enabled, torch.get_num_threads()
    torch.backends.mkldnn.enabled = False
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = enabled
        torch.set_num_threads(threads)


@pytest.mark.parametrize("channels", [1, 3])
def test_conv_autoencoder_takes_any_image_of_at_least_8x8(channels, plain_convolutions):
    torch.manual_seed(0)
    for height, width in SIZES:
        spec = images(channels, height, width)
        if min(height, width) < 8:
            with pytest.raises(AeganError, match="at least 8x8"):
                ConvAutoencoderConfig().for_data(spec)
            continue
        model = ConvAutoencoder(ConvAutoencoderConfig(filters=(2, 2, 2)).for_data(spec))
        x = torch.rand(2, channels, height, width)
        z = model.encode(x)
        assert z.shape == (2, 2 * (height // 8) * (width // 8)), (height, width)
        assert model.decode(z).shape == (2, channels, height, width), (height, width)
        assert model(x).shape == x.shape
        model.loss_terms(x)["loss"].backward()


@pytest.mark.parametrize("channels", [1, 3])
def test_conv_vae_takes_any_image(channels, plain_convolutions):
    torch.manual_seed(0)
    for height, width in SIZES:
        model = ConvVariationalAutoencoder(ConvVAEConfig(channels=(2, 2), coding_size=2)
                                           .for_data(images(channels, height, width)))
        x = torch.rand(2, channels, height, width)
        mean, _ = model.encode(x)
        assert model.decode(mean).shape == x.shape, (height, width)
        assert model.sample(3).shape == (3, channels, height, width)
        model.loss_terms(x)["loss"].backward()


@pytest.mark.parametrize("channels, conditional", [(1, False), (3, True)])
def test_dcgan_takes_any_image(channels, conditional, plain_convolutions):
    torch.manual_seed(0)
    for height, width in SIZES:
        config = DCGANConfig(coding_size=3, generator_channels=(2, 2), discriminator_channels=(2, 2),
                             conditional=conditional).for_data(images(channels, height, width))
        model = GAN(config)
        labels = model.random_labels(2)
        fakes = model.generate(torch.randn(2, 3), labels)
        assert fakes.shape == (2, channels, height, width), (height, width)
        assert model.discriminate(fakes, labels).shape == (2,)
        samples = model.sample(2, labels=labels)
        assert samples.shape == (2, channels, height, width) and 0 <= samples.min() and samples.max() <= 1


def test_dense_families_take_any_shape():
    for spec in (TABLE, UNIT_TABLE, SEQUENCES, images(3, 5, 7)):
        x = torch.rand(4, *spec.shape)
        for config in (DenseAutoencoderConfig(hidden_sizes=(5,), coding_size=2),
                       VAEConfig(hidden_sizes=(5,), coding_size=2)):
            model = MODEL_KINDS[config.kind][1](config.for_data(spec))
            assert model(x).shape == x.shape
            model.loss_terms(x)["loss"].backward()
        gan = GAN(GANConfig(coding_size=2, generator_sizes=(4,), discriminator_sizes=(4,)).for_data(spec))
        assert gan.sample(3).shape == (3, *spec.shape)


def test_recurrent_autoencoder_reads_rows_channels_last():
    spec = images(3, 6, 4)
    model = RecurrentAutoencoder(RecurrentAutoencoderConfig(hidden_size=5, coding_size=2).for_data(spec))
    assert model.config.sequence_shape == (6, 12)
    x = torch.rand(2, 3, 6, 4)
    sequences = model.to_sequences(x)
    assert sequences.shape == (2, 6, 12)
    assert sequences[1, 4, 2 * 3 + 1] == x[1, 1, 4, 2]  # row 4, column 2, channel 1
    assert torch.equal(model.from_sequences(sequences), x)
    assert model(x).shape == x.shape
    z = model.encode(x)
    assert torch.equal(torch.sigmoid(model.decode_logits(z)), model.decode(z))  # both in the samples' layout
    model.loss_terms(x)["loss"].backward()
    sequence_model = RecurrentAutoencoder(RecurrentAutoencoderConfig(hidden_size=5, coding_size=2).for_data(SEQUENCES))
    assert sequence_model.config.reconstruction_loss == "mse"
    assert sequence_model(torch.randn(3, 9, 2)).shape == (3, 9, 2)


# --- losses and outputs follow the data ----------------------------------------------------------

def test_losses_and_outputs_follow_the_data():
    for config in (DenseAutoencoderConfig(), ConvAutoencoderConfig(), VAEConfig(), ConvVAEConfig()):
        assert config.for_data(images(1, 16, 16)).reconstruction_loss == "binary_crossentropy"
        assert config.for_data(images(1, 16, 16, scaling="standardize")).reconstruction_loss == "mse"
    assert RecurrentAutoencoderConfig().for_data(SEQUENCES).reconstruction_loss == "mse"
    assert DenseAutoencoderConfig().for_data(UNIT_TABLE).reconstruction_loss == "binary_crossentropy"
    assert GANConfig().for_data(TABLE).output_activation == "linear"
    assert DCGANConfig().for_data(images(1, 16, 16, scaling="standardize")).output_activation == "linear"
    assert DenseAutoencoderConfig(reconstruction_loss="mse").for_data(FASHION).reconstruction_loss == "mse"
    # Linear outputs on standardised data: nothing rescaled, samples in the data's standardised units.
    gan = GAN(DCGANConfig(coding_size=2, generator_channels=(2, 2), discriminator_channels=(2, 2))
              .for_data(images(1, 12, 12, scaling="standardize")))
    x = torch.randn(2, 1, 12, 12) * 3
    assert torch.equal(gan.to_training_range(x), x)
    assert gan.decode(torch.randn(2, 2)).abs().max() > 0  # no tanh, no mapping to [0, 1]
    conv = ConvAutoencoder(ConvAutoencoderConfig(filters=(2, 2, 2)).for_data(images(1, 16, 16, scaling="standardize")))
    assert not conv.sigmoid_output


def test_binary_crossentropy_on_data_outside_0_1_says_how_to_fix_it():
    for config in (DenseAutoencoderConfig(reconstruction_loss="binary_crossentropy"),
                   VAEConfig(reconstruction_loss="binary_crossentropy"),
                   RecurrentAutoencoderConfig(reconstruction_loss="binary_crossentropy")):
        with pytest.raises(AeganError, match=r"model.reconstruction_loss='mse'.*data.scaling"):
            config.for_data(SEQUENCES)
    with pytest.raises(AeganError, match="model.output_activation='linear'"):
        DCGANConfig(output_activation="tanh").for_data(images(1, 12, 12, scaling="standardize"))
    with pytest.raises(AeganError, match="model.output_activation='linear'"):
        GANConfig(output_activation="sigmoid").for_data(TABLE)


def test_conditional_gans_take_the_datas_classes():
    assert GANConfig(conditional=True).for_data(images(1, 8, 8, labels="abcd")).num_classes == 4
    assert DCGANConfig(conditional=True).for_data(FASHION).num_classes == 10
    assert GANConfig().for_data(FASHION).num_classes == 0  # labels present, not conditional
    for config in (GANConfig(conditional=True), DCGANConfig(conditional=True)):
        with pytest.raises(AeganError, match="cgan needs class labels: give a folder with one subfolder per class"):
            config.for_data(images(1, 8, 8, labels=()))
    with pytest.raises(AeganError, match="model.num_classes=3, but the data has 10 classes"):
        GANConfig(num_classes=3).for_data(FASHION)


def test_layouts_that_a_family_cannot_take_are_errors_that_name_a_dense_preset():
    for config, preset in ((ConvAutoencoderConfig(), "stacked_ae"), (ConvVAEConfig(), "vae"), (DCGANConfig(), "gan")):
        with pytest.raises(AeganError, match=rf"{config.kind} needs images .*table layout.*{preset}"):
            config.for_data(TABLE)
        with pytest.raises(AeganError, match="sequence layout"):
            config.for_data(SEQUENCES)
    with pytest.raises(AeganError, match="recurrent_ae reads sequences.*table layout.*stacked_ae"):
        RecurrentAutoencoderConfig().for_data(TABLE)


def test_an_input_shape_that_is_not_the_datas_is_an_error():
    with pytest.raises(AeganError, match=r"model.input_shape=\[5\] does not match .*remove model.input_shape"):
        DenseAutoencoderConfig(input_shape=(5,)).for_data(TABLE)
    assert DenseAutoencoderConfig(input_shape=(7,)).for_data(TABLE).input_shape == (7,)


def test_unresolved_configs_validate_and_models_ask_for_for_data():
    for kind, (config_class, model_class) in MODEL_KINDS.items():
        config = config_class()
        assert config.input_shape == () and not config.resolved, kind
        with pytest.raises(AeganError, match=r"call config.for_data\(spec\) first"):
            model_class(config)
        resolved = config.for_data(FASHION)
        assert resolved.resolved and resolved.input_shape == (1, 28, 28)
        assert config_class(**dataclasses.asdict(resolved)) == resolved  # __post_init__ takes resolved values
        assert resolved.for_data(FASHION) == resolved
    with pytest.raises(AeganError, match="model.reconstruction_loss"):
        DenseAutoencoderConfig(reconstruction_loss="bce")
    with pytest.raises(AeganError, match="model.output_activation"):
        GANConfig(output_activation="relu")


def test_families_declare_what_they_can_do():
    declared = {kind: (model.capabilities, model.training_loop, model.evaluations)
                for kind, (_, model) in MODEL_KINDS.items()}
    autoencoder = frozenset({"encode", "reconstruct", "score"})
    assert declared["dense_ae"] == (autoencoder, "autoencoder", ("reconstruction", "representation", "sparsity", "pca"))
    assert declared["conv_ae"] == declared["recurrent_ae"] == (autoencoder, "autoencoder",
                                                               ("reconstruction", "representation"))
    vae = (frozenset({"encode", "reconstruct", "sample", "interpolate", "score"}), "autoencoder",
           ("reconstruction", "representation", "vae", "generative"))
    assert declared["vae"] == declared["conv_vae"] == vae
    assert declared["gan"] == declared["dcgan"] == (frozenset({"sample", "interpolate"}), "gan", ("generative",))
    assert all(isinstance(c, frozenset) for c, _, _ in declared.values())
