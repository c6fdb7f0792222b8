"""CSV and JSON Lines exports of feedback.

Both formats carry exactly `EXPORT_FIELDS`: every declared record field except the image bytes,
plus `image_kept`. In CSV, lists, dicts and `parsed` are JSON strings, `valid` and `image_kept` are
`true`/`false`, and an empty `overall_rating` means unrated.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from medgemma_ui.feedback.files import open_private, private_folder
from medgemma_ui.feedback.record import FeedbackRecord

if TYPE_CHECKING:
    from medgemma_ui.feedback.store import FeedbackStore

ExportFormat = Literal["csv", "jsonl"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("csv", "jsonl")
RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(FeedbackRecord) if f.name != "image_jpeg")
EXPORT_FIELDS = (*RECORD_FIELDS, "image_kept")
_JSON_FIELDS = frozenset(
    {
        "generation",
        "raw_answers",
        "parsed",
        "parse_errors",
        "finding_ratings",
        "timings_ms",
        "provenance",
        "finding_corrections",
        "added_findings",
    }
)
_BOOL_FIELDS = frozenset({"valid", "image_kept"})


def export_row(record: FeedbackRecord, image_kept: bool) -> dict[str, Any]:
    """The JSON Lines object for one record (field order = `EXPORT_FIELDS`)."""
    row = record.to_dict()
    return {name: row[name] for name in RECORD_FIELDS} | {"image_kept": image_kept}


def _csv_cell(name: str, value: Any) -> str:
    if name in _JSON_FIELDS:
        return json.dumps(value, ensure_ascii=False)
    if name in _BOOL_FIELDS:
        return "true" if value else "false"
    return "" if value is None else str(value)


def write_export(
    rows: Iterable[tuple[FeedbackRecord, bool]], fmt: ExportFormat, out: TextIO
) -> int:
    """Write `(record, image_kept)` pairs to `out`; returns how many were written."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}.")
    n = 0
    if fmt == "jsonl":
        for record, kept in rows:
            out.write(json.dumps(export_row(record, kept), ensure_ascii=False) + "\n")
            n += 1
        return n
    writer = csv.writer(out)
    writer.writerow(EXPORT_FIELDS)
    for record, kept in rows:
        row = export_row(record, kept)
        writer.writerow([_csv_cell(name, row[name]) for name in EXPORT_FIELDS])
        n += 1
    return n


def export_to_file(
    store: FeedbackStore, fmt: ExportFormat, path: Path | str, *, session_label: str | None = None
) -> int:
    """Write an export to `path` (mode 0600; missing folders are created 0700) and return how
    many records it holds. It is written beside the target first and renamed, so a reader never
    sees half an export under the real name."""
    path = Path(path)
    private_folder(path.parent)
    partial = path.with_name(path.name + ".partial")
    try:
        with open_private(partial, newline="") as out:
            count = store.export(fmt, out, session_label=session_label)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return count
