"""The model id (app.model.modelid): every form the app writes is built and read one way."""

from __future__ import annotations

import pytest

from app.model.modelid import ModelId
from app.personal.corrections import base_model_id

SHA = "a4684ef2ce43" + "0" * 52


@pytest.mark.parametrize(
    "text,parts",
    [
        ("scene-vgg16@a4684ef2ce43", ("scene-vgg16@a4684ef2ce43", None, "none", None)),
        ("scene-vgg16@a4684ef2ce43/int8", ("scene-vgg16@a4684ef2ce43", "int8", "none", None)),
        ("scene-vgg16@a4684ef2ce43+tta-flip", ("scene-vgg16@a4684ef2ce43", None, "flip", None)),
        (
            "scene-vgg16@a4684ef2ce43/int8+tta-flip+personal.12",
            ("scene-vgg16@a4684ef2ce43", "int8", "flip", 12),
        ),
    ],
)
def test_every_form_reads_into_its_parts_and_back(text: str, parts: tuple) -> None:
    found = ModelId.parse(text)
    assert (found.weights, found.variant, found.tta, found.personal) == parts
    assert str(found) == text


def test_built_as_the_runtimes_the_tta_and_a_personal_head_name_it() -> None:
    weights = ModelId.of_weights("scene-vgg16", SHA)
    assert str(weights) == "scene-vgg16@a4684ef2ce43"
    assert [str(weights.with_precision(p)) for p in ("fp32", "bf16", "fp16", "int8")] == [
        "scene-vgg16@a4684ef2ce43"
    ] * 3 + ["scene-vgg16@a4684ef2ce43/int8"]
    personal = weights.with_precision("int8").with_tta("flip").with_personal(3)
    assert str(personal) == "scene-vgg16@a4684ef2ce43/int8+tta-flip+personal.3"
    assert str(personal.runtime) == "scene-vgg16@a4684ef2ce43/int8+tta-flip"
    assert base_model_id(str(personal)) == str(personal.runtime)
    with pytest.raises(ValueError, match="unknown model id part"):
        ModelId.parse("scene-vgg16@a4684ef2ce43+hdr")
