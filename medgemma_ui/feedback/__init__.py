"""Clinician feedback: records, the SQLite store, exports and the optional Hub sync.

Typical use from the UI (the store is blocking; keep it off the event loop)::

    store = open_store(settings)             # once, at start-up; logs where feedback goes
    rec = FeedbackRecord(image_sha256=..., template_id="cxr", backend="openai", ...)
    rec_id = await asyncio.to_thread(store.save, rec)
    # changed rating before the next analysis: a record with the same id, saved again
    await asyncio.to_thread(store.save, FeedbackRecord(id=rec_id, ..., overall_rating="agree"))
"""

from medgemma_ui.feedback.export import EXPORT_FIELDS, EXPORT_FORMATS, write_export
from medgemma_ui.feedback.hub_sync import HubShardWriter, describe_destination, open_store
from medgemma_ui.feedback.migrations import SchemaVersionError
from medgemma_ui.feedback.record import (
    FINDING_RATINGS,
    OVERALL_RATINGS,
    FeedbackRecord,
    FindingPath,
    finding_paths,
)
from medgemma_ui.feedback.store import FeedbackStore
from medgemma_ui.redaction import redact

__all__ = [
    "EXPORT_FIELDS",
    "EXPORT_FORMATS",
    "FINDING_RATINGS",
    "OVERALL_RATINGS",
    "FeedbackRecord",
    "FeedbackStore",
    "FindingPath",
    "HubShardWriter",
    "SchemaVersionError",
    "describe_destination",
    "finding_paths",
    "open_store",
    "redact",
    "write_export",
]
