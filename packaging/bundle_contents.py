"""What goes into the SceneTagger bundle, in one place the spec and the tests both read.

The bundled app's runtime needs ONNX Runtime and OpenVINO (the int8 model on the CPU; no torch),
numpy, Pillow (with its AVIF plugin), defusedxml, platformdirs, safetensors, the photo decoders
pi-heif and rawpy, and three Qt modules (QtCore, QtGui, QtWidgets). Everything listed here was checked against
sys.modules after a self-test and a window session; tests/test_packaging.py re-checks that
nothing the app imports is excluded.
"""

from __future__ import annotations

import json
from pathlib import Path

NAME = "SceneTagger"
QT_USED = ("QtCore", "QtGui", "QtWidgets")
QT_UNUSED = (
    "Qt3DAnimation",
    "Qt3DCore",
    "Qt3DExtras",
    "Qt3DInput",
    "Qt3DLogic",
    "Qt3DRender",
    "QtBluetooth",
    "QtCharts",
    "QtConcurrent",
    "QtDataVisualization",
    "QtDBus",
    "QtDesigner",
    "QtGraphs",
    "QtHelp",
    "QtHttpServer",
    "QtLocation",
    "QtMultimedia",
    "QtMultimediaWidgets",
    "QtNetwork",
    "QtNetworkAuth",
    "QtNfc",
    "QtOpenGL",
    "QtOpenGLWidgets",
    "QtPdf",
    "QtPdfWidgets",
    "QtPositioning",
    "QtPrintSupport",
    "QtQml",
    "QtQuick",
    "QtQuick3D",
    "QtQuickControls2",
    "QtQuickTest",
    "QtQuickWidgets",
    "QtRemoteObjects",
    "QtScxml",
    "QtSensors",
    "QtSerialBus",
    "QtSerialPort",
    "QtSpatialAudio",
    "QtSql",
    "QtStateMachine",
    "QtSvgWidgets",
    "QtTest",
    "QtTextToSpeech",
    "QtUiTools",
    "QtWebChannel",
    "QtWebEngineCore",
    "QtWebEngineQuick",
    "QtWebEngineWidgets",
    "QtWebSockets",
    "QtWebView",
    "QtXml",
)

# Photo decoders the app imports lazily (app.photos.imaging, app.photos.rawfiles): named as hidden imports
# so the bundle has them even if analysis misses an import inside a function. Their shared
# libraries (libheif, libde265; LibRaw's libjpeg, lcms2, jasper, libgomp) come with the
# extension modules; THIRD_PARTY_NOTICES names them and their licences.
DECODERS = ("pi_heif", "pi_heif.as_plugin", "rawpy", "rawpy._rawpy", "PIL.AvifImagePlugin")
# The model runtimes, imported lazily by app.model.runtimes: ONNX Runtime everywhere, OpenVINO
# where `auto` takes it (app.model.choice.OPENVINO_TAKEN).
RUNTIME = ("onnxruntime", "onnxruntime.capi._pybind_state", "openvino", "openvino._pyopenvino")
# OpenVINO's wheel holds every device plugin and model frontend (180 MB); the app compiles the
# shipped ONNX int8 file on the CPU: it needs libopenvino, the CPU plugin, the ONNX frontend (and
# the IR frontend, small, for the compiled-model cache) and libtbb. Left out: the GPU/NPU and
# multi-device plugins, the other frameworks' frontends, the C API, TBB's allocator and its
# hwloc binding (the model runs without them: packaging/check.sh), headers, cmake files and the
# GPU plugin's kernel cache.
OPENVINO_PLUGINS = (
    "libopenvino_*_plugin.so",  # Linux
    "libopenvino_*_frontend.so*",
    "libopenvino_*_plugin.dylib",  # macOS
    "libopenvino_*_frontend*.dylib",
    "openvino_*_plugin.dll",  # Windows
    "openvino_*_frontend.dll",
)
OPENVINO_DROP = (  # parts of a file name under openvino/ (Linux lib*.so*, Windows *.dll)
    "openvino_intel_gpu_plugin",
    "openvino_intel_npu_plugin",
    "openvino_auto_plugin",
    "openvino_auto_batch_plugin",
    "openvino_hetero_plugin",
    "openvino_tensorflow_frontend",
    "openvino_tensorflow_lite_frontend",
    "openvino_paddle_frontend",
    "openvino_pytorch_frontend",
    "openvino_jax_frontend",
    "openvino_gguf_frontend",
    "openvino_c.",
    "tbbmalloc",
    "tbbbind",
    "hwloc",
    "cache.json",
    "/pkgconfig/",
    "openvino/include/",
    "openvino/cmake/",
)
REPO = Path(__file__).resolve().parent.parent
# Every third party's licence and terms (Help ▸ About ▸ Licences shows it): package data of the
# app, so it is in the bundle's resources/ too; the spec also puts it, with LICENSE, in licenses/.
NOTICES = REPO / "app" / "resources" / "THIRD_PARTY_NOTICES.md"
LICENSE = REPO / "LICENSE"
# The user's guide and the pictures it shows (Help ▸ User's Guide reads guide/ in the bundle;
# setup.py puts the same files in the wheel).
GUIDE_FILES = ("user-guide.md", "guide/*.png")

