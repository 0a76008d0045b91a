"""Pretraining with few labels really reuses the autoencoder's trained weights."""

import json

import numpy as np
import pytest
import torch

import aegan
from aegan.data.spec import DataSpec
from aegan.evaluation.pretraining import build_classifier, few_label_experiment
from aegan.models import DenseAutoencoder, DenseAutoencoderConfig, build_model
from conftest import run_cli


@pytest.fixture(scope="module")
def small_run(fashion, tmp_path_factory):
    return aegan.train("stacked_ae", out=tmp_path_factory.mktemp("runs") / "small", epochs=1, progress=False,
                       log=lambda m: None, overrides={"data.train_subset": 3000})


def encoder_state(classifier):
    return {name: value.clone() for name, value in classifier.autoencoder.encoder.state_dict().items()}


def same(a, b):
    return all(torch.equal(a[name], b[name]) for name in a)


def test_reused_classifier_starts_from_the_trained_weights_and_scratch_does_not(small_run):
    trained = {name: value.clone() for name, value in small_run.model.encoder.state_dict().items()}
    shape, classes = small_run.spec.shape, small_run.spec.num_classes
    reused = build_classifier(small_run.model, small_run.config.model, True, 0, shape, classes)
    scratch = build_classifier(small_run.model, small_run.config.model, False, 0, shape, classes)
    assert reused.head[-1].out_features == classes == 10
    assert same(encoder_state(reused), trained)
    assert not any(torch.equal(value, trained[name]) for name, value in encoder_state(scratch).items()
                   if name.endswith("weight"))
    fresh = build_model(small_run.model.config)  # an untrained model's codings differ from the run's
    images = torch.rand(8, *shape)
    with torch.no_grad():
        assert torch.equal(reused.autoencoder.encode(images), small_run.model.encode(images))
        assert not torch.allclose(fresh.encode(images), small_run.model.encode(images))
    # a copy: training the classifier must not change the run's model
    assert reused.autoencoder is not small_run.model
    assert next(reused.autoencoder.parameters()).data_ptr() != next(small_run.model.parameters()).data_ptr()


def test_frozen_phase_keeps_the_trained_encoder_and_fine_tuning_moves_it(small_run, fashion):
    trained = {name: value.clone() for name, value in small_run.model.encoder.state_dict().items()}
    snapshots = {}
    split = lambda images, labels: (images, labels)  # noqa: E731
    result = few_label_experiment(
        small_run.model, small_run.config.model, split(fashion.train_images[:3000], fashion.train_labels[:3000]),
        split(fashion.valid_images[:500], fashion.valid_labels[:500]),
        split(fashion.test_images[:500], fashion.test_labels[:500]), labels=200, seed=0, epochs=10,
        on_phase=lambda name, model: snapshots.__setitem__(name, encoder_state(model)))
    assert same(snapshots["frozen"], trained)
    assert not same(snapshots["fine_tuned"], trained)
    assert not same(snapshots["scratch"], trained)
    assert same({n: v for n, v in small_run.model.encoder.state_dict().items()}, trained)  # run untouched
    # far above chance (0.1) with 200 labels and 70 steps per phase
    for key in ("scratch", "frozen", "fine_tuned"):
        assert 0.4 < result[f"{key}_test_accuracy"] <= 1, result


def decoder_state(classifier):
    return {name: value.clone() for name, value in classifier.autoencoder.decoder.state_dict().items()}


def test_reconstructing_arms_keep_training_the_decoder_and_the_plain_arms_do_not(small_run, fashion):
    """Only the semi-supervised arms get gradients through the decoder (their autoencoder's loss
    on unlabelled images); the plain fine-tuned arm's numbers do not change when they are asked for."""
    trained_decoder = {name: value.clone() for name, value in small_run.model.decoder.state_dict().items()}
    snapshots = {}
    splits = ((fashion.train_images[:3000], fashion.train_labels[:3000]),
              (fashion.valid_images[:500], fashion.valid_labels[:500]),
              (fashion.test_images[:500], fashion.test_labels[:500]))
    record = lambda name, model: snapshots.__setitem__(name, (encoder_state(model), decoder_state(model)))  # noqa: E731
    protocol = {"labels": 100, "seed": 0, "epochs": 10, "fine_tune_learning_rate": 1e-3}
    with_arms = few_label_experiment(small_run.model, small_run.config.model, *splits, **protocol,
                                     reconstruction_weight=3.0, on_phase=record)
    plain = few_label_experiment(small_run.model, small_run.config.model, *splits, **protocol)
    assert same(snapshots["fine_tuned"][1], trained_decoder)  # cross-entropy alone never reaches the decoder
    assert not same(snapshots["reconstructing"][1], trained_decoder)
    assert not same(snapshots["reconstructing"][0], snapshots["fine_tuned"][0])
    assert not same(snapshots["scratch_reconstructing"][0], snapshots["scratch"][0])
    for key in ("reconstructing", "scratch_reconstructing"):
        assert 0.4 < with_arms[f"{key}_test_accuracy"] <= 1 and with_arms[f"{key}_seconds"] > 0, with_arms
    assert with_arms["reconstructing_seconds"] > with_arms["frozen_seconds"]  # both phases, as fine_tuned's
    assert "reconstructing_test_accuracy" not in plain
    for key in ("scratch", "frozen", "fine_tuned"):
        assert with_arms[f"{key}_test_accuracy"] == plain[f"{key}_test_accuracy"]


