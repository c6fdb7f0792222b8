"""Property tests: parse_findings never raises, never calls invalid data valid, and round-trips
every valid CXR instance wrapped the way models wrap JSON."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from medgemma_ui.findings import Findings, parse_findings
from medgemma_ui.templates import get_template

CXR = get_template("cxr").schema
DERM = get_template("derm").schema
SCHEMAS = {"cxr": CXR, "derm": DERM}
VALIDATORS = {name: Draft202012Validator(schema) for name, schema in SCHEMAS.items()}

PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from([*CXR["properties"], *DERM["properties"], "extra"])
            | st.text(max_size=8),
            children,
            max_size=6,
        )
    ),
    max_leaves=25,
)
near_cxr = st.fixed_dictionaries(
    {},
    optional={
        "cardiac_size": st.sampled_from(["normal", "enlarged", "Normal", " ENLARGED", "big", ""]),
        "pulmonary_findings": st.lists(st.text(max_size=20), max_size=3) | st.text(max_size=20),
        "pleural_findings": st.lists(st.text(max_size=20), max_size=3) | st.none(),
        "bone_findings": st.lists(st.text(max_size=20), max_size=3) | st.integers(),
        "impression": st.text(max_size=40) | st.lists(st.text(max_size=5), max_size=2),
        "extra": json_scalars,
    },
)


def answer_text(value: Any, style: int) -> str:
    text = json.dumps(value, indent=2 if style % 2 else None)
    if style == 2:
        return f"```json\n{text}\n```"
    if style == 3:
        return f"Here are the findings:\n{text}\nDisclaimer."
    if style == 4:
        return text[: len(text) // 2]
    if style == 5:
        return text.replace('"', "'")
    return text


def check_honest(result: Findings, schema_name: str) -> None:
    assert isinstance(result, Findings)
    assert isinstance(result.errors, list) and all(isinstance(e, str) for e in result.errors)
    # parse_findings has a last-resort catch-all; it must never be what handled the input.
    assert not any("could not be parsed (" in e for e in result.errors), result.errors
    if result.valid:
        assert isinstance(result.data, dict) and result.errors == []
        VALIDATORS[schema_name].validate(result.data)
    else:
        assert result.errors
    assert result.data is None or isinstance(result.data, dict)


@PROPERTY_SETTINGS
@given(raw=st.text(max_size=3000), schema_name=st.sampled_from(list(SCHEMAS)))
def test_never_raises_on_any_text(raw: str, schema_name: str) -> None:
    check_honest(parse_findings(raw, SCHEMAS[schema_name]), schema_name)


@PROPERTY_SETTINGS
@given(raw=st.binary(max_size=2000))
def test_never_raises_on_binary_ish_text(raw: bytes) -> None:
    check_honest(parse_findings(raw.decode("latin-1"), CXR), "cxr")


@PROPERTY_SETTINGS
@given(
    value=json_values | near_cxr,
    style=st.integers(0, 5),
    schema_name=st.sampled_from(list(SCHEMAS)),
)
def test_random_json_is_never_called_valid_unless_it_is(
    value: Any, style: int, schema_name: str
) -> None:
    check_honest(parse_findings(answer_text(value, style), SCHEMAS[schema_name]), schema_name)


@PROPERTY_SETTINGS
@given(
    value=near_cxr,
    cut=st.integers(0, 400),
    junk=st.sampled_from(["", ",", "}", "]", "'", '"', "//", "True", "{", "```"]),
)
def test_mangled_near_valid_answers_stay_honest(value: Any, cut: int, junk: str) -> None:
    text = json.dumps(value, indent=2)
    check_honest(parse_findings(text[:cut] + junk + text[cut:], CXR), "cxr")


findings_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
cxr_instances = st.fixed_dictionaries(
    {
        "cardiac_size": st.sampled_from(CXR["properties"]["cardiac_size"]["enum"]),
        "pulmonary_findings": st.lists(findings_text, max_size=4),
        "pleural_findings": st.lists(findings_text, max_size=4),
        "bone_findings": st.lists(findings_text, max_size=4),
        "impression": findings_text,
    }
)
# Prose a model puts around JSON: no braces, backticks or quotes of its own.
prose = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters='{}`"'),
    max_size=60,
)


@PROPERTY_SETTINGS
@given(
    instance=cxr_instances,
    wrapper=st.sampled_from(["plain", "fenced", "bare_fence", "prose"]),
    before=prose,
    after=prose,
    indent=st.sampled_from([None, 2]),
    ascii_only=st.booleans(),
)
def test_valid_instances_round_trip(
    instance: dict[str, Any],
    wrapper: str,
    before: str,
    after: str,
    indent: int | None,
    ascii_only: bool,
) -> None:
    text = json.dumps(instance, indent=indent, ensure_ascii=ascii_only)
    raw = {
        "plain": text,
        "fenced": f"{before}\n```json\n{text}\n```\n{after}",
        "bare_fence": f"```\n{text}\n```",
        "prose": f"{before} {text} {after}",
    }[wrapper]
    result = parse_findings(raw, CXR)
    assert result.data == instance
    assert result.valid and result.errors == [] and result.normalisations == []
    assert result.repaired == (raw.strip() != text.strip())
