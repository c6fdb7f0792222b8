"""`feedback import`: load JSON Lines exports into a store, idempotently by record id.

Reads what the app has ever written as JSON Lines: `feedback export --format jsonl` from this and
earlier versions (records without `provenance`, `finding_corrections` or `added_findings` get
their empty defaults), and the Hub dataset's shards (`feedback/feedback-<uuid>.jsonl`, where a
changed rating appears again with the same id: the latest `updated_at` wins). A folder stands for
every `*.jsonl` file under it. When the store keeps images and a shard's line says
`image_kept`, the JPEG is taken from the dataset's `images/<sha256>.jpg` if it is there. Lines of
a votes export (`feedback export --votes`, `record_type` "comparison_vote") are comparison votes,
imported the same way.

A line that is not a valid record is reported (file, line number, why) and skipped; the others are
imported. Importing the same file again, or several imports at once, changes nothing twice.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from medgemma_ui.feedback.comparison import ComparisonVote
from medgemma_ui.feedback.export import VOTE_RECORD_TYPE
from medgemma_ui.feedback.record import FeedbackRecord
from medgemma_ui.feedback.store import FeedbackStore

_FIELDS = {f.name for f in dataclasses.fields(FeedbackRecord)} - {"image_jpeg"}
_EXPORT_ONLY = {"image_kept"}
_VOTE_FIELDS = {f.name for f in dataclasses.fields(ComparisonVote)}
Item = TypeVar("Item", FeedbackRecord, ComparisonVote)


@dataclass
class ImportReport:
    files: int = 0
    lines: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)  # "file:line: why"
    votes: dict[str, int] = field(default_factory=dict)  # {"added", "updated", "unchanged"}

    def summary(self) -> str:
        ratings = self.added + self.updated + self.unchanged
        files = "1 file" if self.files == 1 else f"{self.files} files"
        text = (
            f"Read {ratings} ratings from {files}: {self.added} added, {self.updated} updated "
            f"(newer than the stored copy), {self.unchanged} already there."
        )
        if sum(self.votes.values()):
            text += (
                f" Read {sum(self.votes.values())} comparison votes: {self.votes['added']} added, "
                f"{self.votes['updated']} updated, {self.votes['unchanged']} already there."
            )
        if self.skipped:
            text += f" {len(self.skipped)} lines skipped:\n  " + "\n  ".join(self.skipped[:20])
            if len(self.skipped) > 20:
                text += f"\n  ... and {len(self.skipped) - 20} more."
        return text


def jsonl_files(paths: Iterable[Path | str]) -> list[Path]:
    """The files to read: each file given, and every `*.jsonl` under each folder, sorted."""
    out: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*.jsonl") if p.is_file()))
        elif path.exists():
            out.append(path)
        else:
            raise FileNotFoundError(f"No such file or folder: {path}")
    return out


def record_from_line(data: Any) -> FeedbackRecord:
    """One exported line (already parsed) as a validated record; ValueError says why not."""
    return _from_line(data, FeedbackRecord, _FIELDS, _EXPORT_ONLY)


def vote_from_line(data: Any) -> ComparisonVote:
    """One line of a votes export (already parsed) as a validated vote; ValueError says why not."""
    return _from_line(data, ComparisonVote, _VOTE_FIELDS, {"record_type"})


def _from_line(data: Any, kind: type[Item], fields: set[str], export_only: set[str]) -> Item:
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    unknown = set(data) - fields - export_only
    if unknown:
        raise ValueError(
            f"unknown fields {', '.join(sorted(unknown))} (written by a newer version of the app?)"
        )
    values = {k: v for k, v in data.items() if k in fields}
    try:
        return kind(**values)
    except TypeError as exc:  # a required field is missing
        raise ValueError(str(exc).replace(f"{kind.__name__}.__init__() ", "")) from None


def _records(
    path: Path, report: ImportReport, votes: list[ComparisonVote], *, with_images: bool
) -> Iterator[FeedbackRecord]:
    """The file's ratings; its votes are appended to `votes`."""
    images = path.parent.parent / "images"
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            report.lines += 1
            try:
                data = json.loads(line)
                if isinstance(data, dict) and data.get("record_type") == VOTE_RECORD_TYPE:
                    votes.append(vote_from_line(data))
                    continue
                record = record_from_line(data)
            except ValueError as exc:
                report.skipped.append(f"{path.name}:{number}: {exc}")
                continue
            if with_images and data.get("image_kept"):
                jpeg = images / f"{record.image_sha256}.jpg"
                if jpeg.is_file():
                    try:
                        record = dataclasses.replace(record, image_jpeg=jpeg.read_bytes())
                    except ValueError:
                        report.skipped.append(f"{jpeg.name}: does not match its SHA-256")
            yield record


def import_files(store: FeedbackStore, paths: Iterable[Path | str]) -> ImportReport:
    """Import every record of the given JSON Lines files (or folders) into `store`."""
    report = ImportReport()
    files = jsonl_files(paths)
    report.files = len(files)

    votes: list[ComparisonVote] = []

    def every() -> Iterator[FeedbackRecord]:
        for path in files:
            yield from _records(path, report, votes, with_images=store.keep_images)

    counts = store.import_records(every())
    report.votes = store.import_votes(votes)
    report.added, report.updated, report.unchanged = (
        counts["added"],
        counts["updated"],
        counts["unchanged"],
    )
    return report
