"""CSV and JSON Lines exports of feedback: the ratings, and the blinded comparisons' votes.

Ratings carry exactly `EXPORT_FIELDS`: every declared record field except the image bytes, plus
`image_kept`. Votes carry `VOTE_EXPORT_FIELDS`: `record_type` ("comparison_vote", which tells
`feedback import` a vote from a rating) and every field of a vote, both arms and what each
answered included. In CSV, lists, dicts and `parsed` are JSON strings, `valid` and `image_kept`
are `true`/`false`, and an empty `overall_rating` means unrated.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from medgemma_ui.feedback.comparison import ComparisonVote
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
        # votes
        "arm_a",
        "arm_b",
        "provenance_a",
        "provenance_b",
        "answer_a",
        "answer_b",
    }
)
_BOOL_FIELDS = frozenset({"valid", "image_kept"})
VOTE_RECORD_TYPE = "comparison_vote"
VOTE_EXPORT_FIELDS = ("record_type", *(f.name for f in dataclasses.fields(ComparisonVote)))


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
    objects = (export_row(record, kept) for record, kept in rows)
    return _write(objects, EXPORT_FIELDS, fmt, out)


def vote_row(vote: ComparisonVote) -> dict[str, Any]:
    """The JSON Lines object for one vote (field order = `VOTE_EXPORT_FIELDS`)."""
    return {"record_type": VOTE_RECORD_TYPE} | vote.to_dict()


def write_vote_export(votes: Iterable[ComparisonVote], fmt: ExportFormat, out: TextIO) -> int:
    """Write comparison votes to `out`; returns how many were written."""
    return _write(map(vote_row, votes), VOTE_EXPORT_FIELDS, fmt, out)


def _write(
    objects: Iterable[dict[str, Any]], fields: tuple[str, ...], fmt: ExportFormat, out: TextIO
) -> int:
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}.")
    n = 0
    if fmt == "jsonl":
        for row in objects:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
        return n
    writer = csv.writer(out)
    writer.writerow(fields)
    for row in objects:
        writer.writerow([_csv_cell(name, row[name]) for name in fields])
        n += 1
    return n


def export_to_file(
    store: FeedbackStore,
    fmt: ExportFormat,
    path: Path | str,
    *,
    session_label: str | None = None,
    votes: bool = False,
) -> int:
    """Write an export of the ratings (`votes`: of the comparison votes) to `path` (mode 0600;
    missing folders are created 0700) and return how many it holds. It is written beside the
    target first and renamed, so a reader never sees half an export under the real name."""
    path = Path(path)
    private_folder(path.parent)
    partial = path.with_name(path.name + ".partial")
    try:
        with open_private(partial, newline="") as out:
            count = store.export(fmt, out, session_label=session_label, votes=votes)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return count
