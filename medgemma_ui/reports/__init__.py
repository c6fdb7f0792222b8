"""Clinician-readable views of parsed findings: a Markdown report and problems in plain words."""

from medgemma_ui.reports.readable import (
    escape_markdown,
    field_title,
    humanize,
    invalid_answer_sentence,
    plain_problem,
    report_markdown,
)

__all__ = [
    "escape_markdown",
    "field_title",
    "humanize",
    "invalid_answer_sentence",
    "plain_problem",
    "report_markdown",
]
