"""A corpus of MedGemma-style answers with the parse each must give.

Built deterministically from the hand-written findings in `corpus_bases.py`, one transformation per
failure mode seen from MedGemma 4B, plus hand-written oddities in `ODDITIES`.

Truncated answers (the model ran out of tokens): the expected data is exactly what the text holds
up to the cut, with a cut-off string kept as far as it goes and a dangling key dropped (never given
an invented value). They are always invalid, with the "cut off" error first, even when what was
recovered happens to match the schema.

Run `python -m tests.findings.corpus` for the counts and the parse results per failure type.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from medgemma_ui.findings import CUT_OFF, NO_OBJECT
from tests.findings.corpus_bases import BASES

KINDS = (
    "clean",
    "fenced",
    "prose",
    "trailing_comma",
    "single_quotes",
    "python_literals",
    "comments",
    "truncated",
    "extra_keys",
    "enum_case",
    "string_for_list",
    "no_json",
)


@dataclass(frozen=True)
class Case:
    kind: str
    template: str
    raw: str
    data: dict[str, Any] | None  # exactly the data the parser must return
    valid: bool
    errors: tuple[str, ...] = ()  # substrings, each of which must appear in some error
    method: str | None = None  # the extraction stage expected, when it is certain
    normalised: int = 0  # how many normalisations must be recorded


# --- serialising the way the model does -------------------------------------------------------


@dataclass(frozen=True)
class Style:
    indent: int = 2
    quote: str = '"'
    python: bool = False  # True/False/None instead of true/false/null
    trailing: bool = False  # a comma after the last member of every container
    comments: tuple[str, ...] = ()  # `// ...` after successive top-level members


def dump(value: Any, style: Style, level: int = 0) -> str:
    if isinstance(value, bool):
        return ("True" if value else "False") if style.python else ("true" if value else "false")
    if value is None:
        return "None" if style.python else "null"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        if style.quote == '"':
            return json.dumps(value, ensure_ascii=False)
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, dict):
        members = [f"{dump(k, style)}: {dump(v, style, level + 1)}" for k, v in value.items()]
        return _container("{", "}", members, style, level)
    members = [dump(v, style, level + 1) for v in value]
    return _container("[", "]", members, style, level)


def _container(opening: str, closing: str, members: list[str], style: Style, level: int) -> str:
    if not members:
        return opening + closing
    if style.indent == 0:
        return opening + ", ".join(members) + ("," if style.trailing else "") + closing
    pad = " " * (style.indent * (level + 1))
    lines = []
    for index, member in enumerate(members):
        last = index == len(members) - 1
        line = pad + member + ("" if last and not style.trailing else ",")
        if level == 0 and index < len(style.comments):
            line += f"  // {style.comments[index]}"
        lines.append(line)
    return opening + "\n" + "\n".join(lines) + "\n" + " " * (style.indent * level) + closing


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


# --- words around the JSON -------------------------------------------------------------------

LABELS = {
    "cxr": "chest X-ray",
    "ct": "CT slice",
    "derm": "skin lesion",
    "general": "image",
    "fundus": "fundus photograph",
}
INTROS = (
    "Here is the structured report for the {label}:\n\n",
    "Okay, here's my analysis of the {label} in the requested JSON format:\n\n",
    "Based on the provided {label}, here are the findings:\n",
    "**Findings**\n\n",
    "Sure. I have reviewed the {label} carefully. If a finding is not visible, I state that it "
    "is absent.\n\n",
    "Here's the JSON output:\n",
)
OUTROS = (
    "\n\n**Disclaimer:** This is an AI-generated interpretation and must be reviewed by a "
    "qualified clinician.",
    "\n\nPlease note that I am an AI and cannot provide a definitive diagnosis.",
    "\n\nLet me know if you need anything else!",
    '\n\nNote: the "impression" is preliminary {pending comparison with prior imaging}.',
    "\n\nI hope this helps. Correlate clinically.",
)
COMMENTS = (
    "assessed on the frontal view",
    "no acute changes",
    "it's the most important finding",
    'see "impression"',
    "as visible on this image",
)


def _wrap_prose(text: str, template: str, n: int, before: bool = True, after: bool = True) -> str:
    intro = INTROS[n % len(INTROS)].format(label=LABELS[template]) if before else ""
    outro = OUTROS[n % len(OUTROS)] if after else ""
    return intro + text + outro


# --- transformations per failure type --------------------------------------------------------

EXTRA_KEYS: dict[str, list[tuple[str, Any]]] = {
    "cxr": [
        ("view", "PA"),
        ("confidence", 0.85),
        ("mediastinum", ["Normal mediastinal contour"]),
        ("recommendation", "Clinical correlation recommended."),
    ],
    "ct": [
        ("slice_thickness", "5 mm"),
        ("window", "soft tissue"),
        ("recommendations", ["Follow-up CT in 3 months"]),
        ("confidence", "high"),
    ],
    "derm": [
        ("location", "upper back"),
        ("dermoscopy_features", ["atypical pigment network"]),
        ("confidence", "moderate"),
        ("abcde_score", 3),
    ],
    "general": [
        ("body_part", "as shown"),
        ("recommendation", "Correlate with clinical findings."),
        ("confidence", 0.9),
        ("image_quality", "adequate"),
    ],
    "fundus": [
        ("eye", "right"),
        ("cup_to_disc_ratio", 0.3),
        ("recommendation", "Annual screening."),
        ("image_quality", "good"),
    ],
}


def _clean(template: str, base: dict[str, Any], n: int) -> list[Case]:
    return [
        Case("clean", template, json.dumps(base), base, True, method="json"),
        Case("clean", template, pretty(base) + "\n", base, True, method="json"),
    ]


def _fenced(template: str, base: dict[str, Any], n: int) -> list[Case]:
    return [
        Case("fenced", template, f"```json\n{pretty(base)}\n```", base, True, method="fenced"),
        Case(
            "fenced",
            template,
            _wrap_prose(f"```\n{pretty(base)}\n```", template, n + 1),
            base,
            True,
            method="fenced",
        ),
    ]


def _prose(template: str, base: dict[str, Any], n: int) -> list[Case]:
    return [
        Case("prose", template, _wrap_prose(pretty(base), template, n), base, True),
        Case(
            "prose",
            template,
            _wrap_prose(json.dumps(base), template, n + 2, before=n % 2 == 0),
            base,
            True,
            method="embedded" if n % 2 == 0 else None,
        ),
    ]


def _trailing(template: str, base: dict[str, Any], n: int) -> list[Case]:
    fenced = f"```json\n{dump(base, Style(trailing=True))}\n```"
    return [
        Case(
            "trailing_comma", template, dump(base, Style(trailing=True)), base, True, (), "repaired"
        ),
        Case("trailing_comma", template, fenced, base, True, (), "repaired"),
    ]


def _single(template: str, base: dict[str, Any], n: int) -> list[Case]:
    compact = dump(base, Style(indent=0, quote="'"))
    return [
        Case("single_quotes", template, dump(base, Style(quote="'")), base, True, (), "repaired"),
        Case(
            "single_quotes", template, _wrap_prose(compact, template, n), base, True, (), "repaired"
        ),
    ]


def _python(template: str, base: dict[str, Any], n: int) -> list[Case]:
    if not _has_bool(base):
        return []
    return [
        Case("python_literals", template, str(base), base, True, (), "repaired"),
        Case(
            "python_literals",
            template,
            _wrap_prose(dump(base, Style(python=True)), template, n, after=False),
            base,
            True,
            (),
            "repaired",
        ),
    ]


def _comments(template: str, base: dict[str, Any], n: int) -> list[Case]:
    comments = tuple(COMMENTS[(n + i) % len(COMMENTS)] for i in range(2))
    with_header = "/* MedGemma structured output */\n" + dump(base, Style(comments=comments[:1]))
    return [
        Case(
            "comments", template, dump(base, Style(comments=comments)), base, True, (), "repaired"
        ),
        Case("comments", template, with_header, base, True, (), "repaired"),
    ]


def _truncated(template: str, base: dict[str, Any], n: int) -> list[Case]:
    keys = list(base)
    k = len(keys) // 2 + n % 2
    first = {key: base[key] for key in keys[:k]}
    cases = []
    has_list = any(_is_string_list(base[key]) and base[key] for key in keys)
    for variant in (n % 4, (n + 2) % 4):
        if variant == 3 and not has_list:
            variant = 2
        if variant == 0:  # stopped inside the next key
            partial, raw = first, pretty(first)[:-2] + ',\n  "' + keys[k][: 2 + n % 4]
        elif variant == 1:  # stopped after the next key's colon
            partial, raw = first, pretty(first)[:-2] + f',\n  "{keys[k]}": '
        elif variant == 2:  # stopped inside the last string value
            last = keys[-1]
            words = base[last].split(" ")
            cut = " ".join(words[: max(1, len(words) // 2)])
            raw = pretty({**base, last: cut})[:-3]
            # json_repair reads a comma at the very end of a cut-off string as a separator.
            partial = {**base, last: cut.rstrip(",")}
        else:  # stopped inside a list of strings, after a complete item
            key = next(k for k in keys if _is_string_list(base[k]) and base[k])
            items = base[key][: max(1, len(base[key]) // 2)]
            partial = {**{k: base[k] for k in keys[: keys.index(key)]}, key: items}
            raw = pretty(partial)[: -len("\n  ]\n}")] + ",\n"
        if n % 3 == 0:
            raw = "```json\n" + raw
        cases.append(Case("truncated", template, raw, partial, False, (CUT_OFF,), "repaired"))
    return cases


def _extra(template: str, base: dict[str, Any], n: int) -> list[Case]:
    extras = EXTRA_KEYS[template]
    key, value = extras[n % len(extras)]
    at_end = {**base, key: value}
    key2, value2 = extras[(n + 1) % len(extras)]
    at_start = {key2: value2, **base}
    errors = [f"$.{key2}: unexpected key"]
    if template == "derm":
        at_start["features"] = {**base["features"], "symmetry_axes": 2}
        errors.append("$.features.symmetry_axes: unexpected key")
    if template == "ct" and base["findings"]:
        at_start["findings"] = [{**base["findings"][0], "size_mm": 12}, *base["findings"][1:]]
        errors.append("$.findings[0].size_mm: unexpected key")
    return [
        Case("extra_keys", template, pretty(at_end), at_end, False, (f"$.{key}: unexpected key",)),
        Case(
            "extra_keys",
            template,
            _wrap_prose(pretty(at_start), template, n),
            at_start,
            False,
            tuple(errors),
        ),
    ]


CASE_CHANGES = (
    lambda s: s[:1].upper() + s[1:],
    str.upper,
    str.lower,
    lambda s: f" {s.title()} ",
)


def _enum_case(template: str, base: dict[str, Any], n: int, schema: dict[str, Any]) -> list[Case]:
    paths = _enum_paths(base, schema)
    if not paths:
        return []
    cases = []
    for variant in range(2):
        changed = json.loads(json.dumps(base))
        count = 0
        for index, path in enumerate(paths):
            value = _get(changed, path)
            order = [
                (variant + index + n + j) % len(CASE_CHANGES) for j in range(len(CASE_CHANGES))
            ]
            for choice in order:
                new = CASE_CHANGES[choice](value)
                if new != value:
                    _set(changed, path, new)
                    count += 1
                    break
        raw = pretty(changed) if variant == 0 else f"```json\n{pretty(changed)}\n```"
        method = "json" if variant == 0 else "fenced"
        cases.append(Case("enum_case", template, raw, base, True, (), method, normalised=count))
    return cases


def _string_for_list(
    template: str, base: dict[str, Any], n: int, schema: dict[str, Any]
) -> list[Case]:
    properties = schema["properties"]
    keys = [k for k in base if properties[k].get("items", {}).get("type") == "string"]
    cases = []
    for variant, key in enumerate((keys[n % len(keys)], keys[(n + 1) % len(keys)])):
        items = base[key]
        # An empty list is often written as "None"; several items as one sentence.
        text = "; ".join(items) if items else "None"
        changed = {**base, key: text}
        raw = pretty(changed) if variant == 0 else json.dumps(changed)
        expected = {**base, key: [text]}
        cases.append(Case("string_for_list", template, raw, expected, True, (), "json", 1))
    return cases


REFUSALS = (
    "I am an AI assistant and cannot provide a medical diagnosis. Please consult a qualified "
    "healthcare professional for an interpretation of this image.",
    "I'm sorry, but I cannot determine the findings from this image because it appears to be "
    "of insufficient quality.",
    "The image provided does not appear to be a {label}. Please upload the correct image type.",
)


def _no_json(template: str, base: dict[str, Any], n: int) -> list[Case]:
    lines = [f"* **{_label(k)}:** {_plain(v)}" for k, v in base.items()]
    report = "**Findings:**\n\n" + "\n".join(lines)
    narrative = " ".join(f"{_label(k)}: {_plain(v)}." for k, v in base.items())
    narrative = f"This {LABELS[template]} shows the following. {narrative}"
    if n % 3 == 0:
        narrative = REFUSALS[n % len(REFUSALS)].format(label=LABELS[template])
    return [
        Case(
            "no_json",
            template,
            _wrap_prose(report, template, n, after=n % 2 == 0),
            None,
            False,
            (NO_OBJECT,),
            "none",
        ),
        Case("no_json", template, narrative, None, False, (NO_OBJECT,), "none"),
    ]


# --- helpers -----------------------------------------------------------------------------------


def _has_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, dict):
        return any(_has_bool(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_bool(v) for v in value)
    return False


def _is_string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _enum_paths(
    value: Any, schema: dict[str, Any], path: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    if "enum" in schema and isinstance(value, str):
        return [path]
    found = []
    if isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                found += _enum_paths(value[key], sub, (*path, key))
    return found


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def _label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "; ".join(_plain(v) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{_label(k)} {_plain(v)}" for k, v in value.items())
    return str(value)


# --- hand-written oddities ---------------------------------------------------------------------

_CXR = BASES["cxr"][0]
_CXR_TEXT = pretty(_CXR)
_DERM = BASES["derm"][0]
_CT = BASES["ct"][0]

ODDITIES: list[Case] = [
    # The model echoes the skeleton from the prompt, then answers.
    Case(
        "oddity",
        "cxr",
        '{"cardiac_size": "normal" | "enlarged", "pulmonary_findings": [string]}\n\n' + _CXR_TEXT,
        _CXR,
        True,
        method="embedded",
    ),
    # Gemma chat-template tokens leak into the text.
    Case("oddity", "cxr", f"<start_of_turn>model\n{_CXR_TEXT}<end_of_turn>", _CXR, True),
    Case("oddity", "cxr", f"```jsonc\n{_CXR_TEXT}\n```", _CXR, True, method="fenced"),
    Case("oddity", "cxr", f"```json {json.dumps(_CXR)} ```", _CXR, True),
    Case("oddity", "cxr", f"{_CXR_TEXT}\n```", _CXR, True),
    Case("oddity", "cxr", json.dumps(_CXR, ensure_ascii=True), _CXR, True, method="json"),
    # Two answers: the first object wins.
    Case("oddity", "cxr", f"{_CXR_TEXT}\n\nRevised:\n{pretty(BASES['cxr'][1])}", _CXR, True),
    # Unquoted keys, as in JavaScript.
    Case(
        "oddity",
        "cxr",
        "{" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in _CXR.items()) + "}",
        _CXR,
        True,
        method="repaired",
    ),
    # Not harmless: a trailing period or a qualifier on an enum value is left for the clinician.
    Case(
        "oddity",
        "cxr",
        json.dumps({**_CXR, "cardiac_size": "Normal."}),
        {**_CXR, "cardiac_size": "Normal."},
        False,
        ("$.cardiac_size: 'Normal.' is not one of ['normal', 'enlarged']",),
    ),
    Case(
        "oddity",
        "cxr",
        json.dumps({**_CXR, "cardiac_size": "mildly enlarged"}),
        {**_CXR, "cardiac_size": "mildly enlarged"},
        False,
        ("$.cardiac_size: 'mildly enlarged' is not one of",),
    ),
    # A number given as a string is not coerced.
    Case(
        "oddity",
        "derm",
        json.dumps({**_DERM, "features": {**_DERM["features"], "diameter_mm": "8"}}),
        {**_DERM, "features": {**_DERM["features"], "diameter_mm": "8"}},
        False,
        ("$.features.diameter_mm: '8' is not of type 'number'",),
    ),
    # Python None where a string is required: converted, then reported.
    Case(
        "oddity",
        "derm",
        str({**_DERM, "features": {**_DERM["features"], "evolution": None}}),
        {**_DERM, "features": {**_DERM["features"], "evolution": None}},
        False,
        ("$.features.evolution: None is not of type 'string'",),
        "repaired",
    ),
    # CT findings as plain strings instead of {location, description} objects.
    Case(
        "oddity",
        "ct",
        json.dumps({**_CT, "findings": ["Filling defect in the right main pulmonary artery"]}),
        {**_CT, "findings": ["Filling defect in the right main pulmonary artery"]},
        False,
        ("$.findings[0]: 'Filling defect in the right main pulmonary artery' is not of type",),
    ),
    # Missing keys are reported, never filled in.
    Case(
        "oddity",
        "cxr",
        json.dumps({"cardiac_size": "normal", "impression": "Normal study."}),
        {"cardiac_size": "normal", "impression": "Normal study."},
        False,
        (
            "$.pulmonary_findings: required key is missing",
            "$.bone_findings: required key is missing",
        ),
    ),
    # Truncated inside a nested CT finding object.
    Case(
        "oddity",
        "ct",
        '{\n  "body_region": "chest",\n  "contrast_enhanced": true,\n  "findings": [\n'
        '    {"location": "right main pulmonary artery", "descr',
        {
            "body_region": "chest",
            "contrast_enhanced": True,
            "findings": [{"location": "right main pulmonary artery"}],
        },
        False,
        (CUT_OFF, "$.findings[0].description: required key is missing"),
        "repaired",
    ),
    # Prose, then JSON cut off inside a fence.
    Case(
        "oddity",
        "cxr",
        'Here is the report:\n```json\n{\n  "cardiac_size": "enlarged",\n  "pulmonary_findings": [',
        {"cardiac_size": "enlarged", "pulmonary_findings": []},
        False,
        (CUT_OFF, "$.impression: required key is missing"),
        "repaired",
    ),
    # Only the closing brace is missing: the data is complete but the answer was still cut off.
    Case("oddity", "cxr", _CXR_TEXT[:-1], _CXR, False, (CUT_OFF,), "repaired"),
    # A one-item list around the object.
    Case("oddity", "cxr", f"[{_CXR_TEXT}]", _CXR, True, method="json", normalised=1),
    Case(
        "oddity",
        "cxr",
        f"```json\n[{json.dumps(_CXR)}]\n```",
        _CXR,
        True,
        method="fenced",
        normalised=1,
    ),
    # Arrays and scalars at the top level are not findings.
    Case("oddity", "cxr", json.dumps([_CXR, _CXR]), None, False, ("not an object",)),
    Case("oddity", "cxr", json.dumps(["No acute findings"]), None, False, ("not an object",)),
    Case("oddity", "cxr", '"No acute cardiopulmonary abnormality."', None, False, (NO_OBJECT,)),
    Case("oddity", "cxr", "", None, False, ("The answer is empty",)),
    Case("oddity", "cxr", "```json\n```", None, False, (NO_OBJECT,)),
    Case(
        "oddity",
        "cxr",
        "The heart is {normal} in size; the lungs are clear.",
        None,
        False,
        (NO_OBJECT,),
    ),
    Case("oddity", "derm", "<end_of_turn>", None, False, (NO_OBJECT,)),
    # Unicode and escaped quotes inside values survive unchanged.
    Case(
        "oddity",
        "cxr",
        json.dumps({**_CXR, "impression": 'Cardiothoracic ratio ≈ 0.45; "no acute disease"'}),
        {**_CXR, "impression": 'Cardiothoracic ratio ≈ 0.45; "no acute disease"'},
        True,
        method="json",
    ),
]


# --- the corpus --------------------------------------------------------------------------------


def build_corpus(schemas: dict[str, dict[str, Any]]) -> list[Case]:
    """Every generated case followed by the oddities; `schemas` maps template id -> schema."""
    cases: list[Case] = []
    for template, bases in BASES.items():
        for n, base in enumerate(bases):
            cases += _clean(template, base, n)
            cases += _fenced(template, base, n)
            cases += _prose(template, base, n)
            cases += _trailing(template, base, n)
            cases += _single(template, base, n)
            cases += _python(template, base, n)
            cases += _comments(template, base, n)
            cases += _truncated(template, base, n)
            cases += _extra(template, base, n)
            cases += _enum_case(template, base, n, schemas[template])
            cases += _string_for_list(template, base, n, schemas[template])
            cases += _no_json(template, base, n)
    return cases + ODDITIES


def check(case: Case, schemas: dict[str, dict[str, Any]]) -> list[str]:
    """Problems with the parse of `case` (empty when it parses exactly as expected)."""
    from medgemma_ui.findings import parse_findings

    try:
        result = parse_findings(case.raw, schemas[case.template])
    except Exception as exc:  # the corpus counts exceptions rather than stopping at one
        return [f"raised {type(exc).__name__}: {exc}"]
    problems = []
    if result.data != case.data:
        problems.append(f"data {result.data!r} != expected {case.data!r}")
    if result.valid != case.valid:
        problems.append(f"valid {result.valid} != expected {case.valid}; errors {result.errors}")
    if result.valid and result.errors:
        problems.append(f"valid but errors {result.errors}")
    if not result.valid and not result.errors:
        problems.append("invalid without errors")
    joined = "\n".join(result.errors)
    problems += [f"missing error {e!r} in {result.errors}" for e in case.errors if e not in joined]
    if case.method is not None and result.method != case.method:
        problems.append(f"method {result.method} != expected {case.method}")
    if len(result.normalisations) != case.normalised:
        problems.append(f"normalisations {result.normalisations} (expected {case.normalised})")
    return problems


def _report() -> None:
    from medgemma_ui.findings import parse_findings
    from medgemma_ui.templates import get_template

    schemas = {t: get_template(t).schema for t in BASES}
    corpus = build_corpus(schemas)
    print(
        f"{'failure type':<16} {'cases':>5} {'as expected':>11} {'valid':>6} "
        f"{'invalid+data':>12} {'no data':>7} {'raised':>6}  methods"
    )
    totals: Counter[str] = Counter()
    for kind in (*KINDS, "oddity"):
        cases = [c for c in corpus if c.kind == kind]
        row: Counter[str] = Counter()
        methods: Counter[str] = Counter()
        for case in cases:
            problems = check(case, schemas)
            row["ok"] += not problems
            row["raised"] += any(p.startswith("raised") for p in problems)
            result = parse_findings(case.raw, schemas[case.template])
            row["valid"] += result.valid
            row["invalid+data"] += (not result.valid) and result.data is not None
            row["no data"] += result.data is None
            methods[result.method] += 1
        totals.update(row)
        totals["cases"] += len(cases)
        shown = ", ".join(f"{m} {c}" for m, c in methods.most_common())
        print(
            f"{kind:<16} {len(cases):>5} {row['ok']:>11} {row['valid']:>6} "
            f"{row['invalid+data']:>12} {row['no data']:>7} {row['raised']:>6}  {shown}"
        )
    print(
        f"{'total':<16} {totals['cases']:>5} {totals['ok']:>11} {totals['valid']:>6} "
        f"{totals['invalid+data']:>12} {totals['no data']:>7} {totals['raised']:>6}"
    )


if __name__ == "__main__":
    _report()
