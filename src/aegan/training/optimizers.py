"""Optimizers by name, with Keras' defaults so that the book's recipes carry over."""

from __future__ import annotations

import math

import torch


def build_optimizer(name: str, parameters, learning_rate: float, momentum: float = 0.0,
                    betas: tuple[float, ...] = (0.9, 0.999)):
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=learning_rate, momentum=momentum)
    if name == "rmsprop":  # Keras: rho 0.9, epsilon 1e-7
        return torch.optim.RMSprop(parameters, lr=learning_rate, alpha=0.9, eps=1e-7, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=learning_rate, eps=1e-7, betas=tuple(betas))
    if name == "nadam":
        return torch.optim.NAdam(parameters, lr=learning_rate, eps=1e-7, betas=tuple(betas))
    raise ValueError(f"unknown optimizer {name!r}")


SCHEDULES = ("constant", "cosine")


def scheduled_learning_rate(schedule: str, base: float, step: int, total_steps: int) -> float:
    """The learning rate of step `step` (0-based) of `total_steps`: `base` throughout ("constant"), or
    half a cosine from `base` down to 0 at the last step ("cosine", Loshchilov & Hutter 2017)."""
    if schedule == "constant":
        return base
    return base * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))


def with_schedule(step, optimizer, schedule: str, base: float, total_steps: int):
    """`step` that first sets every parameter group's learning rate for the step it takes; the step
    counter (`.steps_done`, set it when a run resumes) is the only state, so resuming needs nothing saved."""
    def scheduled(x):
        rate = scheduled_learning_rate(schedule, base, scheduled.steps_done, total_steps)
        for group in optimizer.param_groups:
            group["lr"] = rate
        scheduled.steps_done += 1
        return step(x)

    scheduled.steps_done = 0
    return scheduled
