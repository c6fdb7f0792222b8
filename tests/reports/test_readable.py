"""Readable report and plain-word problems: driven by the real template schemas and by the real
`parse_findings` errors, rendered through a real Markdown renderer where escaping matters."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from medgemma_ui.findings import CUT_OFF, NO_OBJECT, parse_findings
from medgemma_ui.reports import (
    escape_markdown,
    humanize,
    invalid_answer_sentence,
    plain_problem,
    report_markdown,
)
from medgemma_ui.templates import get_template, template_ids

CXR = get_template("cxr").schema
CT = get_template("ct").schema
DERM = get_template("derm").schema
SCHEMAS = {template_id: get_template(template_id).schema for template_id in template_ids()}

CXR_ANSWER = {
    "cardiac_size": "enlarged",
    "pulmonary_findings": ["left lower lobe consolidation", "no pneumothorax"],
    "pleural_findings": [],
    "bone_findings": ["no acute fracture"],
    "impression": "Cardiomegaly with left lower lobe pneumonia.",
}

# CommonMark with raw HTML on, plus GFM tables and strikethrough: the most permissive renderer.
MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def render(markdown: str) -> str:
    return MD.render(markdown)


def headings(markdown: str) -> list[str]:
    return [line[4:] for line in markdown.splitlines() if line.startswith("### ")]


def section(markdown: str, title: str) -> str:
    """The body of the section `### title` (up to the next heading)."""
    body = markdown.split(f"### {title}\n", 1)[1]
    return body.split("\n### ", 1)[0].strip()


def example(schema: dict[str, Any]) -> Any:
    """A valid instance of one of the template (sub)schemas."""
    if "enum" in schema:
        return schema["enum"][-1]
    kind = schema["type"]
    if kind == "object":
        return {key: example(sub) for key, sub in schema["properties"].items()}
    if kind == "array":
        return [example(schema["items"])]
    return {"string": "some text", "boolean": True, "number": 4.5, "integer": 3}[kind]


def all_properties(schema: dict[str, Any], where: str = "$"):
    for key, sub in schema.get("properties", {}).items():
        yield f"{where}.{key}", key, sub
        yield from all_properties(sub, f"{where}.{key}")
        if isinstance(sub.get("items"), dict):
            yield from all_properties(sub["items"], f"{where}.{key}[]")


def one_sentence(text: str) -> bool:
    return "\n" not in text and text.endswith(".") and text[:1].isupper() and "$." not in text


# --- report_markdown ---------------------------------------------------------------------------


def test_cxr_report_puts_the_impression_first_then_schema_order() -> None:
    report = report_markdown(CXR_ANSWER, CXR)
    assert headings(report) == [
        "Impression",
        "Cardiac size",
        "Pulmonary findings",
        "Pleural findings",
        "Bone findings",
    ]
    assert section(report, "Impression") == "Cardiomegaly with left lower lobe pneumonia."


def test_impression_found_by_key_or_title_and_moved_first() -> None:
    general = SCHEMAS["general"]
    answer = example(general) | {"clinical_impression": "Normal study."}
    assert headings(report_markdown(answer, general))[0] == "Clinical impression"
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string"},
            "overall": {"type": "string", "title": "Summary of the study"},
        },
    }
    assert headings(report_markdown({"a": "x", "overall": "y"}, schema)) == [
        "Summary of the study",
        "A",
    ]


def test_values_read_as_words() -> None:
    schema = {
        "type": "object",
        "properties": {
            "heart": {"type": "string", "enum": ["normal", "partly_enlarged"]},
            "gradable": {"type": "boolean"},
            "contrast": {"type": "boolean"},
            "size_mm": {"type": "number"},
            "grade": {"type": "string", "enum": ["mild NPDR", "PDR"]},
        },
    }
    report = report_markdown(
        {
            "heart": "partly_enlarged",
            "gradable": True,
            "contrast": False,
            "size_mm": 12.5,
            "grade": "mild NPDR",
        },
        schema,
    )
    assert section(report, "Heart") == "Partly enlarged"
    assert section(report, "Gradable") == "Yes"
    assert section(report, "Contrast") == "No"
    assert section(report, "Size (mm)") == "12.5"
    assert section(report, "Grade") == "Mild NPDR"
    assert section(report_markdown(CXR_ANSWER, CXR), "Cardiac size") == "Enlarged"


def test_lists_are_bullets_and_an_empty_list_is_none_reported() -> None:
    report = report_markdown(CXR_ANSWER, CXR)
    assert section(report, "Pulmonary findings") == (
        "- Left lower lobe consolidation\n- No pneumothorax"
    )
    assert section(report, "Pleural findings") == "None reported"
    html = render(report)
    assert "<li>Left lower lobe consolidation</li>" in html


def test_missing_property_reads_not_given() -> None:
    answer = {key: value for key, value in CXR_ANSWER.items() if key != "bone_findings"}
    report = report_markdown(answer, CXR)
    assert section(report, "Bone findings") == "_Not given_"


def test_nested_objects_are_sub_items() -> None:
    ct_answer = example(CT) | {
        "findings": [{"location": "right upper lobe", "description": "2 cm spiculated nodule"}]
    }
    findings = section(report_markdown(ct_answer, CT), "Findings")
    assert findings == ("- **Location:** Right upper lobe; **Description:** 2 cm spiculated nodule")
    derm = example(DERM) | {"features": {"asymmetry": False, "border": "irregular"}}
    features = section(report_markdown(derm, DERM), "Features")
    assert features.splitlines() == ["- **Asymmetry:** No", "- **Border:** Irregular"]


def test_keys_not_in_the_schema_come_last() -> None:
    answer = {"comment": "also an old rib fracture", **CXR_ANSWER}
    report = report_markdown(answer, CXR)
    assert headings(report)[-1] == "Comment (not in the template)"
    assert section(report, "Comment (not in the template)") == "Also an old rib fracture"


@pytest.mark.parametrize(
    "hostile",
    [
        "<img src=x onerror=alert(1)>",
        "<script>alert(1)</script>",
        "[click](http://evil.example)",
        "![x](http://evil.example/x.png)",
        "<http://evil.example>",
        "see http://evil.example/now or www.evil.example",
        "# Heading",
        "ok\n# injected heading\n<b>x</b>",
        "a | b\n---|---\nc | d",
        "***bold*** and `code` and _em_ and ~~gone~~",
        "---",
        "1. first",
        "> quoted",
    ],
)
def test_model_text_cannot_inject_markup(hostile: str) -> None:
    answer = CXR_ANSWER | {"impression": hostile, "pulmonary_findings": [hostile], hostile: hostile}
    report = report_markdown(answer, CXR)
    html = render(report)
    for tag in (
        "<img",
        "<script",
        "<a ",
        "<b>",
        "<h1",
        "<h2",
        "<table",
        "<strong>",
        "<em>",
        "<code",
        "<del",
        "<s>",
        "<hr",
        "<ol",
        "<blockquote",
    ):
        assert tag not in html
    assert "\n# " not in report
    assert "://" not in report.replace("\\://", "")  # no bare URL a GFM renderer would link
    for word in re.findall(r"[A-Za-z]{3,}", hostile):  # the words survive, as text
        assert word.lower() in html.lower()


def test_escaping_keeps_text_readable() -> None:
    html = render(escape_markdown("<img src=x> [click](http://evil)"))
    assert "&lt;img src=x&gt; [click](http://evil)" in html


def test_every_template_renders_a_valid_example() -> None:
    for template_id, schema in SCHEMAS.items():
        answer = example(schema)
        assert parse_findings(json.dumps(answer), schema).valid, template_id
        report = report_markdown(answer, schema)
        titles = headings(report)
        assert len(titles) == len(schema["properties"]), template_id
        assert "Not given" not in report and "not in the template" not in report
        assert render(report)


@pytest.mark.parametrize("template_id", template_ids())
def test_every_property_has_a_title_and_a_plain_description(template_id: str) -> None:
    for where, key, sub in all_properties(SCHEMAS[template_id]):
        title = sub.get("title") or humanize(key)
        assert title.strip() and "_" not in title, where
        description = sub.get("description")
        assert isinstance(description, str), f"{where} has no description"
        assert description.split(" ", 1)[0] in {"which", "what", "whether", "how", "where"}, where


def test_schema_title_wins_over_the_key() -> None:
    schema = {"type": "object", "properties": {"cs": {"type": "string", "title": "Heart size"}}}
    assert headings(report_markdown({"cs": "normal"}, schema)) == ["Heart size"]


def test_none_and_odd_data_never_raise() -> None:
    assert report_markdown(None, CXR) == ""
    assert report_markdown("not a dict", CXR) == ""  # type: ignore[arg-type]
    odd = {
        "cardiac_size": ["normal"],
        "pulmonary_findings": "one string",
        "pleural_findings": {"left": None},
        "bone_findings": [None, 3, [], {}, [1, [2]]],
        "impression": None,
    }
    report = report_markdown(odd, CXR)
    assert section(report, "Pulmonary findings") == "One string"
    assert section(report, "Impression") == "Not given"
    assert report_markdown({"impression": "x"}, {"properties": "nonsense"})  # broken schema
    assert report_markdown({"impression": "x"}, None)  # type: ignore[arg-type]


def test_deep_nesting_is_capped() -> None:
    deep: Any = "bottom"
    for _ in range(2000):
        deep = {"inner": [deep]}
    report = report_markdown({"impression": "x", "extra": deep}, CXR)
    assert "nested too deep to show" in report
    assert "bottom" not in report
    assert len(report) < 5000


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.dictionaries(
        st.sampled_from([*CXR["properties"], "other"]) | st.text(), json_values, max_size=7
    )
)
def test_any_json_renders_without_raw_html(data: dict[str, Any]) -> None:
    report = report_markdown(data, CXR)
    html = render(report)
    assert "<img" not in html and "<a " not in html and "<script" not in html
    assert not any(line.startswith("# ") for line in report.splitlines())


# --- plain_problem, on errors made by the real parser --------------------------------------------


def problems(raw: str, schema: dict[str, Any]) -> dict[str, str]:
    """error -> plain sentence, for every error parse_findings reports on `raw`."""
    findings = parse_findings(raw, schema)
    assert not findings.valid
    return {error: plain_problem(error, schema) for error in findings.errors}


def test_missing_key_uses_the_description() -> None:
    ct = example(CT)
    del ct["body_region"]
    found = problems(json.dumps(ct), CT)
    assert found == {
        "$.body_region: required key is missing": (
            "The model did not say which body region the slice shows."
        )
    }


def test_missing_key_without_description_uses_the_title() -> None:
    schema = {
        "type": "object",
        "properties": {"heart_size": {"type": "string", "title": "Cardiac silhouette"}},
        "required": ["heart_size"],
    }
    assert list(problems("{}", schema).values()) == [
        "The model did not give the cardiac silhouette."
    ]


def test_unexpected_key() -> None:
    found = problems(json.dumps(CXR_ANSWER | {"heart_rate": 80}), CXR)
    assert list(found.values()) == [
        "The model added a field the template does not have: heart\\_rate."
    ]
    error = next(iter(found))
    assert plain_problem(error, CXR, markdown=False) == (
        "The model added a field the template does not have: heart_rate."
    )
    assert render(plain_problem(error, CXR)).strip() == (
        "<p>The model added a field the template does not have: heart_rate.</p>"
    )


@pytest.mark.parametrize(
    "answer",
    [
        {"<img src=x onerror=alert(1)>": 1},
        {"cardiac_size": "[click](http://evil.example) <b>x</b>"},
        {"pulmonary_findings": "# not a list"},
    ],
)
def test_model_text_in_a_problem_cannot_inject_markup(answer: dict[str, Any]) -> None:
    for error in parse_findings(json.dumps(CXR_ANSWER | answer), CXR).errors:
        html = render(plain_problem(error, CXR))
        for tag in ("<img", "<a ", "<b>", "<h1"):
            assert tag not in html


def test_enum_value() -> None:
    found = problems(json.dumps(CXR_ANSWER | {"cardiac_size": "huge"}), CXR)
    assert list(found.values()) == [
        'Cardiac size: the model answered "huge", which is not one of: normal, enlarged.'
    ]


def test_type_errors() -> None:
    found = problems(json.dumps(CXR_ANSWER | {"pulmonary_findings": 5, "impression": []}), CXR)
    assert sorted(found.values()) == [
        "Impression should be text, but the model gave a list.",
        "Pulmonary findings should be a list, but the model gave the number 5.",
    ]


def test_list_items_read_as_item_numbers() -> None:
    found = problems(json.dumps(CXR_ANSWER | {"bone_findings": ["ok", 7]}), CXR)
    assert list(found.values()) == [
        "Bone findings, item 2 should be text, but the model gave the number 7."
    ]
    ct = example(CT) | {"findings": [{"location": "liver"}]}
    found = problems(json.dumps(ct), CT)
    assert list(found.values()) == [
        "Findings, item 1: the model did not say what the finding looks like."
    ]


def test_nested_object_problems() -> None:
    derm = example(DERM)
    derm["features"] |= {"border": "wavy", "diameter_mm": "6 mm", "size": 1}
    found = sorted(problems(json.dumps(derm), DERM).values())
    assert found == [
        'Features, border: the model answered "wavy", which is not one of: regular, irregular.',
        'Features, diameter (mm) should be a number, but the model gave the text "6 mm".',
        "The model added a field the template does not have: size (in features).",
    ]


def test_every_real_problem_is_one_plain_sentence() -> None:
    raws = [
        "I can see a normal chest.",
        "",
        "[1, 2]",
        '{"cardiac_size": "normal", "pulmonary_findings": ["a',
        json.dumps({"cardiac_size": None, "x": {"y": 1}, "impression": {"a": [1]}}),
        json.dumps({f"k{i}": i for i in range(80)}),
    ]
    seen = 0
    for raw in raws:
        for error in parse_findings(raw, CXR).errors:
            sentence = plain_problem(error, CXR)
            assert one_sentence(sentence), (error, sentence)
            seen += 1
    assert seen > 50
    assert plain_problem(CUT_OFF, CXR).startswith("The answer stops mid-way")
    assert plain_problem(NO_OBJECT, CXR) == "The answer contains no JSON object, only prose."
    assert plain_problem("... and 7 more problems", CXR) == "There are 7 more problems, not listed."


def test_unknown_message_falls_back_without_path_jargon() -> None:
    sentence = plain_problem("$.pulmonary_findings[2]: [] should be non-empty", CXR, markdown=False)
    assert sentence == "Pulmonary findings, item 3: [] should be non-empty."
    assert plain_problem("$: the answer's JSON is a string, not an object", CXR) == (
        "The answer's JSON is a string, not an object."
    )
    assert one_sentence(plain_problem("$.[broken path: boom", CXR))


def test_model_text_in_a_problem_is_one_line_and_short() -> None:
    value = "huge\n\n" + "x" * 500
    error = parse_findings(json.dumps(CXR_ANSWER | {"cardiac_size": value}), CXR).errors[0]
    sentence = plain_problem(error, CXR)
    assert one_sentence(sentence) and len(sentence) < 200
    assert sentence.startswith('Cardiac size: the model answered "huge xxx')
    assert sentence.endswith('…", which is not one of: normal, enlarged.')


# --- invalid_answer_sentence ------------------------------------------------------------------


def sentence_for(raw: str, finish_reason: str | None = "stop", max_tokens: int = 512) -> str:
    findings = parse_findings(raw, CXR)
    assert not findings.valid
    return invalid_answer_sentence(
        has_data=findings.data is not None,
        errors=findings.errors,
        finish_reason=finish_reason,
        max_tokens=max_tokens,
        schema=CXR,
    )


def test_prose_answer() -> None:
    sentence = sentence_for("The heart is normal in size and the lungs are clear.")
    assert sentence.startswith("The model answered in prose, not JSON")
    assert "Constrain the answer to the template JSON schema" in sentence
    assert one_sentence(sentence)


def test_cut_off_by_finish_reason() -> None:
    sentence = sentence_for("The heart is normal in size and the", finish_reason="length")
    assert sentence == (
        "The answer was cut off at the 512-token limit; raise Max tokens and analyze again."
    )


def test_cut_off_seen_in_a_truncated_json_parse() -> None:
    raw = '{"cardiac_size": "normal", "pulmonary_findings": ["clear lu'
    assert CUT_OFF in parse_findings(raw, CXR).errors
    sentence = sentence_for(raw, finish_reason=None, max_tokens=256)
    assert sentence == (
        "The answer was cut off at the 256-token limit; raise Max tokens and analyze again."
    )


def test_wrong_fields() -> None:
    raw = json.dumps(CXR_ANSWER | {"cardiac_size": "huge", "extra": 1})
    sentence = sentence_for(raw)
    assert sentence == (
        "The answer did not match the template's fields (2 problems, listed below); "
        "analyze again or correct the findings by hand."
    )
    findings = parse_findings(json.dumps({"impression": "x"}), CXR)
    labelled = invalid_answer_sentence(
        has_data=True,
        errors=findings.errors,
        finish_reason="stop",
        max_tokens=512,
        schema=CXR,
        template_label="Chest X-ray",
    )
    assert labelled.startswith("The answer did not match the Chest X-ray template's fields (4 ")
    assert one_sentence(labelled)


def test_many_problems_are_counted_past_the_cap() -> None:
    findings = parse_findings(json.dumps({f"k{i}": i for i in range(80)}), CXR)
    assert findings.errors[-1].startswith("... and ")
    sentence = invalid_answer_sentence(
        has_data=True, errors=findings.errors, finish_reason="stop", max_tokens=512, schema=CXR
    )
    assert "(85 problems, listed below)" in sentence


def test_other_unreadable_answers() -> None:
    assert sentence_for("   ") == (
        "The model returned an empty answer, so no findings could be read; analyze again."
    )
    sentence = sentence_for("[1, 2]")
    assert sentence == (
        "No findings could be read from the answer (the answer's JSON is an array, not an "
        "object); analyze again."
    )


@pytest.mark.parametrize("finish_reason", [None, "stop", "length"])
@pytest.mark.parametrize(
    "raw",
    ["prose only", "", "[1]", '{"cardiac_size": "big"}', '{"cardiac_size": "normal", "pul'],
)
def test_always_one_sentence(raw: str, finish_reason: str | None) -> None:
    assert one_sentence(sentence_for(raw, finish_reason=finish_reason))
