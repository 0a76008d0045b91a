"""Greedy layer-wise pretraining: one shallow autoencoder per coding layer, then stacking.

Stage 1 trains input -> layer 1 -> input with the model's own loss and output; each later
stage trains codings(k-1) -> layer k -> codings(k-1) with MSE and the hidden activation as
output (the book's AE2), on the previous stage's codings. Each stage's encoder and decoder
weights are copied into the matching layers of the deep model, which is then fine-tuned by
the ordinary loop.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from aegan.errors import AeganError
from aegan.models.autoencoders import DenseAutoencoder, DenseAutoencoderConfig
from aegan.training.autoencoder import check_finite, evaluate_reconstruction, make_train_step, run_epoch
from aegan.training.optimizers import build_optimizer


def _linears(sequential: nn.Sequential) -> list[nn.Module]:
    return [m for m in sequential if isinstance(m, nn.Linear)]


def greedy_pretrain(model, config, train: torch.Tensor, valid: torch.Tensor, run_dir: Path,
                    shuffle: torch.Generator, log: Callable[[str], None] = print) -> list[dict]:
    """Pretrain `model` (a DenseAutoencoder) stage by stage; write run_dir/pretrain.jsonl."""
    training = config.training
    if type(model) is not DenseAutoencoder or model.config.tied:
        raise AeganError("training.pretrain_epochs: greedy layer-wise pretraining needs an untied dense_ae "
                         "model; remove the pretrain_* keys or set model.tied=false")
    encoder_layers, decoder_layers = _linears(model.encoder), _linears(model.decoder)[::-1]
    if len(training.pretrain_epochs) != len(encoder_layers):
        raise AeganError(f"training.pretrain_epochs has {len(training.pretrain_epochs)} stages, the model has "
                         f"{len(encoder_layers)} coding layers: give one per layer")
    mc = model.config
    inputs, valid_inputs = train.flatten(1), valid.flatten(1)
    history = []
    for stage, (epochs, learning_rate) in enumerate(zip(training.pretrain_epochs, training.pretrain_learning_rates)):
        last = stage == len(encoder_layers) - 1
        stage_config = DenseAutoencoderConfig(
            input_shape=(encoder_layers[stage].in_features,), hidden_sizes=(),
            coding_size=encoder_layers[stage].out_features, activation=mc.activation,
            coding_activation=(mc.coding_activation or mc.activation) if last else mc.activation,
            reconstruction_loss=mc.reconstruction_loss if stage == 0 else "mse",
            output_activation=model.output_activation if stage == 0 else mc.activation,
        )
        shallow = DenseAutoencoder(stage_config).to(train.device)
        stage_training = training.__class__(**{**training.__dict__, "learning_rate": learning_rate,
                                               "num_epochs": epochs, "pretrain_epochs": (),
                                               "pretrain_learning_rates": ()})
        optimizer = build_optimizer(training.optimizer, shallow.parameters(), learning_rate, training.momentum)
        step, _ = make_train_step(shallow, stage_training, optimizer)
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            loss = run_epoch(step, inputs, training.batch_size, shuffle, epoch=epoch,
                             learning_rate=learning_rate).item() / inputs.numel()
            validation = evaluate_reconstruction(shallow, valid_inputs, rounded=stage == 0)
            record = {"stage": stage + 1, "epoch": epoch, "loss": loss, "val_loss": validation["loss"],
                      "seconds": round(time.perf_counter() - start, 4)}
            check_finite(epoch, {"pretraining loss": loss, "pretraining val_loss": validation["loss"]}, training)
            history.append(record)
            with open(run_dir / "pretrain.jsonl", "a") as handle:
                handle.write(json.dumps(record, allow_nan=False) + "\n")
            log(f"pretrain stage {stage + 1} epoch {epoch}/{epochs}  loss {loss:.4f}  val_loss {record['val_loss']:.4f}")
        with torch.no_grad():
            encoder_layers[stage].load_state_dict(_linears(shallow.encoder)[0].state_dict())
            decoder_layers[stage].load_state_dict(_linears(shallow.decoder)[0].state_dict())
            shallow.eval()
            inputs, valid_inputs = shallow.encode(inputs), shallow.encode(valid_inputs)
    return history
