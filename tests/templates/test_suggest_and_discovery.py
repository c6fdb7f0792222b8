"""Templates are data: the suggestion follows each TOML's `[match]`, and a template added as files
(TOML + schema + example) reaches the menu, the examples, the CLI and an analysis with no code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from medgemma_ui.imaging import ImageInfo
from medgemma_ui.templates import (
    get_template,
    list_templates,
    resolve_template_id,
    suggest_template,
    template_ids,
    templates_dir,
    use_templates_dir,
)
from tests.analysis.conftest import make_backend, make_server

__all__ = ["make_backend", "make_server"]  # fixtures shared with the analysis tests

REPO = Path(__file__).resolve().parents[2]


def dicom(modality: str | None, body_part: str | None = None) -> ImageInfo:
    return ImageInfo("dicom", (64, 64), modality=modality, body_part=body_part)


def test_the_suggestion_follows_the_match_tables() -> None:
    assert suggest_template(dicom("CT")) == "ct"
    assert suggest_template(dicom("MR")) == "mri"
    assert suggest_template(dicom("CR", "CHEST")) == "cxr"
    assert suggest_template(dicom("DX", "Chest PA")) == "cxr"  # a word of it, any case
    assert suggest_template(dicom("DX", "LUNG")) == "cxr"
    assert suggest_template(dicom("CR", "LEG")) is None
    assert suggest_template(dicom("US")) == "general"
    assert suggest_template(dicom("OP")) == "fundus"
    assert suggest_template(dicom(None)) is None
    assert suggest_template(ImageInfo("png", (10, 10), modality="CT")) is None
    assert resolve_template_id("auto", dicom("CT")) == "ct"
    assert resolve_template_id(None, ImageInfo("png", (10, 10))) == "general"
    assert resolve_template_id("derm", dicom("CT")) == "derm"


def test_every_modality_a_toml_names_suggests_that_template() -> None:
    for template in list_templates():
        for modality in template.match.modalities:
            body = template.match.body_parts[0] if template.match.body_parts else None
            assert suggest_template(dicom(modality, body), template.input) == template.id


def test_a_series_is_suggested_its_volume_template() -> None:
    assert suggest_template(dicom("CT"), "series") == "ct-volume"
    assert suggest_template(dicom("MR"), "series") == "mri-volume"
    assert suggest_template(dicom("CR", "CHEST"), "series") is None


NEW_TOML = """\
id = "cxr-heart"
label = "Chest X-ray: heart only"
version = "3"
order = 15
input = "image"
description = "Cardiothoracic ratio on a frontal chest radiograph."
instructions = "Judge the size of the cardiac silhouette."
closed_world = "Report only what is visible; if it is not visible, say so."

[match]
modalities = ["CR", "DX"]
body_parts = ["HEART"]

[example]
file = "heart.png"
caption = "Heart, PNG"
"""
NEW_SCHEMA = {
    "type": "object",
    "properties": {
        "cardiac_size": {"type": "string", "enum": ["normal", "enlarged"]},
        "impression": {"type": "string"},
    },
    "required": ["cardiac_size", "impression"],
    "additionalProperties": False,
}
NEW_ANSWER = '{"cardiac_size": "enlarged", "impression": "Cardiomegaly."}'


@pytest.fixture
def added_template(tmp_path: Path) -> Iterator[Path]:
    """A copy of the packaged data folder plus one template, in use for the test."""
    folder = tmp_path / "templates"
    shutil.copytree(templates_dir(), folder)
    (folder / "cxr-heart.toml").write_text(NEW_TOML)
    (folder / "cxr-heart.schema.json").write_text(json.dumps(NEW_SCHEMA))
    shutil.copy(folder / "examples" / "fundus_synthetic.png", folder / "examples" / "heart.png")
    use_templates_dir(folder)
    try:
        yield folder
    finally:
        use_templates_dir(None)


def test_an_added_template_is_in_the_menu_the_examples_and_the_suggestion(added_template):
    from medgemma_ui.ui.components.model_panel import template_dropdown

    assert template_ids()[:4] == ("cxr", "cxr-compare", "cxr-localize", "cxr-heart")  # order 15
    choices = [value for _, value in template_dropdown().choices]
    assert "cxr-heart" in choices
    assert get_template("cxr-heart").example.path == added_template / "examples" / "heart.png"
    assert suggest_template(dicom("DX", "HEART")) == "cxr-heart"
    assert suggest_template(dicom("DX", "CHEST")) == "cxr"
    use_templates_dir(None)
    assert "cxr-heart" not in template_ids()


def test_an_added_template_is_in_the_cli_help(added_template):
    env = {**os.environ, "MEDGEMMA_TEMPLATES_DIR": str(added_template)}
    shown = subprocess.run(
        [sys.executable, "-m", "medgemma_ui", "analyze", "--help"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "cxr-heart" in " ".join(shown.split())


async def test_an_added_template_runs_an_analysis(added_template, make_server, make_backend):
    from medgemma_ui.analysis import AnalysisRequest, analyze_to_result
    from medgemma_ui.settings import GenerationDefaults

    server = make_server([NEW_ANSWER])
    example = added_template / "examples" / "heart.png"
    request = AnalysisRequest.build([example], GenerationDefaults(), template="cxr-heart")
    result = await analyze_to_result(request, make_backend(server))

    assert result.valid and result.parsed == json.loads(NEW_ANSWER)
    assert (result.template_id, result.template_version) == ("cxr-heart", "3")
    prompt = result.provenance.prompt
    assert "Judge the size of the cardiac silhouette." in prompt
    assert '"cardiac_size": "normal" | "enlarged"' in prompt
    (sent,) = server.requests
    assert sent.body["messages"][0]["content"][-1]["text"] == prompt
