"""training/fast_steps.py picks the fast step wherever its math holds (and it really runs), the
autograd step elsewhere; fast steps match autograd on the new shapes. The private operators
they use are tested in test_private_ops.py."""

import pytest
import torch

from aegan.config import TrainingConfig
from aegan.data.spec import DataSpec
from aegan.models import (
    GAN,
    ConvAutoencoder,
    ConvAutoencoderConfig,
    ConvVAEConfig,
    ConvVariationalAutoencoder,
    DCGANConfig,
    DenseAutoencoder,
    DenseAutoencoderConfig,
    GANConfig,
    VAEConfig,
    VariationalAutoencoder,
)
from aegan.training import fast_conv, fast_dense, fast_gan, fast_steps, fast_vae
from aegan.training.ema import generator_average
from aegan.training.fast_steps import select_autoencoder_step, select_gan_step
from aegan.training.optimizers import build_optimizer
from aegan.training.replay import ReplayPool

SGD = TrainingConfig(optimizer="sgd", learning_rate=0.5)
RMSPROP = TrainingConfig(optimizer="rmsprop", learning_rate=0.01)


def images(channels, height, width, scaling="divide_255", labels=()):
    stats = {"mean": (0.5,) * channels, "std": (0.25,) * channels} if scaling == "standardize" else {}
    return DataSpec(layout="image", shape=(channels, height, width), dtype="uint8", scaling=scaling,
                    value_range=(0.0, 255.0), class_names=tuple(labels), **stats)


FASHION = images(1, 28, 28, labels=[str(i) for i in range(10)])


@pytest.fixture
def float64_default():
    """GAN steps draw codings with torch.randn in the default dtype."""
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def counting(monkeypatch, owner, name):
    """Wrap owner.name so that its calls are counted; returns the list of calls."""
    calls = []
    original = getattr(owner, name)

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)
    return calls


def twin_models(make, dtype=torch.float64):
    torch.manual_seed(0)
    plain = make().to(dtype)
    fast = make().to(dtype)
    fast.load_state_dict(plain.state_dict())
    return plain, fast


def assert_same_parameters(plain, fast, rtol=1e-9, atol=1e-11):
    for (name, a), b in zip(plain.state_dict().items(), fast.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=rtol, atol=atol, msg=name)


def run_autoencoder_steps(plain, fast, training, spec, expected_name, batches=3, seeds=True):
    """Steps of the autograd and the selected step on the same batches; returns the fast step's name."""
    steps = {}
    for label, model, fast_path in (("plain", plain, False), ("fast", fast, True)):
        config = TrainingConfig(**{**training.__dict__, "fast_path": fast_path})
        optimizer = build_optimizer(config.optimizer, model.parameters(), config.learning_rate, config.momentum)
        steps[label], name = select_autoencoder_step(model, config, optimizer)
        assert name == (expected_name if fast_path else "autograd")
    torch.manual_seed(5)
    data = torch.rand(batches, 6, *spec.shape, dtype=torch.float64)
    for index, batch in enumerate(data):
        losses = {}
        for label in ("plain", "fast"):
            torch.manual_seed(100 + index)  # the same noise (reparameterisation, dropout) in both
            losses[label] = steps[label](batch).item()
        assert losses["fast"] == pytest.approx(losses["plain"], rel=1e-9)
    assert_same_parameters(plain, fast)


# --- the autoencoder steps -----------------------------------------------------------------------

@pytest.mark.parametrize("spec", [images(1, 6, 5), images(3, 4, 5, scaling="standardize")])
def test_fast_dense_is_chosen_and_runs(monkeypatch, spec):
    calls = counting(monkeypatch, fast_dense.FastDenseSGD, "__call__")
    plain, fast = twin_models(lambda: DenseAutoencoder(DenseAutoencoderConfig(hidden_sizes=(9,), coding_size=3)
                                                       .for_data(spec)))
    run_autoencoder_steps(plain, fast, SGD, spec, "fast_dense")
    assert len(calls) == 3


def test_fast_vae_is_chosen_and_runs(monkeypatch):
    spec = images(2, 3, 4)
    made = counting(monkeypatch, fast_vae, "make_vae_step")
    plain, fast = twin_models(lambda: VariationalAutoencoder(VAEConfig(hidden_sizes=(7, 5), coding_size=2)
                                                             .for_data(spec)))
    run_autoencoder_steps(plain, fast, RMSPROP, spec, "fast_vae")
    assert len(made) == 1


@pytest.mark.parametrize("spec", [images(3, 12, 20), images(1, 9, 14, scaling="standardize"), FASHION])
def test_fast_conv_autoencoder_is_chosen_and_runs_on_any_image(monkeypatch, spec, one_thread):
    calls = counting(monkeypatch, fast_conv, "autoencoder_loss")
    plain, fast = twin_models(lambda: ConvAutoencoder(ConvAutoencoderConfig(filters=(2, 3, 4)).for_data(spec)))
    run_autoencoder_steps(plain, fast, SGD, spec, "fast_conv_autoencoder", batches=2)
    assert len(calls) == 2


