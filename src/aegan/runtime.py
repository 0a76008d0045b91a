"""Where and how computations run: device choice, thread count, seeding."""

from __future__ import annotations

import torch

from aegan.errors import AeganError


def select_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise AeganError("training.device='cuda' but no CUDA GPU is visible: use 'auto' or 'cpu'")
    return torch.device(name)


ISA_FLAGS = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_vnni": "AVX-512 VNNI", "avx512_bf16": "AVX-512 BF16",
             "amx_tile": "AMX", "amx_bf16": "AMX BF16"}


def cpu_description() -> str:
    """The CPU's model name, its vector extensions that matter to PyTorch's kernels, and the ones
    PyTorch uses; for benchmark headers, since these machines differ."""
    import platform
    from pathlib import Path

    name, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name") and ":" in line:
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and ":" in line:
                flags.update(line.split(":", 1)[1].split())
    isa = ", ".join(label for flag, label in ISA_FLAGS.items() if flag in flags) or "no flags readable"
    return f"{name}; {isa}; torch kernels {torch.backends.cpu.get_cpu_capability()}"


def configure_threads(num_threads: int = 0) -> int:
    """Set PyTorch's intra-op threads (0 keeps its default: one per physical core)."""
    if num_threads > 0:
        torch.set_num_threads(num_threads)
    return torch.get_num_threads()


def seed_everything(seed: int) -> torch.Generator:
    """Seed PyTorch's global generator; return a separate generator for shuffling."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse instead of giving it back to the OS.

    PyTorch's CPU allocator has no cache: every activation is a fresh malloc. glibc serves
    blocks above its mmap threshold (128 KiB at first) with mmap and unmaps them when they
    are freed, so each step of a convolutional network touches fresh pages again: the plain
    conv autoencoder and DCGAN steps take 1,000-2,000 page faults each, every page zeroed by
    the kernel. Raising the mmap and trim thresholds lets those blocks be reused from the
    heap (same results). The price is a heap that does not shrink below its peak, tens of MB
    here. Process-wide, so only the fast paths (fast_dense, fast_vae, fast_gan, fast_conv) call it. Returns
    False (and does nothing) off glibc.
    """
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from <malloc.h>
    return bool(mallopt(m_mmap_threshold, 32 << 20)) and bool(mallopt(m_trim_threshold, 256 << 20))
