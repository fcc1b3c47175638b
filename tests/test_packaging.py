"""Packaging: what the bundle keeps and drops, the placeholder model, the desktop entry, the
startup probe and its timer. Building the bundle itself is the manual packaging/check.sh."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import stat
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest
from conftest import REPO, make_photo

from app.model import networks, scenes

PACKAGING = REPO / "packaging"


def load(name: str) -> types.ModuleType:
    """A script from packaging/, by path (`build` would clash with PyPI's build package)."""
    spec = importlib.util.spec_from_file_location(f"packaging_{name}", PACKAGING / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


build = load("build")
bundle_contents = load("bundle_contents")
measure_startup = load("measure_startup")
placeholder_resources = load("placeholder_resources")


def excluded(module: str) -> str | None:
    """The exclude rule that would keep `module` out of the bundle, if any."""
    for rule in bundle_contents.EXCLUDES:
        if module == rule or module.startswith(rule + "."):
            return rule
    return None


# --- what goes in ---------------------------------------------------------------------------


def test_excludes_spare_everything_the_app_imports(onnx_card: Path, tmp_path: Path) -> None:
    """Classify with the CLI (on ONNX Runtime, as the bundle does) and import every window
    module in a fresh interpreter: nothing that ends up in sys.modules may be on the bundle's
    exclude list, torch included."""
    folder = tmp_path / "photos"
    make_photo(folder / "a.jpg")
    heic_and_raw = importlib.util.find_spec("pillow_heif") and importlib.util.find_spec("rawpy")
    if heic_and_raw:  # the decoders the app loads for them must be in the bundle too
        from formats_fixtures import two_halves, write_dng, write_heic

        write_heic(folder / "b.heic", two_halves(64, 48))
        write_dng(folder / "c.dng", two_halves(160, 120))
    driver = textwrap.dedent(
        f"""
        import json, sys
        from app.cli import main as cli
        rc = cli.main(["classify", "--json", "--model", {str(onnx_card)!r}, {str(folder)!r}])
        import app.ui.main, app.ui.window, app.ui.dialogs  # noqa: F401
        print(json.dumps([rc, sorted(sys.modules)]))
        """
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-c", driver],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rc, modules = json.loads(out.stdout.strip().splitlines()[-1])
    assert rc == 0
    assert '"label"' in out.stdout
    assert {"onnxruntime", "PySide6.QtWidgets", "defusedxml", "platformdirs"} <= set(modules)
    assert "torch" not in modules
    optional = set(bundle_contents.OPTIONAL_EXCLUDES)  # imported under try/except only
    assert {m: excluded(m) for m in modules if excluded(m) and m not in optional} == {}
    if heic_and_raw:
        assert out.stdout.count('"label"') == 3 and '"error"' not in out.stdout
        assert {"pi_heif", "rawpy"} <= set(modules)  # the shippable HEIF decoder, not pillow_heif
        assert set(bundle_contents.DECODERS) <= set(modules)
    qt = {m.split(".")[1] for m in modules if m.startswith("PySide6.Qt")}
    assert qt <= set(bundle_contents.QT_USED)


@pytest.mark.parametrize(
    ("dest", "keep"),
    [
        ("torch/lib/libtorch_cpu.so", True),
        ("torch/lib/libtorchbind_test.so", False),
        ("torch/bin/test_api", False),
        ("torch/bin/torch_shm_manager", True),
        ("torch\\bin\\torch_shm_manager.exe", True),
        ("torch/include/ATen/ATen.h", False),
        ("torch/_C.cpython-311-x86_64-linux-gnu.so", True),
        ("PySide6/Qt/lib/libQt6Widgets.so.6", True),
        ("PySide6/Qt/lib/libQt6Svg.so.6", True),
        ("PySide6/Qt/plugins/platforms/libqxcb.so", True),
        ("PySide6/Qt/plugins/platforms/libqoffscreen.so", True),
        ("PySide6/Qt/plugins/platforms/libqwayland.so", True),
        ("PySide6/Qt/plugins/platforms/libqvnc.so", False),
        ("PySide6/Qt/plugins/platforms/libqeglfs.so", False),
        ("PySide6/Qt/plugins/imageformats/libqsvg.so", True),
        ("PySide6/Qt/plugins/imageformats/libqjpeg.so", False),
        ("PySide6/Qt/lib/libQt6Quick.so.6", False),
        ("PySide6/Qt/lib/libQt6QmlModels.so.6", False),
        ("PySide6/Qt/lib/libQt6WebEngineCore.so.6", False),
        ("PySide6/Qt/lib/libQt6Pdf.so.6", False),
        ("PySide6\\Qt6Multimedia.dll", False),
        ("PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so", False),
        ("resources/scene_vgg16.safetensors", True),
        # OpenVINO: the CPU plugin and what reads our ONNX model stay, the rest goes
        ("openvino/libs/libopenvino.so.2641", True),
        ("openvino/libs/libopenvino_intel_cpu_plugin.so", True),
        ("openvino/libs/libopenvino_onnx_frontend.so.2641", True),
        ("openvino/libs/libopenvino_ir_frontend.so.2641", True),
        ("openvino/libs/libtbb.so.12", True),
        ("openvino\\libs\\openvino_intel_cpu_plugin.dll", True),
        ("openvino/_pyopenvino.cpython-311-x86_64-linux-gnu.so", True),
        ("openvino/libs/libopenvino_intel_gpu_plugin.so", False),
        ("openvino\\libs\\openvino_intel_gpu_plugin.dll", False),
        ("openvino/libs/libopenvino_intel_npu_plugin.so", False),
        ("openvino/libs/libopenvino_auto_batch_plugin.so", False),
        ("openvino/libs/libopenvino_tensorflow_frontend.so.2641", False),
        ("openvino/libs/libopenvino_pytorch_frontend.so.2641", False),
        ("openvino/libs/libopenvino_c.so.2641", False),
        ("openvino/libs/libtbbmalloc.so.2", False),
        ("openvino/libs/cache.json", False),
        ("openvino/include/openvino/openvino.hpp", False),
    ],
)
def test_wanted(dest: str, keep: bool) -> None:
    assert bundle_contents.wanted(dest) is keep


def test_resource_datas_maps_every_file_under_resources(tmp_path: Path) -> None:
    res = tmp_path / "res"
    for rel in ("model_card.json", "w.safetensors", "icons/a.png", "samples/sea_1.jpg"):
        (res / rel).parent.mkdir(parents=True, exist_ok=True)
        (res / rel).write_text("x")
    for junk in ("__pycache__/x.pyc", "w.safetensors.tmp", "icons/.DS_Store"):
        (res / junk).parent.mkdir(parents=True, exist_ok=True)
        (res / junk).write_text("x")
    got = {
        Path(src).relative_to(res).as_posix(): dest
        for src, dest in bundle_contents.resource_datas(res)
    }
    assert got == {
        "icons/a.png": str(Path("resources/icons")),
        "model_card.json": "resources",
        "samples/sea_1.jpg": str(Path("resources/samples")),
        "w.safetensors": "resources",
    }


def test_decoder_notices_name_every_shipped_library() -> None:
    notices = bundle_contents.NOTICES.read_text(encoding="utf-8")
    for library in ("libheif", "libde265", "LibRaw", "libavif", "LGPL-3.0", "pillow-heif"):
        assert library in notices
    assert excluded("pillow_heif") and not excluded("pi_heif") and not excluded("rawpy")


def test_the_spec_uses_the_shared_lists_and_the_probe() -> None:
    spec = (PACKAGING / "scene_tagger.spec").read_text(encoding="utf-8")
    for needed in (
        "bundle_contents.DECODERS",
        "bundle_contents.NOTICES",
        "bundle_contents.EXCLUDES",
        "bundle_contents.wanted",
        "bundle_contents.resource_datas",
        "rthook_probe.py",
        "scene_tagger_main.py",
        "SCENE_TAGGER_RESOURCES",
        "upx=False",
    ):
        assert needed in spec
    assert build.NAME == bundle_contents.NAME == "SceneTagger"


# --- the stand-in model ---------------------------------------------------------------------


def test_placeholder_resources_load_like_the_real_ones(tmp_path: Path) -> None:
    source = tmp_path / "src"
    make_photo(source / "samples" / "sea_1.jpg")
    (source / "icons").mkdir()
    (source / "icons" / "scene-tagger-64.png").write_bytes(b"png")
    (source / scenes.MODEL_CARD_NAME).write_text("{}")  # a stale card is replaced, not copied
    card_path = placeholder_resources.write_placeholder(tmp_path / "out", source)
    out = tmp_path / "out"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "icons/scene-tagger-64.png",
        "model_card.json",
        "samples/sea_1.jpg",
        "scene_vgg16.safetensors",
    ]
    net, card = scenes.load_model(card_path)  # sha256 checked, strict state dict
    assert card.name == placeholder_resources.PLACEHOLDER_NAME
    assert card.architecture == "vgg16_scene"
    assert networks.count_parameters(net) == 14_747_910
    assert 28e6 < card.weights_path.stat().st_size < 31e6  # fp16, as the real weights


# --- desktop entry --------------------------------------------------------------------------


def test_desktop_entry_has_one_source_the_app() -> None:
    """The bundle's install.sh asks the bundled app to write the entry (app/cli/desktop.py, the
    same as `install-desktop` after a pip install: tests/test_desktop.py runs both); no
    hand-written .desktop file is left to drift. The icons it installs are the window's."""
    from app.cli import desktop

    installer = (PACKAGING / "linux" / "install.sh").read_text(encoding="utf-8")
    assert '"$here/SceneTagger" install-desktop' in installer
    assert '"$here/SceneTagger" uninstall-desktop' in installer
    assert not list(PACKAGING.rglob("*.desktop"))
    assert build.LINUX_EXTRAS == ("linux/install.sh",)
    ui_main = (REPO / "app" / "ui" / "main.py").read_text(encoding="utf-8")
    app_icons = set(re.findall(r'"(scene-tagger[\w-]*\.(?:svg|png))"', ui_main))
    assert app_icons == set(desktop.ICONS)
    assert os.access(PACKAGING / "linux" / "install.sh", os.X_OK)
    assert os.access(PACKAGING / "check.sh", os.X_OK)


def test_the_guide_and_the_notices_travel_with_the_bundle_and_the_wheel() -> None:
    """The spec adds the guide (as guide/, what app.ui.help looks for in a bundle) and the
    licences; setup.py copies the same guide files into the wheel."""
    datas = bundle_contents.guide_datas(REPO / "docs")
    assert (str(REPO / "docs" / "user-guide.md"), "guide") in datas
    pictures = [src for src, dest in datas if src.endswith(".png")]
    assert pictures and all(Path(src).is_file() for src in pictures)
    setup = (REPO / "setup.py").read_text(encoding="utf-8")
    found = re.search(r"^GUIDE_FILES = (.*)$", setup, re.M)
    assert found and ast.literal_eval(found[1]) == bundle_contents.GUIDE_FILES
    assert bundle_contents.NOTICES.is_file() and bundle_contents.LICENSE.is_file()
    spec = (PACKAGING / "scene_tagger.spec").read_text(encoding="utf-8")
    assert "bundle_contents.guide_datas" in spec and "bundle_contents.LICENSE" in spec


# --- startup probe and timer ----------------------------------------------------------------


def run_probe(window_code: str, before_exec: str = "") -> tuple[int, list[str], float]:
    """The runtime hook in a plain interpreter, then a stand-in window; (status, probe lines,
    seconds the run took)."""
    driver = (
        textwrap.dedent(
            f"""
        import runpy, sys
        runpy.run_path({str(PACKAGING / "rthook_probe.py")!r})
        from PySide6.QtCore import QTimer, Signal
        from PySide6.QtWidgets import QApplication, QMainWindow

        class Window(QMainWindow):
            classifier_changed = Signal(bool)
            classifier = None

        app = QApplication([])
        """
        )
        + textwrap.dedent(window_code)
        + textwrap.dedent(before_exec)
        + "sys.exit(app.exec())\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", SCENE_TAGGER_PROBE="0.3")
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", driver], env=env, capture_output=True, text=True, timeout=60
    )
    lines = [line for line in out.stderr.splitlines() if line.startswith("probe:")]
    return out.returncode, lines, time.monotonic() - start


def test_probe_reports_window_then_model_and_closes_after_the_model() -> None:
    status, lines, took = run_probe(
        """
        w = Window()
        w.show()
        QTimer.singleShot(1500, lambda: w.classifier_changed.emit(True))  # a slow model
        """
    )
    assert status == 0, lines
    assert len(lines) == 2, lines
    assert re.fullmatch(
        r"probe: window shown after \d+\.\d\d s \(torch already loaded: no\)", lines[0]
    )
    assert re.fullmatch(r"probe: model loaded \(ok\) after \d+\.\d\d s", lines[1])
    assert float(lines[1].split()[-2]) >= 1.5  # it waited for the model before closing


def test_probe_says_when_torch_was_loaded_before_the_window() -> None:
    status, lines, _ = run_probe(
        """
        w = Window()
        w.classifier = object()  # the model is already there
        w.show()
        """,
        before_exec="import torch\n",
    )
    assert status == 0, lines
    assert lines[0].endswith("(torch already loaded: yes)")
    assert lines[1].startswith("probe: model loaded (ok)")


def test_probe_closes_a_window_without_a_model_after_the_delay() -> None:
    status, lines, _ = run_probe(
        """
        from PySide6.QtWidgets import QWidget
        w = QWidget()
        w.show()
        """
    )
    assert status == 0
    assert len(lines) == 1 and lines[0].startswith("probe: window shown")


def test_probe_is_inert_without_its_variable() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SCENE_TAGGER_PROBE"}
    code = f"import runpy, sys; runpy.run_path({str(PACKAGING / 'rthook_probe.py')!r}); print('PySide6' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "False"


def fake_bundle(folder: Path, stderr_lines: list[str], status: int = 0) -> Path:
    folder.mkdir()
    exe = folder / measure_startup.EXE
    body = "".join(f"echo '{line}' >&2\nsleep 0.05\n" for line in stderr_lines)
    exe.write_text(f'#!/bin/sh\n[ -n "$SCENE_TAGGER_PROBE" ] || exit 9\n{body}exit {status}\n')
    exe.chmod(0o755)
    return folder


@pytest.mark.skipif(os.name == "nt", reason="the fake bundle is a shell script")
def test_measure_startup_times_each_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = fake_bundle(
        tmp_path / "ok",
        [
            "INFO app.ui: whatever",
            "probe: window shown after 0.10 s (torch already loaded: yes)",
            "probe: model loaded (ok) after 0.20 s",
        ],
    )
    assert measure_startup.main(["--bundle", str(bundle), "--runs", "2", "--target", "30"]) == 0
    out = capsys.readouterr().out
    assert out.count("torch loaded at show: yes, exit 0") == 2
    assert re.search(
        r"window shown 0\.\d\d s \(within the 30 s target\), model loaded 0\.\d\d s", out
    )


@pytest.mark.skipif(os.name == "nt", reason="the fake bundle is a shell script")
@pytest.mark.parametrize(
    ("lines", "status", "problem"),
    [
        (
            ["probe: window shown after 0.1 s (torch already loaded: no)"],
            0,
            "the model did not load",
        ),
        (
            ["probe: window shown after 0.1 s (…: no)", "probe: model loaded (FAILED) after 1 s"],
            0,
            "the model did not load",
        ),
        (["Traceback (most recent call last):"], 1, "the window was never shown"),
        (
            ["probe: window shown after 0.1 s (…: no)", "probe: model loaded (ok) after 1 s"],
            3,
            "exit status 3",
        ),
    ],
)
def test_measure_startup_fails_a_bad_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: list[str], status: int, problem: str
) -> None:
    bundle = fake_bundle(tmp_path / "bad", lines, status)
    assert measure_startup.main(["--bundle", str(bundle), "--runs", "1"]) == 1
    assert f"problem: {problem}" in capsys.readouterr().out


