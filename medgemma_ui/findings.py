"""Raw model text -> parsed, validated findings, or a clear list of problems.

`parse_findings` tries, in order: the whole text as JSON; fenced markdown blocks; the first
balanced `{...}` object inside prose; `json_repair` on the part of the text that starts like an
object. The object found is then normalised (only harmless, recorded changes) and validated with
JSON Schema draft 2020-12. It never invents a value, and it never raises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import json_repair
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError

MAX_INPUT_CHARS = 1_000_000  # MedGemma answers are a few KB; anything this big is not an answer
MAX_DEPTH = 64  # deeper JSON would only exhaust the recursion of the validator
MAX_ERRORS = 50
_MAX_MESSAGE_CHARS = 300
MAX_REPAIR_CHARS = 100_000  # json_repair is pure Python; beyond this it is slow and pointless
_MAX_CANDIDATES = 200  # '{' positions tried as embedded objects before giving up

NO_OBJECT = "The answer contains no JSON object"
TRUNCATED = "truncated answer closed"
CUT_OFF = (
    "$: the answer stops mid-object (cut off, e.g. out of tokens); the recovered part is shown "
    "but may be incomplete"
)

# MedGemma 1.5 may think aloud first: `<unused94>thought ... <unused95>answer`. Google's notebooks
# keep only the text after `<unused95>`; so does the parser (the raw answer keeps all of it).
THOUGHT_START, THOUGHT_END = "<unused94>", "<unused95>"
ONLY_THINKING = "The answer holds only the model's thinking: it stopped before answering"

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
# A real object starts with a quoted key, an identifier key followed by ':', '}' or the end of
# the text (truncated). This keeps prose such as "a {suspicious} lesion" from being "repaired".
_OBJECT_START = re.compile(r"""\{\s*(?:["'}]|[A-Za-z_][\w ]{0,40}:|\Z)""")
_QUOTED_START = re.compile(r"""\{\s*["']""")
_DANGLING_KEY = re.compile(r"""(?:"[^"\\\n]*"|'[^'\\\n]*'|[A-Za-z_]\w*)\s*:\s*\Z""")


@dataclass(frozen=True)
class Findings:
    """The outcome of parsing one model answer."""

    data: dict[str, Any] | None
    valid: bool
    errors: list[str] = field(default_factory=list)
    repaired: bool = False
    normalisations: list[str] = field(default_factory=list)
    method: str = "none"
    repairs: list[str] = field(default_factory=list)


def split_thinking(text: str) -> tuple[str, str]:
    """(answer, thinking): the text after the last `<unused95>`, and what came before it. An
    answer that starts thinking and never ends it is all thinking."""
    if THOUGHT_END in text:
        thought, _, answer = text.rpartition(THOUGHT_END)
        return answer, thought.replace(THOUGHT_START, "", 1)
    if THOUGHT_START in text:
        before, _, thought = text.partition(THOUGHT_START)
        return before, thought
    return text, ""


def parse_findings(raw: str, schema: dict[str, Any]) -> Findings:
    """Parse a model answer against `schema`. Never raises."""
    try:
        return _parse(raw, schema)
    except Exception as exc:  # a last resort: the UI must always get a result it can show
        return Findings(None, False, [f"The answer could not be parsed ({type(exc).__name__})"])


def _parse(raw: Any, schema: dict[str, Any]) -> Findings:
    if isinstance(raw, bytes | bytearray):
        raw = bytes(raw).decode("utf-8", errors="replace")
    if not isinstance(raw, str):
        return Findings(None, False, [f"The answer is not text ({type(raw).__name__})"])
    if len(raw) > MAX_INPUT_CHARS:
        error = (
            f"The answer is too long to parse ({len(raw):,} characters; limit {MAX_INPUT_CHARS:,})"
        )
        return Findings(None, False, [error])
    text, thought = split_thinking(raw)
    text = text.strip().lstrip("\ufeff").strip()
    normalisations: list[str] = []
    if thought:
        normalisations.append(f"$: left out the model's thinking ({len(thought):,} characters)")
    if not text:
        return Findings(None, False, [ONLY_THINKING if thought else "The answer is empty"])

    value, method, repairs = _extract(text)
    if method == "none":
        return Findings(None, False, [NO_OBJECT], normalisations=normalisations)
    repaired = method != "json"

    list_key = _sole_array_property(schema)
    if isinstance(value, list) and list_key is not None:
        # A template whose answer is one list (e.g. boxes) may get the bare list it asked for.
        value = {list_key: value}
        normalisations.append(f"$: the bare list was taken as {list_key!r}")
    elif isinstance(value, list):
        objects = [item for item in value if isinstance(item, dict)]
        if len(value) == 1 and objects:
            value = objects[0]
            normalisations.append("$: unwrapped the object from a one-item list")
    if not isinstance(value, dict):
        kind = _json_kind(value)
        error = f"$: the answer's JSON is {kind}, not an object"
        return Findings(None, False, [error], repaired, normalisations, method, repairs)
    if _depth(value) > MAX_DEPTH:
        error = f"$: the JSON is nested more than {MAX_DEPTH} levels deep"
        return Findings(None, False, [error], repaired, normalisations, method, repairs)

    schema_problem = _schema_problem(schema)
    if schema_problem:
        error = f"The template's schema is invalid: {schema_problem}"
        return Findings(value, False, [error], repaired, normalisations, method, repairs)
    validator = Draft202012Validator(schema)

    value = _normalise(value, schema, "$", normalisations)
    errors = _validate(validator, value)
    if TRUNCATED in repairs:
        # Never valid: the last value may be cut short even when the schema happens to match.
        errors.insert(0, CUT_OFF)
    return Findings(value, not errors, errors, repaired, normalisations, method, repairs)


def _sole_array_property(schema: Any) -> str | None:
    """The name of the schema's only property when that property is an array."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict) or len(properties) != 1:
        return None
    ((key, sub),) = properties.items()
    return key if isinstance(sub, dict) and sub.get("type") == "array" else None


# --- extraction ------------------------------------------------------------------------------


def _extract(text: str) -> tuple[Any, str, list[str]]:
    """Find the JSON value in `text`: (value, method, repair descriptions)."""
    ok, value = _loads(text)
    if ok and isinstance(value, dict | list):
        return value, "json", []

    blocks = [m.group(2) for m in _FENCE.finditer(text)]
    for block in blocks:
        ok, value = _loads(block.strip())
        if ok and (isinstance(value, dict) or _is_single_object_list(value)):
            return value, "fenced", []

    spans = _object_spans(text)
    for start, end in spans:
        if end is None:
            break
        ok, value = _loads(text[start:end])
        if ok and isinstance(value, dict):
            return value, "embedded", []

    found = _repair_source(text, blocks, spans)
    if found is None:
        return None, "none", []
    source, truncated = found
    if truncated and not _outside_strings(source)[1]:
        # json_repair would give a dangling `"key":` an invented "" value; drop the key instead.
        source = _DANGLING_KEY.sub("", source)
    value = _repair(source)
    if isinstance(value, list):  # json_repair returns a list when it saw several values
        value = next((item for item in value if isinstance(item, dict)), value)
    if not isinstance(value, dict):
        return None, "none", []
    return value, "repaired", _describe_repairs(source, truncated)


def _loads(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):
        return False, None


def _is_single_object_list(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict)


def _object_spans(text: str) -> list[tuple[int, int | None]]:
    """Top-level `{...}` spans that start like an object (end None: never closed).

    Brace matching skips double-quoted strings, so a '}' inside a value does not end the object.
    """
    spans: list[tuple[int, int | None]] = []
    position = 0
    while len(spans) < _MAX_CANDIDATES:
        match = _OBJECT_START.search(text, position)
        if match is None:
            break
        start = match.start()
        end = _matching_brace(text, start)
        spans.append((start, end))
        if end is None:
            break
        position = end
    return spans


def _matching_brace(text: str, start: int) -> int | None:
    depth = 0
    for index, char in _unquoted(text, start):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index + 1
    return None


def _repair_source(
    text: str, blocks: list[str], spans: list[tuple[int, int | None]]
) -> tuple[str, bool] | None:
    """The text handed to json_repair (a fenced block or the object-like part of the prose), and
    whether that object was cut off before its closing brace."""
    for block in blocks:
        block_spans = _object_spans(block)
        if block_spans:
            start, end = block_spans[0]
            return (block[start:end], False) if end is not None else (block[start:], True)
    if spans:
        # Prefer a span that opens with a quoted key over prose such as "{Note: ...}".
        start, end = next((s for s in spans if _QUOTED_START.match(text, s[0])), spans[0])
        return (text[start:end], False) if end is not None else (text[start:], True)
    return None


def _repair(source: str) -> Any:
    if len(source) > MAX_REPAIR_CHARS:
        return None
    try:
        return json_repair.loads(source, skip_json_loads=True)
    except Exception:  # json_repair's failure modes on arbitrary text are not documented
        return None


_PYTHON_LITERAL = re.compile(r"[:\[,]\s*(True|False|None)\b")
_TRAILING_COMMA = re.compile(r",\s*[}\]]")
_SINGLE_QUOTE = re.compile(r"[{\[,:]\s*'")
_COMMENT = re.compile(r"(//|/\*|(?:^|[{\[,]\s*)#)", re.MULTILINE)


def _describe_repairs(source: str, truncated: bool) -> list[str]:
    """Name what was wrong with the JSON, for the one-line summary shown to clinicians."""
    outside = _outside_strings(source)[0]
    described = []
    if _TRAILING_COMMA.search(outside):
        described.append("trailing comma removed")
    if _SINGLE_QUOTE.search(outside):
        described.append("single quotes replaced")
    if _PYTHON_LITERAL.search(outside):
        described.append("Python literals converted")
    if _COMMENT.search(outside):
        described.append("comments removed")
    if truncated:
        described.append(TRUNCATED)
    return described or ["malformed JSON repaired"]


def _outside_strings(source: str) -> tuple[str, bool]:
    """`source` with the contents of double-quoted strings removed; whether it ends in a string."""
    outside = "".join(char for _, char in _unquoted(source))
    # Every string leaves its two quotes behind; one left open leaves an odd number.
    return outside, outside.count('"') % 2 == 1


def _unquoted(text: str, start: int = 0) -> Iterator[tuple[int, str]]:
    """(index, character) of `text` from `start`, skipping what is inside double-quoted strings
    (their quotes are kept; a backslash escapes the next character)."""
    in_string = False
    escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if not in_string:
            in_string = char == '"'
            yield index, char
        elif escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            in_string = False
            yield index, char


@lru_cache(maxsize=32)
def _schema_problem_cached(schema_json: str) -> str | None:
    try:
        Draft202012Validator.check_schema(json.loads(schema_json))
    except SchemaError as exc:
        return exc.message
    return None


def _schema_problem(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return "a schema must be a JSON object"
    try:
        return _schema_problem_cached(json.dumps(schema, sort_keys=True))
    except (TypeError, ValueError):
        return "the schema is not plain JSON"


# --- normalisation and validation ------------------------------------------------------------


def _normalise(value: Any, schema: Any, path: str, notes: list[str]) -> Any:
    """Apply only harmless fixes (enum case/whitespace, string -> one-item list), recording each."""
    if not isinstance(schema, dict):
        return value
    enum = schema.get("enum")
    if isinstance(enum, list) and isinstance(value, str) and value not in enum:
        matches = [
            option
            for option in enum
            if isinstance(option, str) and option.strip().casefold() == value.strip().casefold()
        ]
        if len(matches) == 1:
            notes.append(f"{path}: {value!r} read as {matches[0]!r}")
            return matches[0]
        return value
    kind = schema.get("type")
    if kind == "array" and isinstance(value, str) and _accepts_string(schema.get("items")):
        notes.append(f"{path}: a single string wrapped in a list")
        value = [value]
    if kind == "array" and isinstance(value, list):
        items = schema.get("items")
        return [_normalise(item, items, f"{path}[{i}]", notes) for i, item in enumerate(value)]
    if kind == "object" and isinstance(value, dict):
        properties = schema.get("properties", {})
        if not isinstance(properties, dict):
            return value
        return {
            key: _normalise(item, properties.get(key), _join(path, key), notes)
            for key, item in value.items()
        }
    return value


def _accepts_string(items: Any) -> bool:
    if not isinstance(items, dict):
        return False
    if "enum" in items:
        return any(isinstance(option, str) for option in items["enum"])
    return items.get("type") == "string"


def _validate(validator: Draft202012Validator, value: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    for error in sorted(validator.iter_errors(value), key=_error_order):
        errors.extend(_describe_error(error))
    errors = list(dict.fromkeys(errors))  # "required" reports the same missing keys per error
    if len(errors) > MAX_ERRORS:
        errors = [*errors[:MAX_ERRORS], f"... and {len(errors) - MAX_ERRORS} more problems"]
    return errors


def _error_order(error: ValidationError) -> tuple[list[tuple[int, int, str]], str]:
    key = [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.absolute_path]
    return key, error.message


def _describe_error(error: ValidationError) -> list[str]:
    path = _path_of(error)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        missing = [key for key in error.validator_value if key not in instance]
        return [f"{_join(path, key)}: required key is missing" for key in missing]
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = [key for key in instance if key not in allowed]
        if extra:
            return [f"{_join(path, key)}: unexpected key (not in the template)" for key in extra]
    message = error.message
    if len(message) > _MAX_MESSAGE_CHARS:
        message = message[:_MAX_MESSAGE_CHARS] + "..."
    return [f"{path}: {message}"]


def _path_of(error: ValidationError) -> str:
    path = "$"
    for part in error.absolute_path:
        path = f"{path}[{part}]" if isinstance(part, int) else _join(path, str(part))
    return path


def _join(path: str, key: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"


def _depth(value: Any) -> int:
    """Nesting depth, computed without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest
