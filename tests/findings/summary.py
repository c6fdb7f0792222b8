"""`findings_summary`: one line naming how a parse went, so the tests can say what they expect
of `Findings` (`method`, `repairs`, `normalisations`) in words. No part of the app shows it; the
UI's sentences come from medgemma_ui/reports."""

from __future__ import annotations

from medgemma_ui.findings import NO_OBJECT, Findings

_METHOD_WORDS = {"fenced": "a fenced block", "embedded": "surrounding text"}


def findings_summary(findings: Findings) -> str:
    """E.g. "Valid after repair (trailing comma removed)"."""
    if findings.data is None:
        if findings.errors and findings.errors[0] != NO_OBJECT:
            return f"No usable JSON: {findings.errors[0]}"
        return "No JSON found"
    if not findings.valid:
        count = len(findings.errors)
        return f"Invalid: {count} problem{'s' if count != 1 else ''}"
    if findings.method == "repaired":
        line = f"Valid after repair ({', '.join(findings.repairs)})"
    elif findings.repaired:
        line = f"Valid JSON (taken from {_METHOD_WORDS.get(findings.method, findings.method)})"
    else:
        line = "Valid JSON"
    count = len(findings.normalisations)
    if count:
        line += f", {count} value{'s' if count != 1 else ''} normalised"
    return line
