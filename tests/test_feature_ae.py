"""The feature autoencoder's options each act: views, masking, the codings' agreement, batch norm,
and the cosine learning-rate schedule (with resume)."""

import hashlib
import json

import pytest
import torch

import aegan
from aegan.errors import AeganError
from aegan.models import FeatureAutoencoder, FeatureAutoencoderConfig
from aegan.models.feature_autoencoder import flip, invariance, mask_patches
from aegan.training.optimizers import scheduled_learning_rate, with_schedule

QUIET = {"progress": False, "log": lambda message: None}


def model(**options) -> FeatureAutoencoder:
    torch.manual_seed(0)
    return FeatureAutoencoder(FeatureAutoencoderConfig(input_shape=(1, 12, 12), filters=(4, 4, 4), coding_size=5,
                                                       reconstruction_loss="binary_crossentropy", **options))


def test_flip_mirrors_about_half_the_images_and_leaves_the_rest():
    torch.manual_seed(0)
    images = torch.rand(400, 1, 6, 6)
    flipped = flip(images)
    same = (flipped == images).flatten(1).all(1)
    mirrored = (flipped == images.flip(-1)).flatten(1).all(1)
    assert bool((same | mirrored).all())
    assert 150 < int(mirrored.sum()) < 250


def test_masking_zeroes_whole_squares_at_the_asked_share():
    torch.manual_seed(0)
    images = torch.rand(500, 1, 12, 12) + 0.1  # no zeros of their own
    hidden = mask_patches(images, 0.5, 4) == 0
    squares = hidden.view(500, 1, 3, 4, 3, 4)
    assert bool((squares.all(dim=(3, 5)) | ~squares.any(dim=(3, 5))).all())  # each 4x4 square all or nothing
    assert 0.45 < hidden.float().mean().item() < 0.55


def test_the_agreement_term_is_zero_for_equal_views_and_ignores_the_codings_scale():
    torch.manual_seed(0)
    first, second = torch.randn(256, 5), torch.randn(256, 5)
    assert invariance(first, first).item() == 0.0
    assert invariance(10 * first, 10 * second).item() == pytest.approx(invariance(first, second).item(), rel=1e-3)
    assert 1.8 < invariance(first, second).item() < 2.2  # unrelated views: about 2


def test_views_and_masks_apply_while_training_only():
    net = model(augment=("flip", "translation"), mask_ratio=0.5)
    images = torch.rand(64, 1, 12, 12) + 0.1
    net.train()
    assert not torch.equal(net.view(images), images)
    assert (net.hide(images) == 0).float().mean() > 0.3
    net.eval()
    assert torch.equal(net.view(images), images) and torch.equal(net.hide(images), images)
    assert torch.equal(net.loss_terms(images)["loss"], net.loss_terms(images)["loss"])  # no randomness in eval


def test_the_agreement_term_joins_the_loss_with_its_weight_and_trains_the_views_together():
    net = model(augment=("flip", "translation"), invariance_weight=3.0)
    images = torch.rand(32, 1, 12, 12)
    net.train()
    torch.manual_seed(1)
    terms = net.loss_terms(images)
    assert set(terms) == {"loss", "reconstruction", "invariance"}
    assert terms["loss"].item() == pytest.approx(terms["reconstruction"].item() + 3.0 * terms["invariance"].item())
    terms["invariance"].backward()
    assert net.encoder[0].weight.grad.abs().sum() > 0  # the encoder learns from the agreement
    assert net.decoder[0].weight.grad is None  # the decoder does not take part in it
    assert "invariance" not in model(augment=("flip",)).loss_terms(images)


