"""Every CPU runtime and precision side by side in one run: torch fp32/bf16, ONNX Runtime
fp32/int8, OpenVINO fp32/int8 (where installed).

    python bench/bench_runtimes.py [--limit 256] [--large 8] [--repeat 2] [--cli-repeat 2]
                                   [--out docs/bench_runtimes.md]

For each runtime, on the same seg_test slice (150 px JPEGs) and on generated 4000x3000 JPEGs:
  model only   pre-decoded uint8 pixels through Classifier.classify_pixels
  end-to-end   Classifier.classify_paths over the files (decode pool + model)
  classify     `python -m app classify --json --no-cache` in a fresh process over the slice:
               what a user waits for, imports and model loading included; the default (auto)
               beside each explicit runtime, interleaved, --cli-repeat rounds, with accuracy
then a sweep of ONNX Runtime settings for int8 (threads, batch size, thread spinning).
Measurements alternate between runtimes (round robin, best of --repeat) so a change in
background load hits all alike; the load average is written beside every figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np

from app.model import choice, devices, runtimes, scenes
from app.model.engine import Classifier
from bench.bench_classify import (
    DEFAULT_DATA,
    decode_all,
    make_large_jpegs,
    seconds,
    seg_test_slice,
)

VARIANTS: tuple[tuple[str, str], ...] = (("torch", "fp32"), ("onnx", "fp32"), ("onnx", "int8"))
if devices.cpu_supports_bf16() or "avx512_bf16" in devices.cpu_flags():
    VARIANTS = (*VARIANTS, ("torch", "bf16"))  # native bf16: measured even where fp32 is faster
if runtimes.openvino_available():
    VARIANTS = (*VARIANTS, ("openvino", "fp32"), ("openvino", "int8"))
GMAC_PER_PHOTO = 3.4  # VGG16 at 150 px
# int8 peak of this CPU's matrix unit: AMX ~1,000 int8 MAC per cycle per core (2 cores, ~1.7 GHz
# sustained: ~1,000 photos/s); AVX-512 VNNI 2 FMA ports x 64 MAC (~185 photos/s)
PEAK_INT8 = {"AMX": 1000.0, "AVX-512 BF16": 185.0, "AVX-512 VNNI": 185.0}  # BF16: VNNI + bf16 dots


def load() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def versions() -> str:
    import onnxruntime
    import torch

    ov = ""
    if runtimes.openvino_available():
        import openvino

        ov = f", openvino {openvino.__version__}"
    return (
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"onnxruntime {onnxruntime.__version__}{ov}, numpy {np.__version__}"
    )


def open_variant(backend: str, precision: str, batch: int, threads: int | None) -> Classifier:
    clf = Classifier(
        None, device="cpu", backend=backend, precision=precision, batch_size=batch, threads=threads
    )
    if backend == "torch" and threads:
        import torch

        torch.set_num_threads(threads)
    return clf


def throughput(args: argparse.Namespace, photos: list[Path], large: list[Path]) -> list[dict]:
    clfs = {v: open_variant(*v, args.batch_size, args.threads) for v in VARIANTS}
    sets = {"seg_test slice (150 px)": photos, "4000x3000 JPEG": large}
    pixels = {name: decode_all(clfs[VARIANTS[0]], paths) for name, paths in sets.items()}
    for clf in clfs.values():  # warm-up: kernels, allocator, oneDNN primitives, ORT arenas
        clf.classify_pixels(pixels["seg_test slice (150 px)"][: args.batch_size])
    best: dict[tuple, float] = {}
    best_load: dict[tuple, str] = {}
    loads: dict[tuple, list[str]] = {}
    for _ in range(args.repeat):
        for name, paths in sets.items():
            for v, clf in clfs.items():
                for mode in ("model only", "end-to-end"):
                    key = (name, v, mode)
                    loads.setdefault(key, []).append(load())
                    if mode == "model only":
                        t = seconds(lambda c=clf, n=name: c.classify_pixels(pixels[n]))
                    else:
                        t = seconds(lambda c=clf, p=paths: list(c.classify_paths(p)))
                    if t < best.get(key, float("inf")):
                        best[key], best_load[key] = t, loads[key][-1]
                    print(
                        f"{name} {v} {mode}: {len(paths) / t:.1f} photos/s (load {load()})",
                        flush=True,
                    )
    rows = []
    for (name, v, mode), t in best.items():
        n = len(sets[name])
        rows.append(
            {
                "set": name,
                "runtime": f"{v[0]} {v[1]}",
                "mode": mode,
                "photos": n,
                "rate": n / t,
                "load": best_load[(name, v, mode)],
                "desc": clfs[v].device_name,
            }
        )
    for clf in clfs.values():
        clf.close()
    return rows


def cli_runs(args: argparse.Namespace, folder: Path, truth: dict[str, str]) -> list[dict]:
    """`python -m app classify --json --no-cache` in a fresh process: imports, load, classify.
    The default (auto) and every explicit runtime, interleaved, --cli-repeat rounds."""
    variants = [("auto", "auto"), *VARIANTS]
    if args.cli_only:  # e.g. "auto auto,torch bf16,onnx int8"
        keep = {tuple(v.split()) for v in args.cli_only.split(",")}
        variants = [v for v in variants if v in keep]
    rows = []
    for rnd in range(args.cli_repeat):
        for backend, precision in variants:
            cmd = [sys.executable, "-m", "app", "classify", "--json", "--no-cache"]
            cmd += ["--recursive", str(folder), "--device", "cpu"]
            if backend != "auto":
                cmd += ["--backend", backend, "--precision", precision]
            before = load()
            start = time.perf_counter()
            out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True)
            took = time.perf_counter() - start
            preds = [json.loads(x) for x in out.stdout.splitlines() if '"label"' in x]
            right = sum(truth.get(Path(p["path"]).name) == p["label"] for p in preds)
            last = (out.stderr.strip().splitlines() or [""])[-1].split("; ")
            runtime = last[1] if backend == "auto" and len(last) > 1 else ""
            rows.append(
                {
                    "round": rnd,
                    "runtime": "default (auto)" if backend == "auto" else f"{backend} {precision}",
                    "photos": len(preds),
                    "seconds": took,
                    "rate": len(preds) / took,
                    "accuracy": right / max(1, len(preds)),
                    "load": before,
                    "load_after": load(),
                    "note": runtime,
                }
            )
            print(
                f"classify {backend} {precision}: {len(preds)} photos in {took:.1f} s, accuracy "
                f"{rows[-1]['accuracy']:.4f} (load {before} -> {rows[-1]['load_after']})",
                flush=True,
            )
    return rows


def sweep(args: argparse.Namespace, pixels: np.ndarray) -> list[dict]:
    """ONNX Runtime int8 settings, model only: threads x batch size x thread spinning."""
    card = scenes.ModelCard.read(scenes.default_card_path())
    rows = []
    for threads in (1, 2):
        for spin in ("1", "0"):
            rt = runtimes.OnnxRuntime(
                card, "int8", threads=threads, options={"session.intra_op.allow_spinning": spin}
            )
            for batch in (8, 32, 64):
                rt.run_pixels(pixels[:batch])
                before = load()
                t = seconds(
                    lambda r=rt, b=batch: [
                        r.run_pixels(pixels[i : i + b]) for i in range(0, len(pixels), b)
                    ]
                )
                rows.append(
                    {
                        "threads": threads,
                        "spinning": spin,
                        "batch": batch,
                        "rate": len(pixels) / t,
                        "load": before,
                    }
                )
                print(
                    f"int8 threads {threads} spin {spin} batch {batch}: "
                    f"{len(pixels) / t:.1f} photos/s (load {before})",
                    flush=True,
                )
            rt.close()
    return rows


def report(args, rows, cli, swept, n_large) -> str:
    now = dt.datetime.now().isoformat(timespec="minutes")
    lines = [
        "# CPU runtimes: torch, ONNX Runtime, OpenVINO",
        "",
        f"- date: {now}; machine: {devices.cpu_name()}, {os.cpu_count()} logical CPUs, "
        f"{platform.system()}",
        f"- {versions()}",
        f"- batch size {args.batch_size}, threads {args.threads or 'default'}; "
        f"load average (1, 5, 15 min) at the start of the measurement shown (the best run)",
        "",
        "| photo set | runtime | mode | photos | photos/s | × torch fp32 | load at start |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    base = {(r["set"], r["mode"]): r["rate"] for r in rows if r["runtime"] == "torch fp32"}
    peak = PEAK_INT8.get(choice.cpu_kind())
    if peak:
        lines[-2] = lines[-2].replace("load at start |", "of int8 peak | load at start |")
        lines[-1] += "---:|"
    for r in rows:
        ratio = r["rate"] / base[(r["set"], r["mode"])]
        frac = f" {100 * r['rate'] / peak:.1f} % |" if peak else ""
        lines.append(
            f"| {r['set']} | {r['runtime']} | {r['mode']} | {r['photos']} | "
            f"{r['rate']:.1f} | {ratio:.2f} |{frac} {r['load']} |"
        )
    if peak:
        lines += [
            "",
            f"Int8 peak: {choice.cpu_kind()}, {GMAC_PER_PHOTO} GMAC a photo -> about "
            f"{peak:.0f} photos/s on 2 cores (the issue's estimate); the column is rate / peak.",
        ]
    if cli:
        lines += [
            "",
            "`python -m app classify --json --no-cache --recursive SLICE` in a fresh process "
            "(imports and model loading included), interleaved rounds:",
            "",
            "| round | runtime | photos | seconds | photos/s | × torch bf16 (same round) "
            "| accuracy | load before → after |",
            "|---:|---|---:|---:|---:|---:|---:|---|",
        ]
        bf16 = {r["round"]: r["rate"] for r in cli if r["runtime"] == "torch bf16"}
        for r in cli:
            ref = bf16.get(r["round"])
            ratio = f"{r['rate'] / ref:.2f}" if ref else "–"
            name = r["runtime"] + (f" ({r['note']})" if r["note"] else "")
            lines.append(
                f"| {r['round']} | {name} | {r['photos']} | {r['seconds']:.1f} | {r['rate']:.1f} "
                f"| {ratio} | {r['accuracy']:.4f} | {r['load']} → {r['load_after']} |"
            )
    if swept:
        lines += [
            "",
            "ONNX Runtime int8, model only, settings (seg_test slice):",
            "",
            "| threads | spinning | batch | photos/s | load at start |",
            "|---:|---|---:|---:|---|",
        ]
        lines += [
            f"| {r['threads']} | {r['spinning']} | {r['batch']} | {r['rate']:.1f} | {r['load']} |"
            for r in swept
        ]
    lines += ["", f"Best of {args.repeat} alternated runs; {n_large} generated 4000x3000 JPEGs."]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--limit", type=int, default=256)
    p.add_argument("--large", type=int, default=8)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--cli-repeat", type=int, default=2)
    p.add_argument(
        "--cli-only", default="", help='classify runs to make, e.g. "auto auto,torch bf16"'
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--no-cli", action="store_true")
    p.add_argument("--no-throughput", action="store_true", help="only the classify runs")
    p.add_argument("--no-sweep", action="store_true")
    p.add_argument("--out", type=Path)
    p.add_argument("--json", type=Path, help="also write the raw figures here")
    args = p.parse_args()
    pairs = seg_test_slice(args.data, args.limit)
    photos = [path for path, _ in pairs]
    print(f"load before: {load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-rt-") as tmp:
        large = make_large_jpegs(Path(tmp), args.large, (4000, 3000))
        rows = [] if args.no_throughput else throughput(args, photos, large)
        cli: list[dict] = []
        if not args.no_cli:
            folder = Path(tmp) / "slice"
            folder.mkdir()
            truth = {}
            for i, (path, label) in enumerate(pairs):
                os.symlink(path, folder / f"{i:04d}_{path.name}")
                truth[f"{i:04d}_{path.name}"] = label
            cli = cli_runs(args, folder, truth)
    swept: list[dict] = []
    if not args.no_sweep:
        from app.photos import imaging

        swept = sweep(args, np.stack([imaging.load_pixels(p) for p in photos]))
    text = report(args, rows, cli, swept, args.large)
    print(text)
    if args.out:
        args.out.write_text(text)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "cli": cli, "sweep": swept}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
