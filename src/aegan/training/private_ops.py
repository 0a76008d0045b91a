"""PyTorch's private operators that the fast steps use, resolved lazily, with public fallbacks.

The hand-derived steps (fast_dense, fast_gan, fast_vae) call a few operators that are not
part of PyTorch's public API: the fused backward kernels of SELU (`aten.elu_backward`), ReLU
(`aten.threshold_backward`) and the sigmoid (`aten.sigmoid_backward`), and the fused Adam
kernel (`torch._fused_adam_`) that fast_gan runs as RMSprop. Any PyTorch release may rename or
drop them, so nothing here touches them at import time. Each function below returns a
callable: the private operator when it exists and, tried once per process on a tiny tensor,
gives what a public reference computes; otherwise a fallback written with public torch
operations only, computing the same formula (same values, up to a rounding where the kernels
order operations differently; tests/test_fast_steps.py compares them).
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import torch

_PROBE_DTYPES = (torch.float32, torch.float64)


# --- the private operators, looked up only when asked for -----------------------------------------

def _private(name: str):
    """The private operator `name` (raises AttributeError or RuntimeError where this PyTorch lacks it)."""
    if name == "elu_backward":
        return torch.ops.aten.elu_backward.default
    if name == "elu_backward_into":
        return torch.ops.aten.elu_backward.grad_input
    if name == "threshold_backward":
        return torch.ops.aten.threshold_backward.default
    if name == "sigmoid_backward_into":
        return torch.ops.aten.sigmoid_backward.grad_input
    if name == "fused_adam":
        return torch._fused_adam_
    raise KeyError(name)


# --- public references (also the fallbacks) --------------------------------------------------------

def public_elu_backward(grad_output: torch.Tensor, alpha: float, scale: float, input_scale: float,
                        is_result: bool, self_or_result: torch.Tensor) -> torch.Tensor:
    """ELU's (and SELU's) derivative times grad_output, from the input or (is_result) the output.

    The kernel's formula: for the output y = scale * (alpha * (exp(input_scale * x) - 1)) where
    x <= 0, the derivative is input_scale * (y + alpha * scale); elsewhere it is scale.
    """
    like = self_or_result
    negative_coef = torch.tensor(alpha, dtype=like.dtype, device=like.device) * scale
    if is_result:
        negative = grad_output * input_scale * (self_or_result + negative_coef)
    else:
        negative = grad_output * input_scale * negative_coef * torch.exp(self_or_result * input_scale)
    return torch.where(self_or_result <= 0, negative, grad_output * scale)


def public_elu_backward_into(grad_output: torch.Tensor, alpha: float, scale: float, input_scale: float,
                             is_result: bool, self_or_result: torch.Tensor, *,
                             grad_input: torch.Tensor) -> torch.Tensor:
    """public_elu_backward written into grad_input (which may be grad_output itself)."""
    return grad_input.copy_(public_elu_backward(grad_output, alpha, scale, input_scale, is_result, self_or_result))


def public_threshold_backward(grad_output: torch.Tensor, self: torch.Tensor, threshold: float) -> torch.Tensor:
    """grad_output where self > threshold, 0 elsewhere (ReLU's backward from its output, threshold 0)."""
    return grad_output.masked_fill(self <= threshold, 0)


def public_sigmoid_backward_into(grad_output: torch.Tensor, output: torch.Tensor, *,
                                 grad_input: torch.Tensor) -> torch.Tensor:
    """grad_output * (1 - y) * y for the sigmoid's output y, as the kernel multiplies, into grad_input."""
    return torch.mul(grad_output, torch.rsub(output, 1), out=grad_input).mul_(output)


def public_fused_adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, *, lr: float,
                      beta1: float, beta2: float, weight_decay: float, eps: float, amsgrad: bool,
                      maximize: bool, grad_scale=None, found_inf=None) -> None:
    """torch._fused_adam_'s update (Adam; the steps in state_steps already counted), with public operations."""
    if grad_scale is not None or found_inf is not None:
        raise NotImplementedError("public_fused_adam: gradient scaling is not supported")
    for index, (param, grad, exp_avg, exp_avg_sq, step) in enumerate(
            zip(params, grads, exp_avgs, exp_avg_sqs, state_steps)):
        grad = -grad if maximize else grad
        if weight_decay:
            grad = grad.add(param, alpha=weight_decay)
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        count = float(step)
        bias_correction1 = 1 - beta1 ** count
        bias_correction2_sqrt = math.sqrt(1 - beta2 ** count)
        second = exp_avg_sq
        if amsgrad:
            torch.maximum(max_exp_avg_sqs[index], exp_avg_sq, out=max_exp_avg_sqs[index])
            second = max_exp_avg_sqs[index]
        denominator = (second.sqrt() / bias_correction2_sqrt).add_(eps)
        param.addcdiv_(exp_avg, denominator, value=-lr / bias_correction1)


# --- probes: each private operator tried once against its reference ---------------------------

def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and torch.allclose(a, b, rtol=1e-5, atol=1e-6)


def _sample(dtype) -> tuple[torch.Tensor, torch.Tensor]:
    values = torch.tensor([-2.0, -0.5, 0.0, 0.25, 1.5, -1e-3, 3.0], dtype=dtype)
    return values, torch.linspace(-1.0, 2.0, len(values), dtype=dtype)