# Modules the frozen app must never contain: training code and tests, torchvision and the
# scientific stack, torch's compiler (needs sympy, networkx, jinja2) and test suites, other Qt
# bindings, and the Qt modules the window does not use.
EXCLUDES = (
    "training",
    "tests",
    "conftest",
    "bench",
    "torchvision",
    "torchaudio",
    "triton",
    "nvidia",
    "matplotlib",
    "scipy",
    "pandas",
    "sklearn",
    "sympy",
    "mpmath",
    "networkx",
    "jinja2",
    "IPython",
    "jupyter",
    "notebook",
    "tkinter",
    "_tkinter",
    "pytest",
    "pytestqt",
    "tensorboard",
    "onnx",  # the exporter's package; the app runs models with onnxruntime
    # torch: the packaged app is CPU-only and runs the model through ONNX Runtime (torch is
    # 480 MiB of the old bundle); a source install adds torch for GPUs
    "torch",
    "PyQt5",
    "PyQt6",
    "PySide2",
    # pillow-heif links the GPL x265 encoder (the app reads through pi-heif); test-only writers
    "pillow_heif",
    "tifffile",
    "imagecodecs",
    "torch._inductor",
    "torch.utils.tensorboard",
    "torch.onnx",
    "torch.utils.benchmark",
    # torch.utils.checkpoint imports torch.testing._internal.logging_tensor: keep the package,
    # drop its test suites.
    "torch.testing._internal.distributed",
    "torch.testing._internal.opinfo",
    "torch.testing._internal.common_methods_invocations",
    "torch.testing._internal.generated",
) + tuple(f"PySide6.{m}" for m in QT_UNUSED)

# Imported by the app's dependencies only inside try/except (http.client for TLS, hashlib for
# OpenSSL's hashes, which it replaces with its built-in SHA-256): left out, they cost nothing
# but OpenSSL's 5 MB. The bundle's --self-test runs without them.
OPTIONAL_EXCLUDES = ("ssl", "_ssl", "_hashlib")
EXCLUDES = EXCLUDES + OPTIONAL_EXCLUDES

# Files the torch and Qt hooks collect that nothing loads at run time: C++ test programs and
# test libraries, headers and cmake files, and the QML/Quick/WebEngine/3D/Multimedia/PDF
# libraries with the plugins that would drag them in. `import torch` checks that
# torch/bin/torch_shm_manager exists, so that one program stays.
KEEP = ("torch/bin/torch_shm_manager",)
DROP_PREFIXES = ("torch/bin/", "torch/test/", "torch/include/", "torch/share/")
DROP_NAMES = (
    "libtorchbind_test",
    "libjitbackend_test",
    "libaoti_custom_ops",
    "libbackend_with_compiler",
)
QT_DROP = (
    "Qt6Quick",
    "Qt6Qml",
    "Qt6WebEngine",
    "Qt63D",
    "Qt6Multimedia",
    "Qt6Pdf",
    "Qt6Designer",
    "Qt6Labs",
    "Qt6VirtualKeyboard",
    "Qt6ShaderTools",
    "Qt6Lottie",
    "Qt6Charts",
    "Qt6Graphs",
    "Qt6DataVisualization",
    "Qt6Sql",
    "Qt6Test",
    "Qt6Help",
    "Qt6Positioning",
    "Qt6Location",
    "Qt6Sensors",
    "Qt6Bluetooth",
    "Qt6SpatialAudio",
    "Qt6TextToSpeech",
    "Qt6RemoteObjects",
    "Qt6Scxml",
    "Qt6StateMachine",
    "Qt6WebChannel",
    "Qt6WebSockets",
    "Qt6WebView",
    "/qmltooling/",
    "/qml/",
    "/sqldrivers/",
    "/designer/",
    "/multimedia/",
    "/sceneparser/",
    "/renderers/",
    "/geometryloaders/",
    "/position/",
    "/texttospeech/",
    "/qmllint/",
    "/vectorimageformats/",
    "qtvirtualkeyboard",
)
RESOURCE_JUNK = frozenset({"__pycache__", ".DS_Store", "Thumbs.db", ".gitkeep"})


