"""Unit tests of parse_findings: each extraction stage, normalisation, errors and guards."""

from __future__ import annotations

import json

import pytest

from medgemma_ui.findings import (
    CUT_OFF,
    MAX_INPUT_CHARS,
    NO_OBJECT,
    Findings,
    parse_findings,
)
from tests.findings.summary import findings_summary

CXR_SCHEMA = {
    "type": "object",
    "properties": {
        "cardiac_size": {"type": "string", "enum": ["normal", "enlarged"]},
        "pulmonary_findings": {"type": "array", "items": {"type": "string"}},
        "pleural_findings": {"type": "array", "items": {"type": "string"}},
        "bone_findings": {"type": "array", "items": {"type": "string"}},
        "impression": {"type": "string"},
    },
    "required": [
        "cardiac_size",
        "pulmonary_findings",
        "pleural_findings",
        "bone_findings",
        "impression",
    ],
    "additionalProperties": False,
}
GOOD = {
    "cardiac_size": "normal",
    "pulmonary_findings": ["No focal consolidation"],
    "pleural_findings": ["No pleural effusion"],
    "bone_findings": ["No acute fracture"],
    "impression": "No acute cardiopulmonary abnormality.",
}
TEXT = json.dumps(GOOD, indent=2)


def parse(raw: str) -> Findings:
    return parse_findings(raw, CXR_SCHEMA)


def test_plain_json() -> None:
    result = parse(f"  \n{TEXT}\n ")
    assert (result.data, result.valid, result.errors) == (GOOD, True, [])
    assert (result.repaired, result.method, result.normalisations) == (False, "json", [])
    assert findings_summary(result) == "Valid JSON"


@pytest.mark.parametrize(
    "raw",
    [
        f"```json\n{TEXT}\n```",
        f"```\n{TEXT}\n```",
        f"```JSON\n{TEXT}\n```\n",
        f"Here is the report:\n```python\nprint(1)\n```\n```json\n{TEXT}\n```",
        f'```json\n{{"oops": }}\n```\nCorrected:\n```json\n{TEXT}\n```',
    ],
)
def test_fenced(raw: str) -> None:
    result = parse(raw)
    assert (result.data, result.valid, result.method, result.repaired) == (
        GOOD,
        True,
        "fenced",
        True,
    )


@pytest.mark.parametrize(
    "raw",
    [
        f"Here are the findings:\n{TEXT}\nPlease correlate clinically.",
        f"The heart is {{normal}} in size. {TEXT}",
        f'Note the quoted "}}" here. {TEXT} Done.',
        f"{TEXT}\n\n{TEXT}",
    ],
)
def test_embedded(raw: str) -> None:
    result = parse(raw)
    assert (result.data, result.valid, result.method) == (GOOD, True, "embedded")


def test_brace_inside_string_value() -> None:
    data = {**GOOD, "impression": "Heart {not} enlarged; see } and {."}
    result = parse("Report: " + json.dumps(data) + " end")
    assert result.data == data and result.valid


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (TEXT[:-1].rstrip() + ",\n}", "trailing comma removed"),
        (str(GOOD), "single quotes replaced"),
        (TEXT.replace('"No acute fracture"', '"No acute fracture" // checked ribs'), "comments"),
    ],
)
def test_repaired_valid(raw: str, words: str) -> None:
    result = parse(raw)
    assert (result.data, result.valid, result.method, result.repaired) == (
        GOOD,
        True,
        "repaired",
        True,
    )
    assert words in findings_summary(result)


def test_python_literals_converted_then_validated() -> None:
    result = parse(
        "{'cardiac_size': 'normal', 'pulmonary_findings': None, 'pleural_findings': [],"
        " 'bone_findings': [], 'impression': 'x', }"
    )
    assert result.data is not None and result.data["pulmonary_findings"] is None
    assert not result.valid
    assert result.errors == ["$.pulmonary_findings: None is not of type 'array'"]
    assert "Python literals converted" in result.repairs


def test_truncated_is_never_valid_even_if_schema_matches() -> None:
    result = parse(TEXT[: TEXT.rindex('"')])
    assert result.data == GOOD  # only the closing quote and brace are missing
    assert not result.valid and result.errors == [CUT_OFF]


def test_truncated_is_recovered_but_invalid() -> None:
    result = parse(TEXT[: TEXT.index('"bone_findings"') + 22])
    assert result.method == "repaired" and result.repaired
    assert result.data is not None
    assert result.data["cardiac_size"] == "normal"
    assert "impression" not in result.data
    assert not result.valid
    assert "$.impression: required key is missing" in result.errors
    assert "truncated answer closed" in result.repairs
    assert result.errors[0] == CUT_OFF


@pytest.mark.parametrize(
    ("raw", "data"),
    [
        ('{"impression": "Normal", "bone_findings":', {"impression": "Normal"}),
        ('{"impression": "Normal", bone_findings: ', {"impression": "Normal"}),
        (
            '{"impression": "Normal", "bone_findings": ["a"',
            {"impression": "Normal", "bone_findings": ["a"]},
        ),
        ('{"impression": "Impression: ', {"impression": "Impression:"}),  # text is stripped
        ('{"impression": "Normal heart', {"impression": "Normal heart"}),
    ],
)
def test_truncation_never_invents_values(raw: str, data: dict) -> None:
    result = parse(raw)
    assert result.data == data and not result.valid and result.errors[0] == CUT_OFF


