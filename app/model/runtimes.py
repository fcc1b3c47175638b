"""Runtimes: one small interface that runs the card's network, three implementations.

    TorchRuntime     the reference: the safetensors weights in torch, on CUDA, MPS or the CPU
    OnnxRuntime      the card's ONNX files (fp32 or int8) in ONNX Runtime on the CPU
    OpenVinoRuntime  the same ONNX files (the int8 QDQ graph read as it is) in OpenVINO on the CPU

Which one runs on a computer, and why, is app.model.choice's (`open_runtime`).

Nothing here imports torch at module level: the ONNX path never imports it at all.
"""

from __future__ import annotations

import os
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

__all__ = [
    "BACKENDS",
    "PRECISIONS",
    "Runtime",
    "OnnxRuntime",
    "OpenVinoRuntime",
    "TorchRuntime",
]
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
    why: str = ""  # set by open_runtime: why this runtime (auto's reason, or "asked for")

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """float32 (N, 3, S, S) normalized -> (float32 (N, classes) logits, (N, 512) features or None)."""
        raise NotImplementedError

    def run_pixels(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """uint8 (N, S, S, 3) -> run(to_input(pixels)); torch overrides it to normalize on its device."""
        return self.run(scenes.to_input_array(pixels, self.card.normalization))

    def close(self) -> None:
        pass


def _variant_id(card: ModelCard, precision: str, backend: str = "onnx") -> str:
    """The card's id for a runtime at `precision` (ModelId.with_precision says which differ).
    OpenVINO's and ONNX Runtime's int8 share `…/int8` (one file, one set of scales; 4 seg_test
    labels in 3,000 differ, as between CPUs): the runtime is named beside the id (docs/onnx.md)."""
    del backend  # the id names the model, not the runtime
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
        data = _verified_bytes(variant)
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


def _verified_bytes(variant: OnnxVariant) -> bytes:
    """The ONNX file's bytes, ModelError unless they are the ones the card's sha256 names."""
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
    return data


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
# OpenVINO

OV_CACHE_ENV = "SCENE_TAGGER_OV_CACHE"  # a folder, or "" to compile without caching


def openvino_available() -> bool:
    return find_spec("openvino") is not None


def openvino_cache_dir() -> Path | None:
    """Compiled models between starts (~0.2 s instead of ~0.5 s): `$SCENE_TAGGER_OV_CACHE` ("" =
    none), else `openvino/` in the app's user cache folder (app.userdirs.cache_dir)."""
    env = os.environ.get(OV_CACHE_ENV)
    if env is not None:
        return Path(env) if env else None
    from app import userdirs

    return userdirs.cache_dir() / "openvino"


class OpenVinoRuntime(Runtime):
    """The card's ONNX file compiled by OpenVINO's CPU plugin (int8: the QDQ graph as it is;
    12 of 13 convolutions run in u8 on AMX / VNNI, the few fp32 nodes in f32)."""

    backend = "openvino"

    def __init__(
        self,
        card: ModelCard,
        precision: str = "int8",
        threads: int | None = None,
        cache_dir: Path | None | bool = True,
        variant: OnnxVariant | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        """`cache_dir`: True = openvino_cache_dir(), None/False = none; `config`: plugin properties."""
        if precision not in ("fp32", "int8"):
            raise ModelError(f"OpenVINO runs the fp32 or int8 ONNX models, not {precision}")
        variant = variant or OnnxVariant.from_card(card, precision)
        _verified_bytes(variant)
        if not openvino_available():
            raise ModelError("openvino is not installed (pip install openvino)")
        import openvino as ov

        self.threads = threads or _physical_cores()
        # LATENCY with all threads on one request: 2-3x the throughput hint's rate at batch 32
        # on 2 cores (docs/bench_runtimes.md). f32 for whatever is not int8 (the plugin's
        # default on bf16 CPUs is bf16): for fp32 that is the model; for int8 the first
        # convolution and the two fully connected layers, where bf16 measured no faster on AMX
        # or AVX-512 BF16 but left the scores less calibrated (ECE 0.015-0.016 against 0.012,
        # ONNX Runtime int8's, for whose scores the int8 temperature was fitted).
        cfg: dict[str, Any] = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": self.threads,
            "INFERENCE_PRECISION_HINT": "f32",
        }
        cfg.update(config or {})
        core = ov.Core()
        folder = openvino_cache_dir() if cache_dir is True else (cache_dir or None)
        self.cache_dir: Path | None = None
        if folder is not None:
            try:
                Path(folder).mkdir(parents=True, exist_ok=True)
                core.set_property({"CACHE_DIR": str(folder)})
                self.cache_dir = Path(folder)
            except Exception:  # an unwritable cache folder only costs the compile time
                pass
        try:
            # compiling from the path lets a cached blob skip reading the ONNX graph at all
            self._compiled: Any = core.compile_model(str(variant.path), "CPU", cfg)
        except Exception as exc:  # OpenVINO raises RuntimeError for invalid graphs
            raise ModelError(f"cannot load ONNX model {variant.path} in OpenVINO: {exc}") from exc
        names = [set(port.get_names()) for port in self._compiled.outputs]
        ports: dict[str, Any] = {}
        for port, port_names in zip(self._compiled.outputs, names, strict=True):
            for n in ONNX_OUTPUTS:
                if n in port_names:
                    ports[n] = port
        inputs = [set(p.get_names()) for p in self._compiled.inputs]
        if "logits" not in ports or len(inputs) != 1 or ONNX_INPUT not in inputs[0]:
            raise ModelError(f"ONNX model {variant.path} does not take '{ONNX_INPUT}' to 'logits'")
        self._ports = [ports[n] for n in ONNX_OUTPUTS if n in ports]
        self._request: Any = self._compiled.create_infer_request()
        self.card, self.precision, self.variant = card, precision, variant
        self.temperature = variant.temperature
        self.model_id = _variant_id(card, precision, "openvino")
        hint = self._compiled.get_property("INFERENCE_PRECISION_HINT")  # "bf16" or "f32"
        self.inference_precision = str(getattr(hint, "get_type_name", lambda: hint)())
        self.description = f"CPU ({self.threads} threads), OpenVINO {precision}"

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if self._request is None:
            raise RuntimeError("the runtime is closed")
        result = self._request.infer({0: np.ascontiguousarray(x, np.float32)})
        # the request reuses its output buffers on the next call: copy
        out = [np.array(result[p], dtype=np.float32, copy=True) for p in self._ports]
        return out[0], (out[1] if len(out) > 1 else None)

    def close(self) -> None:
        self._request = None
        self._compiled = None


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
