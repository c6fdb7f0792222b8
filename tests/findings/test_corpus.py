"""The corpus of MedGemma-style answers parses exactly as expected (see corpus.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import jsonschema
import pytest
from jsonschema import Draft202012Validator

from medgemma_ui.findings import TRUNCATED, parse_findings
from medgemma_ui.templates import get_template
from tests.findings.corpus import KINDS, ODDITIES, Case, build_corpus, check
from tests.findings.corpus_bases import BASES
from tests.findings.summary import findings_summary

SCHEMAS: dict[str, dict[str, Any]] = {t: get_template(t).schema for t in BASES}
VALIDATORS = {t: Draft202012Validator(s) for t, s in SCHEMAS.items()}
CORPUS: list[Case] = build_corpus(SCHEMAS)

REPAIR_WORDS = {
    "trailing_comma": "trailing comma removed",
    "single_quotes": "single quotes replaced",
    "python_literals": "Python literals converted",
    "comments": "comments removed",
    "truncated": TRUNCATED,
}


def test_bases_are_realistic_and_valid() -> None:
    assert len(BASES) >= 4
    for template, bases in BASES.items():
        assert len(bases) >= 10, template
        assert len({repr(b) for b in bases}) == len(bases), f"duplicate base in {template}"
        for base in bases:
            jsonschema.validate(base, SCHEMAS[template])


def test_at_least_60_distinct_answers_per_failure_type() -> None:
    counts = Counter(case.kind for case in CORPUS)
    distinct = Counter(kind for kind, _ in {(case.kind, case.raw) for case in CORPUS})
    print("\ncorpus size per failure type:", dict(counts))
    for kind in KINDS:
        assert distinct[kind] >= 60, (kind, distinct[kind])
        assert len({c.template for c in CORPUS if c.kind == kind}) >= 3, kind
    assert counts["oddity"] == len(ODDITIES) >= 20


@pytest.mark.parametrize("kind", [*KINDS, "oddity"])
def test_corpus_parses_as_expected(kind: str) -> None:
    cases = [case for case in CORPUS if case.kind == kind]
    failures = []
    for case in cases:
        problems = check(case, SCHEMAS)
        if problems:
            failures.append(f"{case.template} {case.raw[:80]!r}: {problems}")
    assert not failures, f"{len(failures)}/{len(cases)} failed:\n" + "\n".join(failures[:10])


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "no_json"])
def test_valid_only_when_schema_matches(kind: str) -> None:
    for case in (c for c in CORPUS if c.kind == kind):
        result = parse_findings(case.raw, SCHEMAS[case.template])
        if result.valid:
            VALIDATORS[case.template].validate(result.data)
        else:
            assert result.errors
            assert findings_summary(result).startswith("Invalid")


@pytest.mark.parametrize(("kind", "words"), REPAIR_WORDS.items())
def test_repairs_are_named(kind: str, words: str) -> None:
    for case in (c for c in CORPUS if c.kind == kind):
        result = parse_findings(case.raw, SCHEMAS[case.template])
        assert result.repaired
        assert words in result.repairs, (case.raw[:120], result.repairs)
        if result.valid:
            assert findings_summary(result).startswith("Valid after repair (")
            assert words in findings_summary(result)


def test_clean_answers_are_not_marked_repaired() -> None:
    for case in (c for c in CORPUS if c.kind in ("clean", "extra_keys", "string_for_list")):
        result = parse_findings(case.raw, SCHEMAS[case.template])
        assert result.repaired == (result.method != "json")
        assert result.repairs == []