def test_autograd_where_no_fast_step_applies():
    def name(model, training):
        optimizer = build_optimizer(training.optimizer, model.parameters(), training.learning_rate, training.momentum)
        return select_autoencoder_step(model, training, optimizer)[1]

    dense = DenseAutoencoderConfig(hidden_sizes=(4,), coding_size=2)
    model = DenseAutoencoder(dense.for_data(FASHION))
    assert name(model, SGD) == "fast_dense"
    assert name(model, TrainingConfig(optimizer="sgd", fast_path=False)) == "autograd"
    assert name(model, TrainingConfig(optimizer="sgd", momentum=0.9)) == "autograd"
    assert name(model, RMSPROP) == "autograd"
    for options in ({"tied": True}, {"input_noise": "gaussian", "noise_level": 0.1},
                    {"coding_activation": "sigmoid", "sparsity": "l1", "sparsity_weight": 0.1},
                    {"activation": "sigmoid"}, {"output_activation": "selu"}):
        model = DenseAutoencoder(DenseAutoencoderConfig(hidden_sizes=(4,), coding_size=2, **options).for_data(FASHION))
        assert name(model, SGD) == "autograd", options
    vae = VAEConfig(hidden_sizes=(4,), coding_size=2)
    assert name(VariationalAutoencoder(vae.for_data(FASHION)), RMSPROP) == "fast_vae"
    assert name(VariationalAutoencoder(vae.for_data(images(1, 4, 4, scaling="standardize"))), RMSPROP) == "autograd"
    assert name(VariationalAutoencoder(VAEConfig(activation="relu").for_data(FASHION)), RMSPROP) == "autograd"
    assert name(ConvVariationalAutoencoder(ConvVAEConfig(channels=(2, 2)).for_data(FASHION)), RMSPROP) == "autograd"
    conv = ConvAutoencoder(ConvAutoencoderConfig(filters=(2, 2, 2)).for_data(FASHION))
    assert name(conv, TrainingConfig(optimizer="sgd", fast_path=False)) == "autograd"
    assert conv.encoder[0].weight.is_contiguous()  # not converted to channels-last


# --- the GAN steps ------------------------------------------------------------------------------------

def run_gan_steps(plain, fast, spec, expected_name, batches=3, labels=None, rtol=1e-9, **options):
    """A few steps of the plain and the fast step from the same weights and draws, with
    TrainingConfig `options` (with ema_decay, a moving average too): the same logits and weights
    (to `rtol`: sums in another order; RMSprop divides by small gradients' norms)."""
    steps, averages = {}, {}
    for label, model, fast_path in (("plain", plain, False), ("fast", fast, True)):
        training = TrainingConfig(optimizer="rmsprop", learning_rate=0.01, fast_path=fast_path, **options)
        optimizer_d = build_optimizer("rmsprop", model.discriminator.parameters(), 0.01)
        optimizer_g = build_optimizer("rmsprop", model.generator.parameters(), 0.01)
        replay = ReplayPool(1, 0.5, torch.Generator().manual_seed(3))
        averages[label] = generator_average(model.generator, training.ema_decay) if training.ema_decay else None
        steps[label], name = select_gan_step(model, training, optimizer_d, optimizer_g, replay, averages[label])
        assert name == (expected_name if fast_path else "autograd")
    torch.manual_seed(5)
    data = torch.rand(batches, 4, *spec.shape)
    for index, batch in enumerate(data):
        results = {}
        for label in ("plain", "fast"):
            torch.manual_seed(100 + index)  # the same codings and dropout masks
            model = plain if label == "plain" else fast
            results[label] = steps[label](model.to_training_range(batch), labels)
        for fast_logits, plain_logits in zip(results["fast"], results["plain"]):
            torch.testing.assert_close(fast_logits.flatten(), plain_logits.flatten(), rtol=rtol, atol=rtol / 100)
    assert_same_parameters(plain, fast, rtol=rtol, atol=rtol / 100)
    if averages["plain"] is not None:
        for a, b in zip(averages["plain"].parameters(), averages["fast"].parameters()):
            torch.testing.assert_close(b, a, rtol=rtol, atol=rtol / 100)


def test_fast_gan_is_chosen_and_runs(monkeypatch, float64_default):
    spec = images(3, 3, 2)
    made = counting(monkeypatch, fast_gan, "make_fast_gan_step")
    config = GANConfig(coding_size=3, generator_sizes=(6,), discriminator_sizes=(5, 4)).for_data(spec)
    plain, fast = twin_models(lambda: GAN(config))
    run_gan_steps(plain, fast, spec, "fast_gan")
    assert len(made) == 1


@pytest.mark.parametrize("spec", [images(1, 12, 18), images(1, 12, 17), images(3, 8, 8),
                                  images(1, 12, 12, scaling="standardize")])