# --- build script helpers -------------------------------------------------------------------


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_make_readable_and_folder_size(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir(mode=0o700)
    weights = tmp_path / "sub" / "w.safetensors"
    weights.write_bytes(b"x" * 1000)
    weights.chmod(0o600)
    exe = tmp_path / "SceneTagger"
    exe.write_bytes(b"y" * 24)
    exe.chmod(0o700)
    build.make_readable(tmp_path)
    assert stat.S_IMODE(weights.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "sub").stat().st_mode) == 0o755
    assert stat.S_IMODE(exe.stat().st_mode) == 0o755
    assert build.folder_size(tmp_path) == (1024, 2)


def test_build_defaults_keep_the_venv_out_of_the_repo() -> None:
    args = build.parser().parse_args([])
    assert REPO not in args.venv.resolve().parents
    assert args.nice == 10 and not hasattr(args, "torch")  # the bundle carries no torch
    assert args.distpath == REPO / "dist"
    assert args.workpath == REPO / "build" / "pyinstaller"
    reqs = (PACKAGING / "requirements-build.txt").read_text().splitlines()
    lines = [line for line in reqs if line and not line.startswith("#")]
    pins = dict(line.split(";")[0].strip().split("==", 1) for line in lines)
    assert {"PySide6-Essentials", "pyinstaller", "safetensors", "defusedxml"} <= set(pins)
    assert not pins["PySide6-Essentials"].startswith("6.12.0")  # see app/ui/compat.py
    assert not {"torch", "torchvision", "PySide6", "scipy", "matplotlib"} & set(pins)
    assert "onnxruntime" in pins
    # OpenVINO only where the app installs it too (pyproject's marker): x86-64 Linux, Windows
    (marker,) = [line.split(";", 1)[1] for line in lines if line.startswith("openvino==")]
    assert "x86_64" in marker and "win32" in marker
