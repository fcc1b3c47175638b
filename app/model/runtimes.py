"""Runtimes: one small interface that runs the card's network, two implementations.

    TorchRuntime   the reference: the safetensors weights in torch, on CUDA, MPS or the CPU
    OnnxRuntime    the card's ONNX files (fp32 or int8) in ONNX Runtime on the CPU

`open_runtime(card, backend, precision)` picks one. `auto` means torch on a GPU; on a CPU the
int8 ONNX model when the card says it passed its gate, else the fp32 ONNX model, else torch.
A runtime that cannot be used (file missing or damaged, package absent) is reported through
`warn` and the next one is tried; an explicit backend that cannot run raises ModelError.

Nothing here imports torch at module level: the ONNX path never imports it at all.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from app.defaults import BACKENDS
from app.model import devices, scenes
from app.model.modelid import ModelId
from app.model.scenes import ModelCard, ModelError

__all__ = ["BACKENDS", "PRECISIONS", "Runtime", "OnnxRuntime", "TorchRuntime", "open_runtime"]
PRECISIONS = ("auto", "fp32", "int8", "bf16", "fp16")
TORCH_PRECISIONS = ("auto", "fp32", "bf16", "fp16")
ONNX_PRECISIONS = ("auto", "fp32", "int8")
ONNX_INPUT = "input"  # the normalized NCHW float32 tensor, as the torch network takes it
ONNX_OUTPUTS = ("logits", "features")  # features: the 512 pooled values, when the graph has them

WarnFn = Callable[[str], None]


@dataclass(frozen=True)
class CpuDevice:
    """What `Classifier.device` is on the ONNX path: the CPU, without importing torch."""

    type: str = "cpu"


@dataclass(frozen=True)
class OnnxVariant:
    """One ONNX file listed in the card's `onnx` section."""

    precision: str  # fp32 | int8
    file: str
    sha256: str
    temperature: float
    gate_passed: bool | None  # int8 only: None when the card records no gate
    path: Path

    @classmethod
    def from_card(cls, card: ModelCard, precision: str) -> OnnxVariant:
        entry = (card.extra.get("onnx") or {}).get(precision)
        if not isinstance(entry, dict):
            raise ModelError(f"model card {card.path} lists no ONNX {precision} model")
        try:
            gate = entry.get("gate")
            return cls(
                precision=precision,
                file=str(entry["file"]),
                sha256=str(entry["sha256"]).lower(),
                temperature=float(entry.get("temperature", card.temperature)),
                gate_passed=bool(gate["passed"]) if isinstance(gate, dict) else None,
                path=card.weights_path.parent / str(entry["file"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model card {card.path}: bad ONNX {precision} entry: {exc}") from exc


class Runtime:
    """A loaded network: normalized NCHW float32 in, logits (and pooled features) out."""

    backend: str = ""
    precision: str = "fp32"
    card: ModelCard
    model_id: str = ""
    temperature: float = 1.0
    description: str = ""  # for the status bar and summaries: "CPU (2 threads), ONNX Runtime int8"
    device: Any = CpuDevice()

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """float32 (N, 3, S, S) normalized -> (float32 (N, classes) logits, (N, 512) features or None)."""
        raise NotImplementedError

    def run_pixels(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """uint8 (N, S, S, 3) -> run(to_input(pixels)); torch overrides it to normalize on its device."""
        return self.run(scenes.to_input_array(pixels, self.card.normalization))

    def close(self) -> None:
        pass


def _variant_id(card: ModelCard, precision: str) -> str:
    """The card's id for a runtime at `precision` (ModelId.with_precision says which differ)."""
    return str(ModelId.of_weights(card.name, card.weights_sha256).with_precision(precision))


# --------------------------------------------------------------------------------------------
# ONNX Runtime


def onnxruntime_available() -> bool:
    return find_spec("onnxruntime") is not None


class OnnxRuntime(Runtime):
    backend = "onnx"

    def __init__(
        self,
        card: ModelCard,
        precision: str = "int8",
        threads: int | None = None,
        options: dict[str, str] | None = None,
        variant: OnnxVariant | None = None,
    ) -> None:
        """`variant` (a file not yet in the card) serves the export, which measures candidates."""
        if precision not in ("fp32", "int8"):
            raise ModelError(f"ONNX Runtime runs fp32 or int8 models, not {precision}")
        variant = variant or OnnxVariant.from_card(card, precision)
        try:
            data = variant.path.read_bytes()
        except FileNotFoundError:
            raise ModelError(f"ONNX model file not found: {variant.path}") from None
        except OSError as exc:
            raise ModelError(f"cannot read ONNX model {variant.path}: {exc}") from exc
        actual = scenes.sha256_bytes(data)
        if actual != variant.sha256:
            raise ModelError(
                f"ONNX model {variant.path} does not match its model card (sha256 {actual[:12]}… "
                f"expected {variant.sha256[:12]}…): truncated, corrupted or replaced"
            )
        if not onnxruntime_available():
            raise ModelError("onnxruntime is not installed (pip install onnxruntime)")
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3  # ORT's warnings about unused initializers are noise here
        so.intra_op_num_threads = threads or _physical_cores()
        # Threads that spin while waiting for work take the cores the decode pool and other
        # programs need; without spinning int8 ran 41 photos/s instead of 28 on a shared 2-core
        # CPU, and made no difference on a quiet one (docs/bench_runtimes.md); `options` overrides.
        for key, value in {"session.intra_op.allow_spinning": "0", **(options or {})}.items():
            so.add_session_config_entry(key, value)
        try:
            self._session: Any = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own types for invalid graphs
            raise ModelError(f"cannot load ONNX model {variant.path}: {exc}") from exc
        outputs = [o.name for o in self._session.get_outputs()]
        if outputs[:1] != ["logits"] or [i.name for i in self._session.get_inputs()] != [
            ONNX_INPUT
        ]:
            raise ModelError(f"ONNX model {variant.path} does not take '{ONNX_INPUT}' to 'logits'")
        self._outputs = [n for n in ONNX_OUTPUTS if n in outputs]
        self.card, self.precision, self.variant = card, precision, variant
        self.temperature = variant.temperature
        self.model_id = _variant_id(card, precision)
        self.threads = so.intra_op_num_threads
        self.description = f"CPU ({self.threads} threads), ONNX Runtime {precision}"

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if self._session is None:
            raise RuntimeError("the runtime is closed")
        out = self._session.run(self._outputs, {ONNX_INPUT: np.ascontiguousarray(x, np.float32)})
        return out[0], (out[1] if len(out) > 1 else None)

    def close(self) -> None:
        self._session = None


def _physical_cores() -> int:
    """ONNX Runtime's own default is the physical cores; set explicitly so the status bar can
    say it. Logical CPUs halved where there are many (SMT), all of them on small machines and VMs,
    and never more than this process may use (containers, taskset)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, n // 2 if n >= 8 else n)


# --------------------------------------------------------------------------------------------
# torch


def torch_available() -> bool:
    return find_spec("torch") is not None


class TorchRuntime(Runtime):
    backend = "torch"

    def __init__(self, card: ModelCard, device: str | None = None, precision: str = "auto") -> None:
        if precision not in TORCH_PRECISIONS:
            raise ModelError(f"torch runs fp32, bf16 or fp16, not {precision}")
        if not torch_available():
            raise ModelError("torch is not installed (pip install 'scene-tagger[gpu]')")
        import torch

        self.device = devices.pick_device(device)
        net, self.card = scenes.load_model(card)  # ModelError (sha256, missing, damaged)
        self._autocast = devices.autocast_dtype(self.device, precision)
        self.precision = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self._autocast, "fp32")  # type: ignore[arg-type]
        net = net.to(self.device)
        # NHWC pixels become channels_last input for free; keeping the weights the same way
        # spares a layout conversion in every convolution (oneDNN on CPU, cuDNN on GPU).
        self._channels_last = self.device.type in ("cpu", "cuda")
        if self._channels_last:
            net = net.to(memory_format=torch.channels_last)
        self._net: Any = net.eval()
        self._split = all(hasattr(net, a) for a in ("features", "pool", "head"))
        self.temperature = self.card.temperature
        self.model_id = _variant_id(self.card, self.precision)
        self.description = f"{devices.device_name(self.device)}, torch {self.precision}"

    def _forward(self, x: Any) -> tuple[np.ndarray, np.ndarray | None]:
        import contextlib

        import torch

        if self._net is None:
            raise RuntimeError("the runtime is closed")
        amp = (
            torch.autocast(device_type=self.device.type, dtype=self._autocast)
            if self._autocast is not None
            else contextlib.nullcontext()
        )
        if self._channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with amp:
            if self._split:  # the pooled features come for free on the way to the logits
                pooled = self._net.pool(self._net.features(x))
                logits, feats = self._net.head(pooled), pooled.flatten(1)
            else:
                logits, feats = self._net(x), None
        return (
            logits.float().cpu().numpy(),
            None if feats is None else feats.float().cpu().numpy(),
        )

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        import torch

        with torch.inference_mode():
            return self._forward(torch.from_numpy(np.ascontiguousarray(x)).to(self.device))

    def run_pixels(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        import torch

        pixels = np.ascontiguousarray(pixels)
        if not pixels.flags.writeable:  # torch.from_numpy warns on read-only arrays
            pixels = pixels.copy()
        with torch.inference_mode():
            x = torch.from_numpy(pixels).to(self.device)  # uint8 travels: a quarter of float32
            return self._forward(scenes.to_input(x, self.card.normalization))

    def close(self) -> None:
        self._net = None


# --------------------------------------------------------------------------------------------
# Choosing


def _gpu_maybe_present() -> bool:
    """A cheap look for a GPU before paying for torch's import: NVIDIA/AMD device nodes on Linux,
    Apple silicon (MPS), or Windows (where no cheap look exists)."""
    system = platform.system()
    if system == "Darwin":
        return platform.machine() == "arm64"
    if system == "Linux":
        return any(os.path.exists(p) for p in ("/dev/nvidia0", "/dev/nvidiactl", "/dev/kfd"))
    return True


def _on_gpu(device: str | None) -> bool:
    if device not in (None, "auto"):
        return not str(device).startswith("cpu")
    if not torch_available() or not _gpu_maybe_present():
        return False
    return devices.pick_device(None).type != "cpu"


def candidates(
    card: ModelCard, backend: str, precision: str, device: str | None
) -> list[tuple[str, str]]:
    """(backend, precision) to try in order; ValueError for a combination that cannot exist."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if backend == "torch":
        if precision == "int8":
            raise ValueError("int8 runs on ONNX Runtime only (--backend onnx or auto)")
        return [("torch", precision)]
    if backend == "onnx" and precision in ("bf16", "fp16"):
        raise ValueError(f"{precision} runs on torch only (--backend torch or auto)")
    if device not in (None, "auto", "cpu") and backend == "onnx":
        raise ValueError(f"ONNX Runtime runs on the CPU here, not on {device}")
    if backend == "onnx":
        if precision == "auto":
            return [("onnx", "int8")] * _int8_passed(card) + [("onnx", "fp32")]
        return [("onnx", precision)]
    # auto: ONNX variants the card does not list, or a missing onnxruntime, are passed over
    # quietly (a card without ONNX files is normal); a listed file that fails is reported.
    if precision == "int8":
        return [("onnx", "int8")]
    if precision in ("bf16", "fp16") or _on_gpu(device):
        return [("torch", precision)]
    onnx: list[tuple[str, str]] = []
    if onnxruntime_available():
        if precision == "auto" and _int8_passed(card):
            onnx.append(("onnx", "int8"))
        if _listed(card, "fp32"):
            onnx.append(("onnx", "fp32"))
    return [*onnx, ("torch", "fp32")]


def _listed(card: ModelCard, precision: str) -> bool:
    return isinstance((card.extra.get("onnx") or {}).get(precision), dict)


def _int8_passed(card: ModelCard) -> bool:
    try:
        return OnnxVariant.from_card(card, "int8").gate_passed is True
    except ModelError:
        return False


def expected_model_id(
    card: ModelCard | str | os.PathLike[str] | None = None,
    backend: str = "auto",
    precision: str = "auto",
    device: str | None = None,
) -> str | None:
    """The model id open_runtime will most likely report, without loading anything (the card
    is read; torch is imported only where a GPU seems present): a window can show cached
    results under it while the model still loads. None when it cannot be told."""
    try:
        if card is None:
            card = scenes.default_card_path()
        if not isinstance(card, ModelCard):
            card = ModelCard.read(card)
        _kind, prec = candidates(card, backend, precision, device)[0]
    except (ModelError, ValueError, OSError):
        return None
    return _variant_id(card, prec)


def open_runtime(
    card: ModelCard | str | os.PathLike[str] | None = None,
    backend: str = "auto",
    precision: str = "auto",
    device: str | None = None,
    threads: int | None = None,
    warn: WarnFn | None = None,
) -> Runtime:
    """The first runtime of `candidates` that loads; each one that does not is passed to `warn`
    (`auto`) and the next is tried. ModelError when none can run, with every reason."""
    if card is None:
        card = scenes.default_card_path()
    if not isinstance(card, ModelCard):
        card = ModelCard.read(card)
    order = candidates(card, backend, precision, device)
    failures: list[ModelError] = []
    for i, (kind, prec) in enumerate(order):
        try:
            if kind == "onnx":
                return OnnxRuntime(card, prec, threads=threads)
            return TorchRuntime(card, device=device, precision=prec)
        except ModelError as exc:
            failures.append(exc)
            if warn and i + 1 < len(order):
                nxt = "torch" if order[i + 1][0] == "torch" else f"ONNX {order[i + 1][1]}"
                warn(f"{exc}; falling back to {nxt}")
    if len(failures) == 1:
        raise failures[0]  # keeps its type (e.g. devices.DeviceError)
    raise ModelError("no runtime can run this model: " + "; ".join(map(str, failures)))
