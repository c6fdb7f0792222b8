"""Templates: data files load, schemas are valid and portable, prompts say what they must."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from medgemma_ui.imaging import window_names
from medgemma_ui.templates import (
    TEMPLATE_INPUTS,
    Template,
    TemplateDataError,
    UnknownTemplateError,
    check_schema,
    get_template,
    list_templates,
    template_ids,
)
from medgemma_ui.templates.loader import load_template
from medgemma_ui.templates.skeleton import render_value

TEMPLATES = list_templates()
TEMPLATE_IDS = template_ids()


def test_ids_are_discovered_and_ordered_by_their_order_key() -> None:
    assert TEMPLATE_IDS == (
        "cxr",
        "cxr-compare",
        "cxr-localize",
        "ct",
        "ct-volume",
        "derm",
        "mri",
        "mri-volume",
        "pathology",
        "fundus",
        "general",
    )
    assert [t.id for t in TEMPLATES] == list(TEMPLATE_IDS)
    assert [t.order for t in TEMPLATES] == sorted(t.order for t in TEMPLATES)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.id)
def test_template_loads_with_metadata(template: Template) -> None:
    assert get_template(template.id) == template
    assert template.label and template.version and template.description
    assert template.instructions.strip()
    assert template.default_window is None or template.default_window in window_names()
    assert template.input in TEMPLATE_INPUTS
    if template.input in {"image", "target"}:  # one file shows the template; a pair or series not
        assert template.example is not None
    if template.example is not None:
        assert template.example.path.is_file() and template.example.caption


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.id)
def test_schema_passes_metaschema_and_portability(template: Template) -> None:
    Draft202012Validator.check_schema(template.schema)
    check_schema(template.schema, template.id)
    assert template.schema["type"] == "object"
    assert template.schema["additionalProperties"] is False
    assert set(template.schema["required"]) == set(template.schema["properties"])


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.id)
def test_prompt_is_one_user_turn_with_compact_schema(template: Template) -> None:
    prompt = template.build_prompt()
    assert "Respond with JSON only" in prompt
    assert "not visible" in prompt  # the closed-world rule, phrased per template
    for marker in (
        "<start_of_turn>",
        "<end_of_turn>",
        "system:",
        "System:",
        "<|system|>",
        "[INST]",
    ):
        assert marker not in prompt
    for key, sub in template.schema["properties"].items():
        assert f'"{key}": {render_value(sub)}' in prompt
    # Compact: the skeleton, not a JSON Schema dump.
    assert '"additionalProperties"' not in prompt and '"type"' not in prompt
    assert prompt.count("\n") < 40


def test_cxr_prompt_skeleton_and_schema() -> None:
    cxr = get_template("cxr")
    assert cxr.label == "Chest X-ray"
    assert '"cardiac_size": "normal" | "enlarged"' in cxr.build_prompt()
    assert '"pulmonary_findings": [string]' in cxr.build_prompt()
    assert cxr.schema["properties"]["cardiac_size"]["enum"] == ["normal", "enlarged"]
    assert set(cxr.schema["required"]) == {
        "cardiac_size",
        "pulmonary_findings",
        "pleural_findings",
        "bone_findings",
        "impression",
    }


def test_specific_schema_keys() -> None:
    assert get_template("ct").default_window == "medgemma"
    derm = get_template("derm").schema["properties"]
    assert derm["concern_level"]["enum"] == ["low", "moderate", "high"]
    assert {"asymmetry", "border", "colour", "diameter_mm"} <= set(derm["features"]["properties"])
    general = get_template("general").schema["properties"]
    assert set(general) == {
        "modality",
        "findings",
        "key_abnormalities",
        "normal_findings",
        "clinical_impression",
    }
    assert "diabetic_retinopathy_grade" in get_template("fundus").schema["properties"]
    assert "cellular_features" in get_template("pathology").schema["properties"]


def test_retry_prompt_states_errors_and_previous_answer() -> None:
    cxr = get_template("cxr")
    errors = ["$.cardiac_size: 'big' is not one of ['normal', 'enlarged']", "$.impression: missing"]
    prompt = cxr.build_retry_prompt('{"cardiac_size": "big"}', errors)
    assert prompt.startswith(cxr.build_prompt())
    for error in errors:
        assert error in prompt
    assert '{"cardiac_size": "big"}' in prompt
    long_prompt = cxr.build_retry_prompt("x" * 10_000, [f"error {i}" for i in range(20)])
    assert "error 7" in long_prompt and "error 8" not in long_prompt and "12 more" in long_prompt
    assert len(long_prompt) < len(cxr.build_prompt()) + 2000


def test_retry_after_an_edited_prompt_repeats_the_edit_not_the_template() -> None:
    cxr = get_template("cxr")
    edited = "Only describe the heart. Answer as JSON with the keys above."
    prompt = cxr.build_retry_prompt("prose", ["no JSON object found"], first_prompt=edited)
    assert prompt.startswith(edited + "\n\n")
    assert cxr.build_prompt() not in prompt
    assert "no JSON object found" in prompt and "prose" in prompt


def test_unknown_template_lists_valid_ids() -> None:
    with pytest.raises(UnknownTemplateError) as caught:
        get_template("xray")
    assert isinstance(caught.value, KeyError)
    message = str(caught.value)
    assert "'xray'" in message
    for template_id in TEMPLATE_IDS:
        assert template_id in message


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "array"},
        {"type": "object", "properties": {"a": {"type": "strng"}}, "additionalProperties": False},
        {"type": "object", "properties": {"a": {"type": "string"}}},
        {"type": "object", "properties": {"a": {"anyOf": [{}]}}, "additionalProperties": False},
        {"type": "object", "required": 3, "additionalProperties": False},
    ],
)
def test_check_schema_refuses_bad_or_non_portable_schemas(schema: dict) -> None:
    with pytest.raises(TemplateDataError):
        check_schema(schema)


def test_schema_files_are_plain_json_on_disk() -> None:
    from importlib.resources import files

    data = files("medgemma_ui.templates") / "data"
    names = sorted(p.name for p in data.iterdir() if re.search(r"\.(toml|json)$", p.name))
    assert names == sorted(
        [f"{i}.toml" for i in TEMPLATE_IDS] + [f"{i}.schema.json" for i in TEMPLATE_IDS]
    )
    for template_id in TEMPLATE_IDS:
        on_disk = json.loads((data / f"{template_id}.schema.json").read_text())
        assert on_disk == get_template(template_id).schema


GOOD_TOML = 'id = "x"\nlabel = "X"\nversion = "1"\ninstructions = "Look."\n'
GOOD_SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "string"}},
    "required": ["a"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("toml", "schema", "message"),
    [
        (GOOD_TOML.replace('"x"', '"y"', 1), GOOD_SCHEMA, "the file says id='y'"),
        (GOOD_TOML + 'colour = "red"\n', GOOD_SCHEMA, "unknown keys ['colour']"),
        (GOOD_TOML + 'default_window = "abdomen"\n', GOOD_SCHEMA, "unknown window preset"),
        (GOOD_TOML + 'input = "video"\n', GOOD_SCHEMA, "input must be one of"),
        (GOOD_TOML + 'order = "first"\n', GOOD_SCHEMA, "order must be a whole number"),
        (GOOD_TOML + "[match]\nmodalities = 'CT'\n", GOOD_SCHEMA, "must be a list of words"),
        (GOOD_TOML + "[match]\nmodality = ['CT']\n", GOOD_SCHEMA, "unknown keys in [match]"),
        (GOOD_TOML + "[example]\nfile = 'none.png'\n", GOOD_SCHEMA, "'none.png' not found"),
        ('id = "x"\nversion = "1"\ninstructions = "Look."\n', GOOD_SCHEMA, "label"),
        (GOOD_TOML + 'lead = "Slices follow."\n', GOOD_SCHEMA, "lead is sent before"),
        (GOOD_TOML + "targets = ['left lung']\n", GOOD_SCHEMA, "targets are for"),
        (GOOD_TOML + 'input = "target"\n', GOOD_SCHEMA, "must say {target}"),
        (GOOD_TOML + "label = 2\n", GOOD_SCHEMA, "x"),  # duplicate key: TOML error
        (GOOD_TOML, {**GOOD_SCHEMA, "required": "a"}, "not a valid JSON Schema"),
        (GOOD_TOML, {**GOOD_SCHEMA, "additionalProperties": True}, "additionalProperties"),
        (GOOD_TOML, None, "x"),  # missing schema file
    ],
)
def test_loader_refuses_broken_data_files(
    tmp_path: Path, toml: str, schema: dict | None, message: str
) -> None:
    (tmp_path / "x.toml").write_text(toml)
    if schema is not None:
        (tmp_path / "x.schema.json").write_text(json.dumps(schema))
    with pytest.raises(TemplateDataError) as caught:
        load_template("x", tmp_path)
    assert message in str(caught.value)


def test_loader_reads_a_good_data_file(tmp_path: Path) -> None:
    (tmp_path / "x.toml").write_text(
        GOOD_TOML
        + 'default_window = "lung"\n'
        + '[match]\nmodalities = ["ct"]\nbody_parts = ["chest"]\n'
        + '[example]\nfile = "x.png"\ncaption = "An X"\n'
    )
    (tmp_path / "x.schema.json").write_text(json.dumps(GOOD_SCHEMA))
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "x.png").write_bytes(b"not read at load")
    template = load_template("x", tmp_path)
    assert (template.id, template.label, template.default_window) == ("x", "X", "lung")
    assert (template.order, template.input, template.fallback) == (100, "image", False)
    assert template.match.modalities == ("CT",) and template.match.body_parts == ("CHEST",)
    assert template.example is not None and template.example.caption == "An X"
    assert template.example.path == tmp_path / "examples" / "x.png"
    assert template.schema == GOOD_SCHEMA
    assert template.build_prompt().startswith(template.role)