def test_normalisations_are_recorded() -> None:
    raw = json.dumps({**GOOD, "cardiac_size": " Enlarged ", "bone_findings": "Old rib fracture"})
    result = parse(raw)
    assert result.valid and not result.repaired
    assert result.data == {
        **GOOD,
        "cardiac_size": "enlarged",
        "bone_findings": ["Old rib fracture"],
    }
    assert result.normalisations == [
        "$.cardiac_size: ' Enlarged ' read as 'enlarged'",
        "$.bone_findings: a single string wrapped in a list",
    ]
    assert findings_summary(result) == "Valid JSON, 2 values normalised"


def test_one_item_list_unwrapped() -> None:
    result = parse(json.dumps([GOOD]))
    assert result.valid and result.data == GOOD
    assert result.normalisations == ["$: unwrapped the object from a one-item list"]


def test_errors_have_json_paths_and_nothing_is_invented() -> None:
    data = {**GOOD, "cardiac_size": "big", "heart_rate": 80, "bone_findings": [1]}
    del data["impression"]
    result = parse(json.dumps(data))
    assert result.data == data  # not filled, not dropped
    assert not result.valid
    assert result.errors == [
        "$.impression: required key is missing",
        "$.heart_rate: unexpected key (not in the template)",
        "$.bone_findings[0]: 1 is not of type 'string'",
        "$.cardiac_size: 'big' is not one of ['normal', 'enlarged']",
    ]
    assert findings_summary(result) == "Invalid: 4 problems"


def test_ambiguous_enum_case_is_not_guessed() -> None:
    schema = {"type": "object", "properties": {"a": {"enum": ["X", "x"]}}}
    result = parse_findings('{"a": " X "}', schema)
    assert not result.valid and result.normalisations == []


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("", "The answer is empty"),
        ("   \n\t", "The answer is empty"),
        ("The chest X-ray shows no acute abnormality.", NO_OBJECT),
        ("The lesion has {irregular} borders.", NO_OBJECT),
        ("42", NO_OBJECT),
        ('"just a string"', NO_OBJECT),
        ("null", NO_OBJECT),
        ("[1, 2, 3]", "$: the answer's JSON is an array, not an object"),
        (json.dumps([GOOD, GOOD]), "$: the answer's JSON is an array, not an object"),
        ("x" * (MAX_INPUT_CHARS + 1), "too long to parse"),
    ],
)
def test_no_object(raw: str, error: str) -> None:
    result = parse(raw)
    assert result.data is None and not result.valid
    assert error in result.errors[0]


def test_no_json_summary() -> None:
    assert findings_summary(parse("No JSON here.")) == "No JSON found"


@pytest.mark.parametrize(
    "raw",
    ["[" * 100_000, "{" * 100_000, '{"a":' * 50_000, "\x00\xff\ufffd{" * 1000, "}{" * 10_000],
)
def test_pathological_inputs_do_not_raise(raw: str) -> None:
    result = parse(raw)
    assert not result.valid and result.errors


def test_deep_nesting_is_refused() -> None:
    raw = '{"impression": ' + "[" * 200 + "]" * 200 + "}"
    result = parse(raw)
    assert result.data is None and "nested more than" in result.errors[0]


def test_non_text_input() -> None:
    assert parse_findings(TEXT.encode(), CXR_SCHEMA).valid  # type: ignore[arg-type]
    result = parse_findings(None, CXR_SCHEMA)  # type: ignore[arg-type]
    assert not result.valid and "not text" in result.errors[0]


def test_invalid_schema_is_reported_not_raised() -> None:
    result = parse_findings(TEXT, {"type": "objekt"})
    assert not result.valid and result.data == GOOD
    assert "schema is invalid" in result.errors[0]


# --- MedGemma 1.5 thinking traces -------------------------------------------------------------

THINKING_SCHEMA = {
    "type": "object",
    "properties": {"impression": {"type": "string"}},
    "required": ["impression"],
    "additionalProperties": False,
}


def test_thinking_text_is_left_out_of_what_is_parsed():
    thought = 'Let me look: {"impression": "a guess while thinking"} hmm.'
    raw = f'<unused94>thought\n{thought}<unused95>{{"impression": "Clear lungs."}}'
    findings = parse_findings(raw, THINKING_SCHEMA)
    assert findings.valid and findings.data == {"impression": "Clear lungs."}
    assert any("thinking" in note for note in findings.normalisations)


def test_an_answer_cut_off_while_thinking_says_so():
    findings = parse_findings('<unused94>thought\nThe heart {"impression"', THINKING_SCHEMA)
    assert not findings.valid and findings.data is None
    assert findings.errors[0].startswith("The answer holds only the model's thinking")


def test_a_bare_list_fills_a_schema_whose_only_property_is_a_list():
    schema = {
        "type": "object",
        "properties": {
            "boxes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "box_2d": {"type": "array", "items": {"type": "number"}},
                        "label": {"type": "string"},
                    },
                    "required": ["box_2d", "label"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["boxes"],
        "additionalProperties": False,
    }
    raw = (
        "The left lung is on the image's right.\n```json\n"
        '[{"box_2d": [100, 520, 800, 900], "label": "left lung"}]\n```\nFinal Answer: above'
    )
    findings = parse_findings(raw, schema)
    assert findings.valid
    assert findings.data == {"boxes": [{"box_2d": [100, 520, 800, 900], "label": "left lung"}]}
