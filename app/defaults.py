"""The product's defaults, in one place: the CLI, the window, its settings and the sidecar
writer all read them from here (PhotoPrism keeps its label vocabulary and thresholds in one
table for the same reason: two copies of a default drift apart)."""

from __future__ import annotations

# Automatic labels below this calibrated confidence are not written to sidecars and are listed
# under "Needs review" (the model card's ECE of ~0.02 makes "80 %" mean right ~8 times in 10).
THRESHOLD = 0.80

# Sidecar names: "ext" = IMG_0001.jpg.xmp (darktable, digiKam, exiftool; no clash between
# IMG.CR2 and IMG.JPG), "base" = IMG_0001.xmp (Adobe). An existing sidecar of either name is
# updated whatever the setting.
NAMINGS: tuple[str, ...] = ("ext", "base")
NAMING = "ext"

# Parent of the hierarchical keyword: Scene|sea (Lightroom), Scene/sea (digiKam).
PARENT = "Scene"

BATCH_SIZE = 32  # photos per forward pass

# The model's input: every photo is resized to INPUT_SIZE x INPUT_SIZE pixels (aspect not kept)
# unless its model card says otherwise (app.model.scenes); the photo readers' default size.
INPUT_SIZE = 150

# Runtimes (app.model.runtimes): auto = torch on a GPU; on a CPU OpenVINO int8 where it is
# installed, gated and measured faster, else ONNX Runtime (int8 when its gate passed, else fp32),
# else torch.
BACKENDS: tuple[str, ...] = ("auto", "torch", "onnx", "openvino")
BACKEND = "auto"

# Test-time augmentation (app.model.engine): "flip" also classifies each photo's horizontal mirror and
# averages the two calibrated probability vectors (twice the compute); "none" = one pass.
TTAS: tuple[str, ...] = ("none", "flip")
TTA = "none"

# RAW + JPEG pairs (IMG_0001.CR2 + IMG_0001.JPG, written together by the camera): "separate" =
# two photos, each classified and tagged (darktable, digiKam); "one" = one photo, the JPEG
# classified once and its label written to both files' sidecars (Lightroom's default).
RAW_JPEG_MODES: tuple[str, ...] = ("separate", "one")
RAW_JPEG = "separate"