def test_batch_norm_is_an_option():
    with_norm = [m for m in model(batch_norm=True).modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(with_norm) == 5 and not any(isinstance(m, torch.nn.BatchNorm2d) for m in model(batch_norm=False).modules())


@pytest.mark.parametrize("key, value, words", [
    ("augment", ("rotate",), "'rotate' is not a view"), ("mask_ratio", 1.0, "mask_ratio=1.0"),
    ("coding_size", 0, "coding_size=0"), ("invariance_weight", -1.0, "invariance_weight=-1.0"),
    ("input_shape", (1, 6, 6), "at least 8x8"), ("agreement", "cosine", "agreement='cosine'"),
    ("target", "clean", "target='clean'"), ("temperature", 0.0, "temperature=0.0"),
    ("coding_noise", -0.1, "coding_noise=-0.1"), ("convolutions_per_block", 0, "convolutions_per_block=0"),
    ("projection", -1, "projection=-1")])
def test_bad_options_are_one_line_errors(key, value, words):
    with pytest.raises(AeganError, match=words):
        FeatureAutoencoderConfig(**{key: value})


def test_the_cosine_schedule_follows_its_formula():
    assert scheduled_learning_rate("cosine", 2.0, 0, 100) == 2.0
    assert scheduled_learning_rate("cosine", 2.0, 50, 100) == pytest.approx(1.0)
    assert scheduled_learning_rate("cosine", 2.0, 100, 100) == pytest.approx(0.0)
    assert scheduled_learning_rate("constant", 2.0, 99, 100) == 2.0
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    rates = []
    step = with_schedule(lambda x: rates.append(optimizer.param_groups[0]["lr"]), optimizer, "cosine", 2.0, 4)
    for _ in range(4):
        step(None)
    assert rates == pytest.approx([2.0, 2.0 * 0.5 * (1 + 0.5 ** 0.5), 1.0, 2.0 * 0.5 * (1 - 0.5 ** 0.5)])


def sha(run) -> str:
    newest = sorted((run.path / "checkpoints").glob("epoch-*.safetensors"))[-1]
    return hashlib.sha256(newest.read_bytes()).hexdigest()


def test_feature_ae_trains_with_the_cosine_schedule_and_resumes_bit_identically(random_images, tmp_path):
    overrides = {"training.num_epochs": 3, "training.batch_size": 32, "model.filters": [4, 4, 4],
                 "model.coding_size": 5}
    full = aegan.train("feature_ae", data=random_images, out=tmp_path / "full", overrides=overrides, **QUIET)
    saved = json.loads(sorted((full.path / "checkpoints").glob("epoch-0003.json"))[0].read_text())
    assert json.loads((full.path / "run.json").read_text())["training_steps"] == ["autograd"]
    assert json.dumps(saved).count('"lr"') >= 1
    cut = aegan.train("feature_ae", data=random_images, out=tmp_path / "cut", overrides=overrides, **QUIET)
    for file in (cut.path / "checkpoints").glob("epoch-0003.*"):  # as if killed during epoch 3
        file.unlink()
    assert sha(aegan.resume(cut.path, **QUIET)) == sha(full)
    codings = full.encode(torch.rand(4, 1, 8, 8).numpy())
    assert codings.shape == (4, 5)


def test_the_schedule_turns_the_fast_step_off_and_gans_refuse_it(random_images, tmp_path):
    run = aegan.train("stacked_ae", data=random_images, out=tmp_path / "cosine", epochs=1, **QUIET,
                      overrides={"training.learning_rate_schedule": "cosine"})
    assert json.loads((run.path / "run.json").read_text())["training_steps"] == ["autograd"]
    with pytest.raises(AeganError, match="applies to autoencoders only"):
        aegan.train("gan", data=random_images, out=tmp_path / "gan", epochs=1, **QUIET,
                    overrides={"training.learning_rate_schedule": "cosine"})


def test_the_contrastive_agreement_is_simclrs_nt_xent():
    from aegan.models.feature_autoencoder import contrastive

    torch.manual_seed(0)
    first, second = torch.randn(6, 4), torch.randn(6, 4)
    both = torch.nn.functional.normalize(torch.cat([first, second]), dim=1)
    expected = 0.0
    for i in range(12):
        partner = (i + 6) % 12
        others = [j for j in range(12) if j != i]
        logits = torch.stack([both[i] @ both[j] / 0.5 for j in others])
        expected += -(logits[others.index(partner)] - torch.logsumexp(logits, 0)) / 12
    assert contrastive(first, second, 0.5).item() == pytest.approx(expected.item(), rel=1e-5)
    assert contrastive(first, first + 1e-3 * second, 0.1) < contrastive(first, second, 0.1)  # partners found


def test_the_decoder_reconstructs_the_original_or_the_view_as_asked():
    images = torch.rand(16, 1, 12, 12)
    for target in ("view", "original"):
        net = model(augment=("flip",), target=target)
        net.train()
        torch.manual_seed(3)
        view = net.view(images)
        codings = net.encode(view)
        logits = net.decode_logits(codings)
        expected = net.reconstruction_loss(logits, view if target == "view" else images)
        torch.manual_seed(3)
        assert net.loss_terms(images)["reconstruction"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_standardized_codings_have_mean_0_and_variance_1_over_the_batch():
    net = model(standardize_codings=True)
    net.train()
    codings = net.encode(torch.rand(64, 1, 12, 12))
    assert codings.mean(0).abs().max() < 1e-5 and (codings.var(0, unbiased=False) - 1).abs().max() < 1e-3
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in model().modules())


def test_coding_noise_reaches_the_decoder_while_training_only():
    images = torch.rand(16, 1, 12, 12)
    net = model(coding_noise=0.5)
    net.train()
    codings = net.encode(images)
    clean = net.reconstruction_loss(net.decode_logits(codings), images).item()
    torch.manual_seed(0)
    noisy = net.loss_terms(images)["reconstruction"].item()
    torch.manual_seed(1)
    assert noisy != clean and net.loss_terms(images)["reconstruction"].item() != noisy
    net.eval()
    assert net.loss_terms(images)["loss"].item() == pytest.approx(
        net.reconstruction_loss(net.decode_logits(net.encode(images)), images).item())


def test_few_labels_with_a_batch_norm_encoder_keeps_the_frozen_statistics(random_images, tmp_path):
    """A fresh encoder with batch norm on its codings builds (one zero sample, in evaluation mode),
    a last batch of one sample is skipped, and the frozen phase leaves the running statistics alone."""
    import numpy as np

    from aegan.evaluation.pretraining import few_label_experiment

    run = aegan.train("feature_ae", data=random_images, out=tmp_path / "run", epochs=1, **QUIET,
                      overrides={"model.filters": [4, 4, 4], "model.coding_size": 5})
    samples = np.load(random_images)
    labels = np.arange(len(samples)) % 3
    norms = {}
    few_label_experiment(run.model, run.config.model, (samples[:160], labels[:160]), (samples[160:200], labels[160:200]),
                         (samples[200:], labels[200:]), labels=33, epochs=1,
                         on_phase=lambda name, classifier: norms.__setitem__(name, classifier.autoencoder.encoder[-1]
                                                                            .running_mean.clone()))
    assert torch.equal(norms["frozen"], run.model.encoder[-1].running_mean)
    assert not torch.equal(norms["fine_tuned"], run.model.encoder[-1].running_mean)


def test_convolutions_per_block_deepens_each_encoder_block():
    def convolutions(m):
        return [layer for layer in m.encoder if isinstance(layer, torch.nn.Conv2d)]

    deeper = model(convolutions_per_block=2)
    assert len(convolutions(model())) == 3 and len(convolutions(deeper)) == 6
    assert deeper.encode(torch.rand(3, 1, 12, 12)).shape == (3, 5)


def test_spherical_codings_have_length_sqrt_of_their_count():
    codings = model(spherical_codings=True, standardize_codings=True).eval().encode(torch.rand(4, 1, 12, 12))
    torch.testing.assert_close(codings.norm(dim=1), torch.full((4,), 5 ** 0.5))


def test_the_projection_head_carries_the_agreement_and_leaves_the_codings_as_they_are():
    assert model(projection=16).projection_head is None  # no agreement term, no head
    with_head = model(projection=16, invariance_weight=1.0, agreement="contrastive", augment=("flip",)).train()
    torch.manual_seed(1)
    terms = with_head.loss_terms(torch.rand(6, 1, 12, 12))
    terms["invariance"].backward()
    assert with_head.projection_head[-1].weight.shape == (16, 16)
    assert with_head.projection_head[0].weight.grad.abs().sum() > 0
    assert with_head.encode(torch.rand(2, 1, 12, 12)).shape == (2, 5)