def test_fast_dcgan_is_chosen_and_runs_on_any_image(monkeypatch, spec, float64_default, one_thread):
    calls = counting(monkeypatch, fast_conv.FastDCGAN, "generate")
    planes = counting(monkeypatch, fast_conv.PlaneConvTranspose2d, "apply")
    config = DCGANConfig(coding_size=3, generator_channels=(4, 2), discriminator_channels=(2, 4)).for_data(spec)
    plain, fast = twin_models(lambda: GAN(config))
    run_gan_steps(plain, fast, spec, "fast_dcgan", batches=2)
    assert len(calls) == 4  # phases 1 and 2 of each step
    # The generator's last layer is a one-plane GEMM only where it is square and makes one channel:
    # 12x18 goes 3x5 -> 6x9 -> 12x18, output paddings (1, 0) then (1, 1); 12x17 ends with (1, 0).
    last = fast.generator[-1]
    square = len(set(last.output_padding)) == 1
    assert square == (spec.shape != (1, 12, 17))
    assert fast_conv.is_plane_conv(last) == (spec.shape[0] == 1 and square)
    assert bool(planes) == fast_conv.is_plane_conv(last)
    assert not fast_conv.is_plane_conv(fast.generator[3])  # many planes


def test_fast_dcgan_plane_layers_on_fashion(monkeypatch, float64_default, one_thread):
    planes = counting(monkeypatch, fast_conv.PlaneConv2d, "apply")
    config = DCGANConfig(coding_size=3, generator_channels=(4, 2), discriminator_channels=(2, 4)).for_data(FASHION)
    plain, fast = twin_models(lambda: GAN(config))
    run_gan_steps(plain, fast, FASHION, "fast_dcgan", batches=1)
    assert planes and fast_conv.is_plane_conv(fast.generator[-1])


@pytest.mark.parametrize("options", [{"gan_loss": "hinge", "ema_decay": 0.9},
                                     {"gan_loss": "least_squares", "critic_steps": 2},
                                     {"augment": ("translation", "cutout"), "ema_decay": 0.5}])
def test_fast_dcgan_takes_the_loops_losses_and_options(monkeypatch, options, float64_default, one_thread):
    calls = counting(monkeypatch, fast_conv.FastDCGAN, "discriminate")
    config = DCGANConfig(coding_size=3, generator_channels=(4, 2), discriminator_channels=(2, 4)).for_data(FASHION)
    plain, fast = twin_models(lambda: GAN(config))
    run_gan_steps(plain, fast, FASHION, "fast_dcgan", batches=2, rtol=1e-7, **options)
    assert len(calls) == 2 * (2 * options.get("critic_steps", 1) + 1)  # reals and fakes per critic step, then fakes


def test_gans_take_autograd_where_no_fast_step_applies():
    def name(config, training=RMSPROP):
        model = GAN(config)
        return select_gan_step(model, training, build_optimizer("rmsprop", model.discriminator.parameters(), 0.01),
                               build_optimizer("rmsprop", model.generator.parameters(), 0.01), ReplayPool(0))[1]

    gan = GANConfig(coding_size=2, generator_sizes=(4,), discriminator_sizes=(4,))
    assert name(gan.for_data(FASHION)) == "fast_gan"
    assert name(gan.for_data(images(1, 4, 4, scaling="standardize"))) == "autograd"  # linear outputs
    assert name(GANConfig(**{**gan.__dict__, "conditional": True}).for_data(FASHION)) == "autograd"
    assert name(GANConfig(**{**gan.__dict__, "minibatch_kernels": 2}).for_data(FASHION)) == "autograd"
    assert name(gan.for_data(FASHION), TrainingConfig(optimizer="rmsprop", fast_path=False)) == "autograd"
    assert name(gan.for_data(FASHION), TrainingConfig(optimizer="adam")) == "autograd"
    dcgan = DCGANConfig(coding_size=2, generator_channels=(2, 2), discriminator_channels=(2, 2))
    assert name(dcgan.for_data(FASHION)) == "fast_dcgan"
    assert name(DCGANConfig(**{**dcgan.__dict__, "conditional": True}).for_data(FASHION)) == "autograd"
    assert name(dcgan.for_data(FASHION), TrainingConfig(optimizer="rmsprop", fast_path=False)) == "autograd"
    for model_option in ({"minibatch_std": True}, {"spectral_norm": True}, {"pack": 2}):  # D's layers differ
        assert name(DCGANConfig(**{**dcgan.__dict__, **model_option}).for_data(FASHION)) == "autograd", model_option
    for penalty in ({"gradient_penalty": 10.0}, {"r1_penalty": 1.0}):  # would differentiate the layers twice
        assert name(dcgan.for_data(FASHION), TrainingConfig(optimizer="rmsprop", **penalty)) == "autograd", penalty


def test_step_names_are_the_documented_ones():
    assert set(fast_steps.AUTOENCODER_STEPS) == {"fast_dense", "fast_vae", "fast_conv_autoencoder", "compiled",
                                                 "autograd"}
    assert set(fast_steps.GAN_STEPS) == {"fast_gan", "fast_dcgan", "compiled", "autograd"}
    listed = {line.split()[0] for line in fast_steps.__doc__.splitlines() if line.startswith("    ")}
    assert set(fast_steps.AUTOENCODER_STEPS) | set(fast_steps.GAN_STEPS) == listed  # the module's docstring
