"""Mixed precision (`training.precision`): fp32, or autocast to bf16 or fp16 around the forward
passes, with a gradient scaler for fp16.

The weights, the optimizer's state and the checkpoints stay fp32; autocast runs the matrix
products and convolutions in the lower precision and keeps losses and reductions in fp32.
bf16 has fp32's range, so it needs no scaler; fp16 does (torch.amp.GradScaler), and so is
refused with the gradient penalties, whose input gradients a scaler would have to unscale.
On a CPU, bf16 is fast only with bf16 units (AVX-512 BF16 or AMX); without them PyTorch
emulates it, and `cpu_bf16_units` lets the loop say so.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from aegan.errors import AeganError

PRECISIONS = ("fp32", "bf16", "fp16")
BF16_FLAGS = {"avx512_bf16": "AVX-512 BF16", "amx_bf16": "AMX"}


def cpu_bf16_units(cpuinfo: str | None = None) -> list[str] | None:
    """The CPU's bf16 units by name (AVX-512 BF16, AMX), [] when it has none, None when unknown
    (no /proc/cpuinfo)."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        if not path.is_file():
            return None
        cpuinfo = path.read_text(errors="replace")
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[-1].split())
    return [name for flag, name in BF16_FLAGS.items() if flag in flags]


def check(training, device: torch.device) -> str | None:
    """Refuse what mixed precision cannot do; return a line for the log (or None)."""
    precision = training.precision
    if precision == "fp32":
        return None
    if precision == "fp16" and (training.gradient_penalty or training.r1_penalty):
        raise AeganError("training.precision='fp16' with training.gradient_penalty or r1_penalty: the penalty's "
                         "input gradients would be scaled; use precision 'bf16' (no scaler), or 'fp32'")
    if device.type == "cpu" and precision == "bf16":
        units = cpu_bf16_units()
        if units == []:
            return ("training.precision='bf16': this CPU has no bf16 units (AVX-512 BF16 or AMX), so PyTorch "
                    "emulates bf16 and it runs slower than fp32")
        if units:
            return f"training.precision='bf16' on this CPU's {' and '.join(units)}"
    if device.type == "cpu" and precision == "fp16":
        return "training.precision='fp16' on a CPU: few CPUs compute in fp16; bf16 is the CPU's lower precision"
    return None


class Precision:
    """autocast() around a step's forward passes; backward(loss) and step(optimizer) through the
    gradient scaler when there is one (fp16); update() once per training step."""

    def __init__(self, precision: str = "fp32", device: torch.device | str = "cpu"):
        self.precision = precision
        self.device_type = torch.device(device).type
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        self.scaler = torch.amp.GradScaler(self.device_type) if precision == "fp16" else None

    @property
    def mixed(self) -> bool:
        return self.dtype is not None

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()

    def step(self, optimizer) -> None:
        if self.scaler is None:
            optimizer.step()
        else:
            self.scaler.step(optimizer)

    def update(self) -> None:
        if self.scaler is not None:
            self.scaler.update()

    @staticmethod
    def full(tensor: torch.Tensor) -> torch.Tensor:
        """A tensor autocast made bf16 or fp16, back in fp32 (losses, logits, fakes); others as they are
        (float64 stays float64)."""
        return tensor.float() if tensor.dtype in (torch.bfloat16, torch.float16) else tensor

    def state(self) -> dict | None:
        """The gradient scaler's state for a checkpoint's JSON (None without one)."""
        return None if self.scaler is None else self.scaler.state_dict()

    def load_state(self, state: dict | None) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


FP32 = Precision()
