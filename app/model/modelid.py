"""The model id, built and read in one place: which weights, which runtime variant, which
test-time augmentation, which personal head answered.

    scene-vgg16@a4684ef2ce43                     the weights: the card's name + 12 hex of sha256
    scene-vgg16@a4684ef2ce43/int8                the int8 ONNX model (fp32, bf16, fp16 are the
                                                 weights' own numbers: no variant)
    scene-vgg16@a4684ef2ce43/int8+tta-flip       each photo and its mirror
    scene-vgg16@a4684ef2ce43/int8+personal.3     personal head 3 in front (app.personal)

Sidecars, the results cache, JSON lines and the status bar carry the text (`str(ModelId)`);
code that builds one or needs a part of one goes through ModelId, never through string
splitting. No Qt, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

SAME_WEIGHTS = ("fp32", "bf16", "fp16")  # precisions that keep the weights' own id
TTA_PREFIX = "+tta-"
PERSONAL_PREFIX = "+personal."


@dataclass(frozen=True)
class ModelId:
    weights: str  # "name@sha12": the card's weights
    variant: str | None = None  # "int8": a runtime that is a different model
    tta: str = "none"
    personal: int | None = None  # the personal head's version

    @classmethod
    def of_weights(cls, name: str, sha256: str) -> ModelId:
        return cls(f"{name}@{sha256[:12]}")

    @classmethod
    def parse(cls, text: str) -> ModelId:
        """The parts of an id this module wrote. ValueError for a suffix it does not know."""
        head, *suffixes = text.split("+")
        weights, _, variant = head.partition("/")
        found = cls(weights, variant or None)
        for suffix in suffixes:
            if suffix.startswith(TTA_PREFIX[1:]):
                found = replace(found, tta=suffix[len(TTA_PREFIX) - 1 :])
            elif suffix.startswith(PERSONAL_PREFIX[1:]):
                found = replace(found, personal=int(suffix[len(PERSONAL_PREFIX) - 1 :]))
            else:
                raise ValueError(f"{text!r}: unknown model id part {suffix!r}")
        return found

    def __str__(self) -> str:
        text = self.weights + (f"/{self.variant}" if self.variant else "")
        if self.tta != "none":
            text += f"{TTA_PREFIX}{self.tta}"
        if self.personal is not None:
            text += f"{PERSONAL_PREFIX}{self.personal}"
        return text

    def with_precision(self, precision: str) -> ModelId:
        """fp32 in torch and in ONNX Runtime are the same weights (within 1e-5): one id, so
        results and sidecars stay valid across runtimes; int8 is a different model and says so."""
        return replace(self, variant=None if precision in SAME_WEIGHTS else precision)

    def with_tta(self, tta: str) -> ModelId:
        return replace(self, tta=tta)

    def with_personal(self, version: int | None) -> ModelId:
        return replace(self, personal=version)

    @property
    def runtime(self) -> ModelId:
        """What the runtime answered under: this id without its personal head."""
        return replace(self, personal=None)
