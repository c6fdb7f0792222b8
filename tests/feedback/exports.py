"""Reading feedback exports back, to check that they hold exactly what was stored (the app only
writes them: medgemma_ui/feedback/export.py)."""

from __future__ import annotations

import csv
import json
from typing import Any, TextIO

from medgemma_ui.feedback import EXPORT_FIELDS, FeedbackRecord
from medgemma_ui.feedback.export import _BOOL_FIELDS, _JSON_FIELDS


def _from_csv(row: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, text in row.items():
        if name in _JSON_FIELDS:
            data[name] = json.loads(text)
        elif name in _BOOL_FIELDS:
            data[name] = text == "true"
        elif name == "overall_rating":
            data[name] = text or None
        else:
            data[name] = text
    return data


def read_export(fmt: str, source: TextIO) -> list[dict[str, Any]]:
    """An export parsed back into dicts with the same types as `export_row`."""
    if fmt == "jsonl":
        return [json.loads(line) for line in source if line.strip()]
    reader = csv.DictReader(source)
    assert tuple(reader.fieldnames or ()) == EXPORT_FIELDS, "not a feedback CSV export"
    return [_from_csv(row) for row in reader]


def records_from_export(fmt: str, source: TextIO) -> list[FeedbackRecord]:
    """An export read back as validated records (without images)."""
    records = []
    for row in read_export(fmt, source):
        row.pop("image_kept", None)
        records.append(FeedbackRecord(**row))
    return records