# Qt platforms and plugins a desktop app never loads: framebuffer/EGL/VNC/Vulkan-display
# platforms (xcb, wayland and offscreen stay) and image decoders (photos go through Pillow;
# only the SVG icon engine's decoder is used).
QT_PLATFORM_DROP = (
    "platforms/libqeglfs",
    "platforms/libqlinuxfb",
    "platforms/libqminimal",
    "platforms/libqvnc",
    "platforms/libqvkkhrdisplay",
    "plugins/egldeviceintegrations/",
    "plugins/generic/",  # evdev/tslib input for framebuffer devices
    "Qt6Network",  # nothing in the bundle links it (ldd over every library)
    "Qt6EglFSDeviceIntegration",
    "Qt6EglFsKmsSupport",
)


def wanted(dest: str) -> bool:
    """Whether a collected file (its path inside the bundle) belongs in the app."""
    d = dest.replace("\\", "/")
    if d.startswith(KEEP):
        return True
    if d.startswith(DROP_PREFIXES) or any(n in d for n in DROP_NAMES):
        return False
    if d.startswith("openvino/") and any(n in d for n in OPENVINO_DROP):
        return False
    if "PySide6/" in d and any(q in d for q in QT_PLATFORM_DROP):
        return False
    if "PySide6/Qt/plugins/imageformats/" in d and "svg" not in d:
        return False
    return not ("PySide6/" in d and any(q in d for q in QT_DROP))


def unbundled_weights(resources: Path) -> set[str]:
    """Model files the torch-free bundle leaves out: the fp16 safetensors (torch's; the card
    keeps its sha256, from which the model id derives) and the fp32 ONNX model when an int8 one
    passed its gate (fp32 is the int8 file's fallback in a source install; in the bundle a
    damaged int8 file is a reinstall, said by name)."""
    card = resources / "model_card.json"
    if not card.is_file():
        return set()
    try:
        data = json.loads(card.read_text(encoding="utf-8"))
        onnx = data.get("onnx") or {}
        if not (onnx.get("int8", {}).get("gate") or {}).get("passed"):
            return set()  # no int8 model to run: keep everything
        dropped = {data["weights"]["file"]}
        if "fp32" in onnx:
            dropped.add(onnx["fp32"]["file"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return set()  # not a card we understand: keep everything (the spec checks it)
    return dropped


def guide_datas(docs: Path) -> list[tuple[str, str]]:
    """(source file, folder in the bundle) for the user's guide and its pictures, as guide/…"""
    return [
        (str(f), str(Path("guide") / f.relative_to(docs).parent))
        for pattern in GUIDE_FILES
        for f in sorted(docs.glob(pattern))
    ]


def resource_datas(resources: Path) -> list[tuple[str, str]]:
    """(source file, folder in the bundle) for every file under `resources`, as resources/…,
    but the weights the bundle does not run (unbundled_weights)."""
    dropped = unbundled_weights(resources)
    return [
        (str(f), str(Path("resources") / f.relative_to(resources).parent))
        for f in sorted(resources.rglob("*"))
        if f.is_file()
        and not RESOURCE_JUNK.intersection(f.relative_to(resources).parts)
        and not f.name.endswith(".tmp")
        and f.relative_to(resources).as_posix() not in dropped
    ]
