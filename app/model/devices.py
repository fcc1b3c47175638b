"""Which device and precision torch runs on, and what to call the hardware in reports.

Shared by the engine, the training loop and the benchmarks. torch is imported inside each
function, so importing this module costs nothing until a device is actually chosen.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from app.model.scenes import ModelError

if TYPE_CHECKING:
    import torch


class DeviceError(ModelError):
    """A requested device that this machine does not have.

    A ModelError, so every place that reports an unusable model reports this the same way.
    """


def pick_device(requested: str | None = None) -> torch.device:
    """CUDA, then Apple MPS, then CPU; `requested` ('cuda', 'cuda:1', 'mps', 'cpu') overrides."""
    import torch

    if requested and requested != "auto":
        dev = torch.device(requested)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise DeviceError("CUDA was requested but no CUDA device is available")
        if dev.type == "mps" and not (
            getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
        ):
            raise DeviceError("MPS was requested but is not available")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def device_name(device: torch.device) -> str:
    import torch

    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "GPU: Apple MPS"
    return f"CPU ({torch.get_num_threads()} threads)"


@functools.cache
def _cpuinfo() -> dict[str, str] | None:
    """The first processor's fields in /proc/cpuinfo ("model name", "vendor_id", "flags"…);
    None where there is no such file (not Linux). Read once a process."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break  # the end of the first processor
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        return None
    return fields


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux names them (avx2, avx512_vnni, amx_int8…); empty where
    they cannot be read."""
    return frozenset((_cpuinfo() or {}).get("flags", "").split())


def cpu_name() -> str:
    """The processor's marketing name where the OS tells it (Linux), else platform's guess."""
    import platform

    return (_cpuinfo() or {}).get("model name") or platform.processor() or platform.machine()


def cpu_supports_bf16() -> bool:
    """Whether torch's bf16 beats its fp32 on this CPU, as measured (VGG16 at 150 px, 2 cores):
    AMX: yes; AMD with AVX512-BF16 (EPYC, 2026-11-30): 2x fp32; an Intel Xeon with AVX512-BF16
    but AMX hidden by its hypervisor (2026-12-06): 0.72x fp32, so no; without native bf16 oneDNN
    emulates it (an AVX2 EPYC: 0.4 img/s bf16 vs 2.4 fp32), so no. docs/bench_runtimes.md."""
    info = _cpuinfo()
    if info is None:  # not Linux: trust torch's view of the CPU
        import torch

        cap = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "")()
        return "AMX" in str(cap).upper()
    flags = cpu_flags()
    amd = info.get("vendor_id") == "AuthenticAMD"
    return "amx_bf16" in flags or ("avx512_bf16" in flags and amd)


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """Which dtype to autocast to: None means plain float32."""
    import torch

    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu":
        return torch.bfloat16 if cpu_supports_bf16() else None
    return None


def cpu_kind() -> str:
    """The CPU's int8 matrix features, as the runtimes' kernels pick them: "AMX", "AVX-512 BF16"
    (AVX-512 VNNI with bf16 instructions: Cooper Lake, Sapphire Rapids and later where AMX is not
    exposed, AMD Zen 4/5), "AVX-512 VNNI", "AVX-VNNI", "AVX2", or "" where this cannot be told
    cheaply (not Linux)."""
    flags = cpu_flags()
    if not flags:
        return ""
    for flag, name in (
        ("amx_int8", "AMX"),
        ("avx512_bf16", "AVX-512 BF16"),
        ("avx512_vnni", "AVX-512 VNNI"),
        ("avx_vnni", "AVX-VNNI"),
        ("avx2", "AVX2"),
    ):
        if flag in flags:
            return name
    return "no AVX2"
