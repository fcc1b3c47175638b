"""OpenVINO int8 against ONNX Runtime int8, model only, on this CPU or on a smaller one emulated
by masking CPUID (issue 27: what `auto` in app.model.choice is based on).

    gcc -O2 -shared -fPIC -o /tmp/libcpuidmask.so bench/isa/cpuidmask.c
    CPUID_MASK=avx2 LD_PRELOAD=/tmp/libcpuidmask.so python bench/isa_probe.py

CPUID_MASK: (unset) this CPU; amx, avx512bf16, avx512vnni, avxvnni or avx2 — the shim makes CPUID
fault (the CPU must list `cpuid_fault`) and answers with that kind's feature bits only, so
oneDNN (in OpenVINO) and MLAS (in ONNX Runtime) pick that kind's kernels; the microarchitecture
stays this one. Prints photos/s of each (best of REPS, interleaved, batch 32, 256 seg_test
photos), the labels they agree on, and the convolution kernels OpenVINO picked (the proof that
the mask worked). For the accuracy gate on such kernels:
`python -m training gate-openvino --emulated KIND` under the same two variables.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.model import runtimes, scenes  # noqa: E402
from app.photos import imaging  # noqa: E402

SEG_TEST = REPO.parent / "shared" / "data" / "intel-scenes" / "seg_test"


def main() -> int:
    card = scenes.ModelCard.read(scenes.default_card_path())
    per = [sorted(d.glob("*.jpg")) for d in sorted(SEG_TEST.iterdir()) if d.is_dir()]
    paths = [p for g in itertools.zip_longest(*per) for p in g if p][:256]
    px = np.stack([imaging.load_pixels(p, card.input_size) for p in paths])
    ov = runtimes.OpenVinoRuntime(card, "int8", cache_dir=None)
    ort = runtimes.OnnxRuntime(card, "int8")
    kernels = set()
    for op in ov._compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()
        if "layerType" in info and info["layerType"].astype(str) == "Convolution":
            kernels.add(info["primitiveType"].astype(str))
    best = {"ort": 0.0, "ov": 0.0}
    logits = {}
    for _ in range(int(os.environ.get("REPS", "3"))):
        for name, rt in (("ort", ort), ("ov", ov)):
            t0 = time.perf_counter()
            out = [rt.run_pixels(px[i : i + 32])[0] for i in range(0, len(px), 32)]
            best[name] = max(best[name], len(px) / (time.perf_counter() - t0))
            logits[name] = np.concatenate(out)
    agree = (logits["ort"].argmax(1) == logits["ov"].argmax(1)).mean()
    print(
        f"{os.environ.get('CPUID_MASK') or 'native'}: ONNX Runtime int8 {best['ort']:.1f}, "
        f"OpenVINO int8 {best['ov']:.1f} photos/s, OpenVINO/ORT {best['ov'] / best['ort']:.2f}, "
        f"labels equal {agree:.3f}; OpenVINO's convolution kernels: {sorted(kernels)}; "
        f"load {os.getloadavg()[0]:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