def _probe_elu_backward() -> bool:
    op = _private("elu_backward")
    for dtype in _PROBE_DTYPES:
        y, grad = _sample(dtype)
        for is_result in (True, False):
            arguments = (grad, 1.67, 1.05, 1.0, is_result, y)
            if not _close(op(*arguments), public_elu_backward(*arguments)):
                return False
    return True


def _probe_elu_backward_into() -> bool:
    op = _private("elu_backward_into")
    for dtype in _PROBE_DTYPES:
        y, grad = _sample(dtype)
        out = torch.empty_like(y)
        result = op(grad, 1.67, 1.05, 1.0, True, y, grad_input=out)
        in_place = grad.clone()
        op(in_place, 1.67, 1.05, 1.0, True, y, grad_input=in_place)  # fast_gan writes over the gradient
        expected = public_elu_backward(grad, 1.67, 1.05, 1.0, True, y)
        if result.data_ptr() != out.data_ptr() or not _close(out, expected) or not _close(in_place, expected):
            return False
    return True


def _probe_threshold_backward() -> bool:
    op = _private("threshold_backward")
    for dtype in _PROBE_DTYPES:
        y, grad = _sample(dtype)
        if not torch.equal(op(grad, y, 0), public_threshold_backward(grad, y, 0)):
            return False
    return True


def _probe_sigmoid_backward_into() -> bool:
    op = _private("sigmoid_backward_into")
    for dtype in _PROBE_DTYPES:
        x, grad = _sample(dtype)
        y = torch.sigmoid(x)
        out, expected = torch.empty_like(y), torch.empty_like(y)
        result = op(grad, y, grad_input=out)
        public_sigmoid_backward_into(grad, y, grad_input=expected)
        if result.data_ptr() != out.data_ptr() or not _close(out, expected):
            return False
    return True


def _probe_fused_adam(device: str, dtype: torch.dtype) -> bool:
    op = _private("fused_adam")
    results = []
    for update in (op, public_fused_adam):
        param = torch.linspace(-1.0, 1.0, 5, dtype=dtype, device=device)
        grad = torch.linspace(0.5, -0.3, 5, dtype=dtype, device=device)
        exp_avg, exp_avg_sq = torch.zeros_like(param), torch.full_like(param, 0.01)
        step = torch.tensor(3.0, dtype=torch.float32, device=device)
        update([param], [grad], [exp_avg], [exp_avg_sq], [], [step], lr=0.01, beta1=0.0, beta2=0.9,
               weight_decay=0.0, eps=1e-7, amsgrad=False, maximize=False)
        results.append((param, exp_avg, exp_avg_sq))
    return all(_close(a, b) for a, b in zip(*results))


_PROBES = {
    "elu_backward": _probe_elu_backward,
    "elu_backward_into": _probe_elu_backward_into,
    "threshold_backward": _probe_threshold_backward,
    "sigmoid_backward_into": _probe_sigmoid_backward_into,
}


@functools.cache
def usable(name: str, device: str = "cpu", dtype: torch.dtype | None = None) -> bool:
    """Whether the private operator `name` exists here and computes what its public reference does
    (tried once per process; the fused Adam kernel once per device type and dtype)."""
    try:
        if name == "fused_adam":
            return _probe_fused_adam(device, dtype or torch.float32)
        return _PROBES[name]()
    except (AttributeError, RuntimeError, NotImplementedError, TypeError, ValueError):
        return False


# --- what the fast steps ask for -------------------------------------------------------------------

def elu_backward() -> Callable[..., torch.Tensor]:
    """(grad_output, alpha, scale, input_scale, is_result, self_or_result) -> gradient: aten.elu_backward."""
    return _private("elu_backward") if usable("elu_backward") else public_elu_backward


def elu_backward_into() -> Callable[..., torch.Tensor]:
    """As elu_backward, written into grad_input= (aten.elu_backward.grad_input)."""
    return _private("elu_backward_into") if usable("elu_backward_into") else public_elu_backward_into


def threshold_backward() -> Callable[..., torch.Tensor]:
    """(grad_output, self, threshold) -> grad_output where self > threshold, else 0: aten.threshold_backward."""
    return _private("threshold_backward") if usable("threshold_backward") else public_threshold_backward


def sigmoid_backward_into() -> Callable[..., torch.Tensor]:
    """(grad_output, output, grad_input=) -> grad_output * (1 - output) * output: aten.sigmoid_backward.grad_input."""
    return _private("sigmoid_backward_into") if usable("sigmoid_backward_into") else public_sigmoid_backward_into


def has_fused_adam(like: torch.Tensor) -> bool:
    """Whether torch._fused_adam_ runs (and computes Adam) for tensors like `like` (CPU: PyTorch >= 2.4)."""
    return usable("fused_adam", like.device.type, like.dtype)


def fused_adam(like: torch.Tensor) -> Callable[..., None]:
    """torch._fused_adam_ for tensors like `like`, or public_fused_adam (the same update, public operations)."""
    return _private("fused_adam") if has_fused_adam(like) else public_fused_adam
