"""Parsed findings and their problems, in words a clinician reads (pure logic, no Gradio).

Everything is driven by the template's JSON Schema:

- a property's section title is its `title`, else its key in words (`pulmonary_findings` ->
  "Pulmonary findings", `diameter_mm` -> "Diameter (mm)");
- a property's `description`, when it is a clause such as "which body region the slice shows",
  completes "The model did not say ..." for a missing key.

All three public functions return Markdown-safe text: model text in them is escaped, so an answer
cannot inject HTML, links, headings or tables into the page (`plain_problem(..., markdown=False)`
gives the unescaped sentence for plain-text places such as logs).
"""

from __future__ import annotations

import ast
import json
import re
import unicodedata
from typing import Any

from medgemma_ui.findings import CUT_OFF, NO_OBJECT

MAX_DEPTH = 6  # deeper nesting is summarised, not rendered
MAX_ITEMS = 100  # per list or object
MAX_VALUE_CHARS = 2000
_MAX_QUOTED_CHARS = 80  # model text quoted inside a problem sentence
_MAX_FALLBACK_CHARS = 160

NONE_REPORTED = "None reported"
NOT_GIVEN = "Not given"
CONSTRAIN_LABEL = "Constrain the answer to the template JSON schema"

_IMPRESSION_WORDS = ("impression", "summary")
_UNITS = {"mm", "cm", "ml", "mg", "kg", "hu", "ms", "pct"}
_CLAUSE_START = ("which ", "what ", "whether ", "how ", "where ", "when ")
_TYPE_WORDS = {
    "string": "text",
    "array": "a list",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "yes or no (true or false)",
    "object": "a set of named fields",
    "null": "empty (null)",
}
_SNAKE = re.compile(r"[a-z0-9]+(?:[_-][a-z0-9]+)+")
_BIDI = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~$&!])")
_PATH_TOKEN = re.compile(r'\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')
_ENUM_MESSAGE = re.compile(r"(?P<value>.*) is not one of (?P<options>\[.*\])", re.DOTALL)
_TYPE_MESSAGE = re.compile(r"(?P<value>.*) is not of type (?P<types>'\w+'(?:, '\w+')*)", re.DOTALL)
_MORE_PROBLEMS = re.compile(r"\.\.\. and (\d+) more problems")


# --- text helpers ----------------------------------------------------------------------------


def escape_markdown(text: str) -> str:
    """`text` on one line, with everything Markdown or HTML could act on escaped."""
    text = _one_line(text)
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = text.replace("://", r"\://").replace("www.", r"www\.")  # no bare-URL autolinks
    if text[:1] in {"-", "+", "=", "."}:  # list items, setext underlines, thematic breaks
        text = "\\" + text
    return re.sub(r"^(\d+)([.)])(?=\s|$)", r"\1\\\2", text)  # ordered list markers