def test_classify_cli_writes_mean_and_spread_over_seeds_for_each_label_count(small_run):
    result = run_cli("classify", small_run.path, "--labels", 50, 100, "--seeds", 2, "--epochs", 1,
                     "--fine-tune-learning-rate", 3e-4, "--reconstruction-weight", 2)
    assert result.returncode == 0, result.stderr
    for arm in ("reused, then fine-tuned", "linear probe of codings", "scratch, reconstructing",
                "reused, reconstructing"):
        assert arm in result.stdout
    for labels in (50, 100):
        file = small_run.path / f"pretraining-{labels}-fine-tune-0.0003-reconstruction-2.json"
        assert f"written to {file}" in result.stdout
        report = json.loads(file.read_text())
        assert report["labels"] == labels and report["fine_tune_learning_rate"] == 3e-4
        assert report["reconstruction_weight"] == 2
        assert len({s["reconstructing_test_accuracy"] for s in report["seeds"]}) == 2  # one result per seed
        assert [s["seed"] for s in report["seeds"]] == [0, 1]
        values = [s["scratch_test_accuracy"] for s in report["seeds"]]
        assert report["scratch_test_accuracy_mean"] == pytest.approx(np.mean(values))
        assert report["scratch_test_accuracy_std"] == pytest.approx(np.std(values, ddof=1))
        assert 0 < report["probe_seconds_mean"] and report["fine_tuned_seconds_mean"] > report["frozen_seconds_mean"]
    bad = run_cli("classify", small_run.path, "--fine-tune-learning-rate", "-1")
    assert bad.returncode == 2 and "positive number" in bad.stderr and "Traceback" not in bad.stderr
    bad = run_cli("classify", small_run.path, "--reconstruction-weight", "nan")
    assert bad.returncode == 2 and "weight of the autoencoder's loss" in bad.stderr and "Traceback" not in bad.stderr


def test_the_probe_arm_is_logistic_regression_on_the_frozen_codings(small_run, fashion):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train = (fashion.train_images[:3000], fashion.train_labels[:3000])
    test = (fashion.test_images[:500], fashion.test_labels[:500])
    result = few_label_experiment(small_run.model, small_run.config.model, train, test, test, labels=100, seed=0,
                                  epochs=1)
    chosen = np.random.default_rng(0).choice(3000, size=100, replace=False)
    codings = small_run.encode(train[0][chosen])
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(codings, train[1][chosen])
    assert result["probe_test_accuracy"] == pytest.approx(probe.score(small_run.encode(test[0]), test[1]), abs=0.004)


def test_classify_rejects_bad_input_in_one_line(small_run, tmp_path):
    too_many = run_cli("classify", small_run.path, "--labels", 999999)
    assert too_many.returncode == 2 and "labels=999999" in too_many.stderr
    assert len(too_many.stderr.strip().splitlines()) == 1
    not_a_run = run_cli("classify", tmp_path)
    assert not_a_run.returncode == 2 and "not a run folder" in not_a_run.stderr


def test_any_sample_shape_and_class_count_without_fashion_mnist():
    """Four classes of 2x5x5 images, stored as uint8: the head has four outputs and the codings'
    size comes from the spec's shape."""
    rng = np.random.default_rng(0)
    labels = np.arange(240) % 4
    samples = (rng.random((240, 2, 5, 5)) * 60).astype(np.uint8)
    for k in range(4):
        samples[labels == k, k % 2, k, :] = 250
    spec = DataSpec("image", (2, 5, 5), dtype="uint8", scaling="divide_255", class_names=("a", "b", "c", "d"))
    config = DenseAutoencoderConfig(input_shape=(2, 5, 5), hidden_sizes=(16,), coding_size=6,
                                    reconstruction_loss="binary_crossentropy")
    torch.manual_seed(0)
    model = DenseAutoencoder(config)
    heads = []
    result = few_label_experiment(model, config, (samples[:160], labels[:160]), (samples[160:200], labels[160:200]),
                                  (samples[200:], labels[200:]), labels=80, epochs=15, spec=spec,
                                  on_phase=lambda name, classifier: heads.append(classifier.head[-1].out_features))
    assert heads == [4, 4, 4]
    assert result["scratch_test_accuracy"] > 0.6 and result["fine_tuned_test_accuracy"] > 0.6, result
    again = few_label_experiment(model, config, (spec.to_model(samples[:160]), labels[:160]),
                                 (spec.to_model(samples[160:200]), labels[160:200]),
                                 (spec.to_model(samples[200:]), labels[200:]), labels=80, epochs=15)
    def accuracies(report):
        return {key: value for key, value in report.items() if not key.endswith("_seconds")}

    assert accuracies(again) == accuracies(result)  # model inputs given directly: the same numbers
