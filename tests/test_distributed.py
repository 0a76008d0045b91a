"""Data-parallel training on torchrun: N processes take the steps of one process on the same global batch."""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import aegan
from aegan import shards
from aegan.errors import AeganError
from aegan.models import FAMILIES
from aegan.training import distributed
from aegan.training.distributed import DataParallel

QUIET = {"progress": False, "log": lambda message: None}


@pytest.fixture
def images(random_images):
    return random_images


def torchrun(*args, processes: int = 2, **kwargs) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
            "-m", "aegan", "train", *map(str, args)]


def newest(run_dir: Path) -> Path:
    return sorted((Path(run_dir) / "checkpoints").glob("epoch-*.safetensors"))[-1]


def largest_difference(first: Path, second: Path) -> float:
    a, b = load_file(first), load_file(second)
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a if k.startswith("model."))


# --- the pieces, in one process ---------------------------------------------------------------

@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_each_process_takes_the_slice_tensor_split_would_give_it(world_size):
    for total in range(0, 23):
        index = torch.arange(total)
        parts = [DataParallel(rank, world_size).shard(index) for rank in range(world_size)]
        expected = index.tensor_split(world_size)
        assert [p.tolist() for p in parts] == [e.tolist() for e in expected]


def test_a_last_batch_smaller_than_the_number_of_processes_is_left_out():
    assert DataParallel(0, 4).steps(100, 32) == 4  # 100 = 3 x 32 + 4: four rows, one each
    assert DataParallel(0, 4).steps(99, 32) == 3  # three rows left for four processes: left out
    assert DataParallel(0, 1).steps(97, 32) == 4


def run_as(rank: int, world_size: int, total: int, seed: int, action):
    """action() in rank's step of a `total`-row batch, from the same generator state as every rank."""
    parallel = DataParallel(rank, world_size)
    torch.manual_seed(seed)
    with parallel.step(total):
        return action(parallel.rows(total)[1])


@pytest.mark.parametrize("world_size, total", [(2, 16), (3, 10), (4, 7)])
def test_per_sample_draws_are_the_global_batchs_rows(world_size, total):
    draws = {
        "gaussian": lambda n: shards.rows(lambda m: torch.randn(m, 3), n),
        "labels": lambda n: shards.rows(lambda m: torch.randint(0, 10, (m,)), n),
        "codings": lambda n: torch.cat(shards.blocks(lambda m: torch.randn(m, 2), n, 3)),
        "dropout": lambda n: shards.dropout(torch.ones(n, 4, 2), 0.4),
    }
    for name, draw in draws.items():
        parts = [run_as(rank, world_size, total, 5, draw) for rank in range(world_size)]
        torch.manual_seed(5)
        whole = draw(total)
        if name == "codings":  # three blocks of `total` rows; each rank holds its rows of each block
            blocks = [torch.cat([p.reshape(3, -1, 2)[block] for p in parts]) for block in range(3)]
            assert torch.equal(torch.cat(blocks), whole), name
        else:
            assert torch.equal(torch.cat(parts), whole), name
    # outside a data-parallel step, the plain draw
    torch.manual_seed(5)
    plain = torch.randn(total, 3)
    torch.manual_seed(5)
    assert torch.equal(shards.rows(lambda m: torch.randn(m, 3), total), plain)


def test_batch_norm_and_dropout_keep_their_weights_and_names_and_act_alike_in_one_process():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.3), nn.Flatten(), nn.BatchNorm1d(256))
    keys = list(model.state_dict())
    weight = model[1].weight
    DataParallel(0, 2).prepare(model)
    assert type(model[1]) is distributed.GlobalBatchNorm2d and type(model[4]) is distributed.GlobalBatchNorm1d
    assert type(model[2]) is distributed.GlobalDropout
    assert list(model.state_dict()) == keys and model[1].weight is weight
    plain = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.3), nn.Flatten(), nn.BatchNorm1d(256))
    plain.load_state_dict(model.state_dict())
    x = torch.randn(5, 1, 10, 10)
    torch.manual_seed(1)
    a = model(x)
    torch.manual_seed(1)
    assert torch.equal(a, plain(x))  # no data-parallel step active: torch's own layers


def test_options_that_keep_state_per_process_are_refused(images):
    config = aegan.api.load_config("gan", {"training.replay_pool_batches": 10})
    with pytest.raises(AeganError, match="replay_pool_batches with torchrun"):
        distributed.refuse_unsupported(config, DataParallel(0, 2), FAMILIES["gan"])
    distributed.refuse_unsupported(config, DataParallel(), FAMILIES["gan"])  # one process: fine
    config = aegan.api.load_config("gan", {"training.batch_size": 33})
    with pytest.raises(AeganError, match="does not split evenly over 2 processes"):
        distributed.refuse_unsupported(config, DataParallel(0, 2), FAMILIES["gan"])
    config = aegan.api.load_config("greedy_ae")
    with pytest.raises(AeganError, match="pretrain_epochs with torchrun"):
        distributed.refuse_unsupported(config, DataParallel(1, 2), FAMILIES[config.model.kind])
    config = aegan.api.load_config("conv_ae", {"training.compile": True})
    with pytest.raises(AeganError, match="training.compile with torchrun"):
        distributed.refuse_unsupported(config, DataParallel(1, 2), FAMILIES[config.model.kind])


# --- real torchrun jobs ----------------------------------------------------------------------