def _one_line(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """Whitespace collapsed, control and direction-override characters dropped, length capped."""
    text = _BIDI.sub("", text)
    text = "".join(c for c in text if c.isspace() or unicodedata.category(c) != "Cc")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def humanize(key: str) -> str:
    """`pulmonary_findings` -> "Pulmonary findings", `diameter_mm` -> "Diameter (mm)"."""
    words = _one_line(str(key).replace("_", " ").replace("-", " "), 120).split(" ")
    if not any(words):
        return _one_line(str(key), 120) or "(unnamed)"
    unit = ""
    if len(words) > 1 and words[-1].lower() in _UNITS:
        unit = f" ({words.pop().lower()})"
    return _capitalise(" ".join(words)) + unit


def _capitalise(text: str) -> str:
    """First letter upper-case, unless the first word already has capitals ("mRNA", "T2")."""
    first = text.split(" ", 1)[0]
    return text[:1].upper() + text[1:] if first.islower() else text


def _lower_title(title: str) -> str:
    """Lower-case the first letter ("Body region" -> "body region"); "MRI sequence" stays."""
    if len(title) > 1 and title[1].isupper():
        return title
    return title[:1].lower() + title[1:]


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _properties(schema: Any) -> dict[str, Any]:
    properties = _as_dict(schema).get("properties")
    return properties if isinstance(properties, dict) else {}


def _items(schema: Any) -> dict[str, Any]:
    return _as_dict(_as_dict(schema).get("items"))


def field_title(key: str, schema: Any) -> str:
    """The section title of property `key` whose subschema is `schema`."""
    title = _as_dict(schema).get("title")
    if isinstance(title, str) and title.strip():
        return _one_line(title, 120)
    return humanize(key)


def _is_impression(key: str, schema: Any) -> bool:
    title = _as_dict(schema).get("title")
    words = f"{key} {title if isinstance(title, str) else ''}".lower()
    return any(word in words for word in _IMPRESSION_WORDS)


# --- the report ------------------------------------------------------------------------------


def value_words(value: Any, schema: Any = None) -> str:
    """One value as (unescaped) words: enums and snake_case tokens spelled out, Yes/No, numbers."""
    if value is None:
        return NOT_GIVEN
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        text = _one_line(value)
        if not text:
            return NOT_GIVEN
        enum = _as_dict(schema).get("enum")
        if (isinstance(enum, list) and value in enum) or _SNAKE.fullmatch(text):
            text = text.replace("_", " ")
        return _capitalise(text)
    return _one_line(json.dumps(value, ensure_ascii=False, default=str))


def _scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _ordered_keys(data: dict[Any, Any], schema: Any) -> list[tuple[Any, Any, bool]]:
    """(key, subschema, in the schema) for the schema's keys present in `data`, then the rest."""
    properties = _properties(schema)
    known = [(key, sub, True) for key, sub in properties.items() if key in data]
    extra = [(key, None, False) for key in data if key not in properties]
    return known + extra


def _label(key: Any, schema: Any, in_schema: bool) -> str:
    title = field_title(str(key), schema)
    return escape_markdown(title if in_schema else f"{title} (not in the template)")


def _lines(value: Any, schema: Any, depth: int) -> list[str]:
    """Markdown lines for a list or object value (bullets, two-space indented per level)."""
    if depth >= MAX_DEPTH:
        return ["- (nested too deep to show)"]
    out: list[str] = []
    if isinstance(value, list):
        if not value:
            return [f"- {NONE_REPORTED}"]
        items = _items(schema)
        for item in value[:MAX_ITEMS]:
            if _scalar(item):
                out.append(f"- {escape_markdown(value_words(item, items))}")
            elif isinstance(item, dict) and item and all(_scalar(v) for v in item.values()):
                out.append(f"- {_inline(item, items)}")
            else:
                out.append("- Item" if isinstance(item, dict) else "- List")
                out.extend("  " + line for line in _lines(item, items, depth + 1))
        if len(value) > MAX_ITEMS:
            out.append(f"- … and {len(value) - MAX_ITEMS} more")
        return out
    if isinstance(value, dict):
        if not value:
            return [f"- {NONE_REPORTED}"]
        for key, sub, known in _ordered_keys(value, schema)[:MAX_ITEMS]:
            item = value[key]
            label = _label(key, sub, known)
            if _scalar(item) or (isinstance(item, list) and not item):
                out.append(f"- **{label}:** {escape_markdown(_words_or_none(item, sub))}")
            else:
                out.append(f"- **{label}:**")
                out.extend("  " + line for line in _lines(item, sub, depth + 1))
        if len(value) > MAX_ITEMS:
            out.append(f"- … and {len(value) - MAX_ITEMS} more")
        return out
    return [escape_markdown(value_words(value, schema))]


def _words_or_none(value: Any, schema: Any) -> str:
    return NONE_REPORTED if value == [] else value_words(value, schema)


def _inline(item: dict[Any, Any], schema: Any) -> str:
    """A small object of scalars on one bullet: "**Location:** RUL; **Description:** nodule"."""
    return "; ".join(
        f"**{_label(key, sub, known)}:** {escape_markdown(value_words(item[key], sub))}"
        for key, sub, known in _ordered_keys(item, schema)
    )


def _section(title: str, value: Any, schema: Any, present: bool) -> str:
    if not present:
        body = f"_{NOT_GIVEN}_"
    elif _scalar(value):
        body = escape_markdown(value_words(value, schema))
    elif isinstance(value, list) and not value:
        body = NONE_REPORTED
    else:
        body = "\n".join(_lines(value, schema, 1))
    return f"### {escape_markdown(title)}\n\n{body}"


def report_markdown(parsed: dict[str, Any] | None, schema: dict[str, Any]) -> str:
    """The findings as a Markdown report: the impression first, then one section per property.

    Sections follow the schema's order and titles; a property missing from `parsed` reads
    "Not given", an empty list "None reported"; keys the template does not have come last,
    marked "(not in the template)". All model text is escaped. Never raises; "" for None.
    """
    if not isinstance(parsed, dict):
        return ""
    try:
        properties = _properties(schema)
        sections: list[tuple[bool, str]] = []  # (is the impression, markdown)
        for key, sub in properties.items():
            title = field_title(key, sub)
            sections.append(
                (_is_impression(key, sub), _section(title, parsed.get(key), sub, key in parsed))
            )
        extra = [key for key in parsed if key not in properties]
        for key in extra[:MAX_ITEMS]:
            title = f"{humanize(str(key))} (not in the template)"
            sections.append(
                (_is_impression(str(key), None), _section(title, parsed[key], None, True))
            )
        if len(extra) > MAX_ITEMS:
            sections.append((False, f"… and {len(extra) - MAX_ITEMS} more fields not shown"))
        sections.sort(key=lambda section: not section[0])  # stable: the impression(s) first
        return "\n\n".join(markdown for _, markdown in sections) + "\n"
    except Exception:  # odd data must never take the page down; show the raw JSON instead
        return (
            f"Findings could not be laid out as a report: {escape_markdown(value_words(parsed))}\n"
        )


# --- problems in plain words -----------------------------------------------------------------


def _parse_path(error: str) -> tuple[list[str | int], str] | None:
    """`$.a[0]["b c"]: message` -> (["a", 0, "b c"], "message"); None if not in that form."""
    if not error.startswith("$"):
        return None
    parts: list[str | int] = []
    position = 1
    while True:
        match = _PATH_TOKEN.match(error, position)
        if match is None:
            break
        key, index, quoted = match.groups()
        if key is not None:
            parts.append(key)
        elif index is not None:
            parts.append(int(index))
        else:
            try:
                parts.append(str(json.loads(quoted)))
            except ValueError:
                return None
        position = match.end()
    if not error.startswith(": ", position):
        return None
    return parts, error[position + 2 :]


def _walk(parts: list[str | int], schema: Any) -> tuple[str, Any]:
    """The plain name of a path ("Findings, item 1, location") and the subschema it reaches."""
    names: list[str] = []
    node: Any = schema
    for part in parts:
        if isinstance(part, int):
            names.append(f"item {part + 1}")
            node = _items(node)
        else:
            node = _properties(node).get(part)
            title = field_title(part, node)
            names.append(title if not names else _lower_title(title))
    return ", ".join(names), node


def _quote(value: Any) -> str:
    if isinstance(value, str):
        return f'"{_one_line(value, _MAX_QUOTED_CHARS)}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return _one_line(str(value), _MAX_QUOTED_CHARS)


def _literal(text: str) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None


def _kind_of(repr_text: str) -> str:
    """What the model gave, from the Python repr jsonschema put in its message."""
    ok, value = _literal(repr_text)
    text = repr_text.strip()
    if (ok and isinstance(value, str)) or text[:1] in {"'", '"'}:
        return f"the text {_quote(value)}" if ok else "text"
    if (ok and isinstance(value, list)) or text.startswith("["):
        return "a list"
    if (ok and isinstance(value, dict)) or text.startswith("{"):
        return "a set of named fields"
    if ok and isinstance(value, bool):
        return f"the value {_quote(value)}"
    if ok and value is None:
        return "null (nothing)"
    if ok and isinstance(value, int | float):
        return f"the number {value}"
    return "something else"


def _sentence(text: str) -> str:
    text = _one_line(text, 400)
    if not text:
        return "The answer has a problem."
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def plain_problem(error: str, schema: dict[str, Any], *, markdown: bool = True) -> str:
    """One problem from `parse_findings` as one plain sentence, named by the schema's titles.

    `$.body_region: required key is missing` -> "The model did not say which body region the
    slice shows." (from the property's description), or "The model did not give the body
    region."; `$.pulmonary_findings[0]: ...` speaks of "Pulmonary findings, item 1". The
    sentence may quote model text, so it is Markdown-escaped unless `markdown` is False.
    """
    try:
        text = _plain_problem(str(error), schema)
    except Exception:
        text = _sentence(_strip_path(str(error)))
    return escape_markdown(text) if markdown else text


def _plain_problem(error: str, schema: dict[str, Any]) -> str:
    error = error.strip()
    if error == NO_OBJECT:
        return "The answer contains no JSON object, only prose."
    if error == CUT_OFF:
        return (
            "The answer stops mid-way (cut off, for example out of tokens), so what was "
            "recovered may be incomplete."
        )
    more = _MORE_PROBLEMS.fullmatch(error)
    if more:
        return f"There are {more.group(1)} more problems, not listed."
    parsed = _parse_path(error)
    if parsed is None:
        return _sentence(_strip_path(error))
    parts, message = parsed
    if not parts:
        return _sentence(message)
    where, node = _walk(parts, schema)
    if message == "required key is missing":
        return _missing(parts, schema)
    if message == "unexpected key (not in the template)":
        key = _one_line(str(parts[-1]), _MAX_QUOTED_CHARS)
        parent = _walk(parts[:-1], schema)[0]
        inside = f" (in {_lower_title(parent)})" if parent else ""
        return f"The model added a field the template does not have: {key}{inside}."
    enum = _ENUM_MESSAGE.fullmatch(message)
    if enum:
        ok, value = _literal(enum.group("value"))
        answered = _quote(value) if ok else "something else"
        listed = _options(node, enum.group("options"))
        return f"{where}: the model answered {answered}, which is not one of: {listed}."
    cut = _cut_enum_answer(message, node)
    if cut is not None:
        return f"{where}: the model answered {cut}, which is not one of: {_options(node)}."
    kind = _TYPE_MESSAGE.fullmatch(message)
    if kind:
        types = re.findall(r"'(\w+)'", kind.group("types"))
        wanted = " or ".join(_TYPE_WORDS.get(t, t) for t in types)
        return f"{where} should be {wanted}, but the model gave {_kind_of(kind.group('value'))}."
    return _sentence(f"{where}: {_one_line(message, _MAX_FALLBACK_CHARS)}")


def _strip_path(error: str) -> str:
    """The message without a leading `$...:` path, for errors that are not in the usual form."""
    return re.sub(r"^\$[^:]*:\s*", "", error) if error.startswith("$") else error


def _options(node: Any, message_list: str = "[]") -> str:
    """The allowed values, from the schema (or else from jsonschema's message), comma-separated."""
    options = _as_dict(node).get("enum")
    if not isinstance(options, list):
        ok, options = _literal(message_list)
        options = options if ok and isinstance(options, list) else []
    return ", ".join(_one_line(str(o), _MAX_QUOTED_CHARS) for o in options)


def _cut_enum_answer(message: str, node: Any) -> str | None:
    """The quoted start of a long text answer to an enum, when findings.py cut the message short
    (the string is the only value an enum of strings can reject with a message starting `'`)."""
    if not isinstance(_as_dict(node).get("enum"), list) or not message.endswith("..."):
        return None
    if message[:1] not in {"'", '"'}:
        return None
    start = re.sub(r"\\[ntr]", " ", message[1:-3])
    return f'"{_one_line(start, _MAX_QUOTED_CHARS).rstrip("…")}…"'


def _missing(parts: list[str | int], schema: dict[str, Any]) -> str:
    parent, parent_schema = _walk(parts[:-1], schema)
    key = str(parts[-1])
    sub = _properties(parent_schema).get(key)
    description = _as_dict(sub).get("description")
    if isinstance(description, str) and description.strip().lower().startswith(_CLAUSE_START):
        what = f"say {_one_line(description, 200).rstrip('.')}"
    else:
        what = f"give the {_lower_title(field_title(key, sub))}"
    if parent:
        return f"{parent}: the model did not {what}."
    return f"The model did not {what}."


# --- why an answer is not usable -------------------------------------------------------------


def _problem_count(errors: list[str]) -> int:
    count = 0
    for error in errors:
        more = _MORE_PROBLEMS.fullmatch(str(error).strip())
        count += int(more.group(1)) if more else 1
    return count


def invalid_answer_sentence(
    *,
    has_data: bool,
    errors: list[str],
    finish_reason: str | None,
    max_tokens: int,
    schema: dict[str, Any],
    template_label: str = "",
) -> str:
    """One sentence: why the findings of this answer are not valid, and what to do about it.

    The cut-off case wins (finish_reason "length", or findings.CUT_OFF among `errors`), then
    "no JSON at all", then "the fields do not match the template". `template_label` (e.g.
    "Chest X-ray") names the template; by default the schema's `title`, if any.
    """
    errors = [str(e) for e in errors or []]
    if finish_reason == "length" or CUT_OFF in errors:
        limit = f"{max_tokens}-token limit" if max_tokens and max_tokens > 0 else "token limit"
        return f"The answer was cut off at the {limit}; raise Max tokens and analyze again."
    if not has_data:
        first = errors[0] if errors else NO_OBJECT
        if first == NO_OBJECT:
            return (
                "The model answered in prose, not JSON, so no findings could be read; analyze "
                f"again with '{CONSTRAIN_LABEL}' switched on."
            )
        if first == "The answer is empty":
            return (
                "The model returned an empty answer, so no findings could be read; analyze again."
            )
        problem = plain_problem(first, schema, markdown=False).rstrip(".")
        problem = problem[:1].lower() + problem[1:]
        return escape_markdown(
            f"No findings could be read from the answer ({problem}); analyze again."
        )
    if any(e.startswith("The template's schema is invalid") for e in errors):
        return (
            "The findings could not be checked because the template's schema is invalid; fix "
            "the template file (the problem is listed below)."
        )
    count = _problem_count(errors)
    if count == 0:
        return "The findings are not valid; analyze again or correct the findings by hand."
    label = template_label or _as_dict(schema).get("title") or ""
    label = escape_markdown(_one_line(str(label), 80))
    fields = f"{label} template's fields" if label else "template's fields"
    problems = f"{count} problem{'s' if count != 1 else ''}"
    return (
        f"The answer did not match the {fields} ({problems}, listed below); analyze again or "
        "correct the findings by hand."
    )