# RMSprop and Adam take sign-like first steps (the gradient over its own running size), so a parameter
# whose gradient is float noise (a convolution's bias before batch norm, a GAN weight whose gradients
# from reals and fakes cancel) moves by a full step in a direction set by rounding, and GAN training
# amplifies it; the GANs are compared with plain SGD, where the match is to float rounding.
SGD = ["--set", "training.optimizer=sgd", "--set", "training.learning_rate=0.001"]
SETTINGS = {"stacked_ae": [], "vae": [], "gan": SGD, "dcgan": SGD,
            # with every option that draws per sample or takes batch statistics; SGD, since Adam's sign-like
            # steps turn float noise in the zero gradients of biases before batch norm into whole steps
            "feature_ae": [*SGD, "--set", "model.filters=[4, 4, 4]", "--set", "model.coding_size=5",
                           "--set", "model.augment=['flip', 'translation']", "--set", "model.mask_ratio=0.25",
                           "--set", "model.invariance_weight=1.0", "--set", "model.coding_noise=0.1"]}


@pytest.mark.slow  # torchrun starts 2 processes (about 11 s even for stacked_ae); CI runs the slow suite
@pytest.mark.parametrize("preset", ["stacked_ae", "vae", "gan", "dcgan", "feature_ae"])
def test_two_processes_match_one_process_on_the_same_global_batch(images, tmp_path, preset):
    # 240 samples: 192 train; batch 20 leaves a last batch of 12 (autoencoders), split 6 / 6
    args = [preset, "--data", images, "--epochs", "2", "--batch-size", "20", "--quiet",
            "--set", "training.fast_path=false", *SETTINGS[preset]]
    two = subprocess.run(torchrun(*args, "--out", tmp_path / "two"), capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.strip() == str(tmp_path / "two")  # one line per job, from rank 0
    one = subprocess.run([sys.executable, "-m", "aegan", "train", *map(str, args), "--out", tmp_path / "one"],
                         capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    info = json.loads((tmp_path / "two" / "run.json").read_text())
    assert info["processes"] == 2 and info["training_steps"] == ["data_parallel"]
    assert json.loads((tmp_path / "one" / "run.json").read_text())["training_steps"] == ["autograd"]
    assert newest(tmp_path / "two").name == newest(tmp_path / "one").name == "epoch-0002.safetensors"
    assert largest_difference(newest(tmp_path / "two"), newest(tmp_path / "one")) < 1e-5
    one_metrics = [json.loads(line) for line in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    two_metrics = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    for a, b in zip(one_metrics, two_metrics, strict=True):  # the losses are the global batch's
        for key in a:
            if key != "seconds":
                assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_a_two_process_run_killed_and_resumed_equals_an_uninterrupted_one(tmp_path):
    data = tmp_path / "images.npy"
    np.save(data, (np.random.default_rng(2).random((1500, 1, 8, 8)) * 255).astype(np.uint8))
    args = ["gan", "--data", data, "--epochs", "2", "--batch-size", "16", "--quiet",
            "--set", "training.checkpoint_every_steps=10", "--set", "training.keep_checkpoints=3"]
    full = subprocess.run(torchrun(*args, "--out", tmp_path / "full"), capture_output=True, text=True, timeout=600)
    assert full.returncode == 0, full.stderr[-3000:]
    job = subprocess.Popen(torchrun(*args, "--out", tmp_path / "killed"), start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = tmp_path / "killed" / "checkpoints" / "epoch-0001-step-0000040.json"
    deadline = time.time() + 300
    while not marker.exists():
        assert job.poll() is None and time.time() < deadline
        time.sleep(0.005)
    # the whole job dies at once, as when its machine goes down: both workers, then torchrun
    workers = [int(pid) for pid in Path(f"/proc/{job.pid}/task/{job.pid}/children").read_text().split()]
    assert len(workers) == 2
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    assert not (tmp_path / "killed" / "checkpoints" / "epoch-0002.json").exists()
    resumed = subprocess.run(torchrun("--resume", tmp_path / "killed", "--quiet"), capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert newest(tmp_path / "killed").name == "epoch-0002.safetensors"
    assert sha(newest(tmp_path / "killed")) == sha(newest(tmp_path / "full"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_on_one_machine_train_as_two_processes_do(images, tmp_path):
    """Two torchrun invocations, one per 'node', meeting at 127.0.0.1: the same weights as one
    torchrun with two processes."""
    args = ["stacked_ae", "--data", images, "--epochs", "2", "--batch-size", "16", "--quiet"]
    port = free_port()
    nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes=2", f"--node_rank={rank}",
                               "--nproc_per_node=1", "--master_addr=127.0.0.1", f"--master_port={port}",
                               "-m", "aegan", "train", *map(str, args), "--out", str(tmp_path / "nodes")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for rank in (0, 1)]
    outputs = [node.communicate(timeout=600) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs[0][1][-2000:] + outputs[1][1][-2000:]
    info = json.loads((tmp_path / "nodes" / "run.json").read_text())
    assert info["processes"] == 2
    assert sorted(p.name for p in (tmp_path / "nodes" / "checkpoints").glob("*.json")) == \
        ["epoch-0001.json", "epoch-0002.json"]
    two = subprocess.run(torchrun(*args, "--out", tmp_path / "two"), capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    assert largest_difference(newest(tmp_path / "nodes"), newest(tmp_path / "two")) < 1e-6
