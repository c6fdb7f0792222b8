"""A result as a one-page PDF (reportlab): the image the model saw, the report, the clinician's
rating if any, the provenance and the disclaimer. Everything is laid into one frame that shrinks
to fit, so the report is always exactly one A4 page.

Text is set in DejaVu Sans when the system has it (Debian's fonts-dejavu), else in Bitstream
Vera, which reportlab ships: both are embedded, so the PDF reads the same everywhere and its
text can be extracted.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from medgemma_ui.reports.facts import ReportFacts

_FONT_CANDIDATES = (
    (
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ),
)
RATING_WORDS = {"agree": "Agree", "partly_agree": "Partly agree", "disagree": "Disagree"}


def _fonts() -> tuple[str, str]:
    from reportlab import rl_config
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if "MGSans" in pdfmetrics.getRegisteredFontNames():
        return "MGSans", "MGSans-Bold"
    regular, bold = None, None
    for candidate_regular, candidate_bold in _FONT_CANDIDATES:
        if candidate_regular.is_file() and candidate_bold.is_file():
            regular, bold = candidate_regular, candidate_bold
            break
    if regular is None or bold is None:
        folder = Path(rl_config.__file__).parent / "fonts"
        regular, bold = folder / "Vera.ttf", folder / "VeraBd.ttf"
    pdfmetrics.registerFont(TTFont("MGSans", str(regular)))
    pdfmetrics.registerFont(TTFont("MGSans-Bold", str(bold)))
    pdfmetrics.registerFontFamily(  # so <b> in a paragraph is set in the bold face
        "MGSans", normal="MGSans", bold="MGSans-Bold", italic="MGSans", boldItalic="MGSans-Bold"
    )
    return "MGSans", "MGSans-Bold"


def _text(value: Any) -> str:
    return escape(" ".join(str(value).split()))


def _provenance_rows(facts: ReportFacts) -> list[tuple[str, str]]:
    p = facts.provenance
    sent = list(p.get("image_sha256") or [])
    images = sent[0] if len(sent) == 1 else f"{len(sent)} images; first {sent[0] if sent else ''}"
    rows = [
        ("Template", f"{facts.template_label} ({facts.template_id} {facts.template_version})"),
        ("Backend / model", f"{facts.backend} / {facts.model}"),
        ("Analyzed at", facts.analyzed_at),
        ("Image SHA-256", images),
        ("Prompt SHA-256", str(p.get("prompt_sha256", ""))),
        ("Window / frame", f"{p.get('window') or 'default'} / {_frame(p)}"),
        (
            "Generation",
            f"max tokens {p.get('max_tokens')}, temperature {p.get('temperature')}, "
            f"structured output {'on' if p.get('structured_output') else 'off'}, "
            f"retries {p.get('retries', 0)}",
        ),
        ("App version", f"medgemma_ui {facts.app_version}"),
    ]
    if p.get("series_slices"):
        rows.insert(4, ("Series", f"{facts.images_sent} of {p['series_slices']} slices sent"))
    return rows


def _frame(provenance: dict[str, Any]) -> str:
    index, count = provenance.get("frame_index"), provenance.get("frame_count") or 1
    if index is None or count <= 1:
        return "single frame"
    return f"{int(index) + 1} of {count}"


def build_pdf(facts: ReportFacts) -> bytes:
    """The one-page PDF as bytes."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        Frame,
        Image,
        KeepInFrame,
        Paragraph,
        Spacer,
        Table,
        TableStyle,
    )
    from reportlab.platypus.doctemplate import BaseDocTemplate, PageTemplate

    regular, bold = _fonts()
    body = ParagraphStyle("body", fontName=regular, fontSize=9.5, leading=12.5)
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=9.5)
    heading = ParagraphStyle(
        "heading", parent=body, fontName=bold, fontSize=11, leading=14, spaceBefore=6, spaceAfter=2
    )
    title = ParagraphStyle("title", parent=body, fontName=bold, fontSize=15, leading=19)
    warning = ParagraphStyle(
        "warning",
        parent=body,
        fontName=bold,
        fontSize=9,
        textColor=colors.HexColor("#8a1c1c"),
        borderColor=colors.HexColor("#8a1c1c"),
        borderWidth=0.8,
        borderPadding=4,
        leading=11.5,
    )

    story: list[Any] = [
        Paragraph(_text(f"MedGemma {facts.template_label} findings (AI, unverified)"), title),
        Spacer(1, 4),
        Paragraph(_text(facts.disclaimer), warning),
        Spacer(1, 8),
    ]
    summary = [
        Paragraph(f"<b>Impression</b><br/>{_text(facts.impression or 'Not given')}", body),
        Spacer(1, 4),
        Paragraph(
            _text(
                "The answer matched the template."
                if facts.valid
                else "The answer did not match the template: "
                + ("; ".join(facts.problems) or "see the findings")
                + "."
            ),
            small,
        ),
    ]
    if facts.image_jpeg:
        picture = Image(io.BytesIO(facts.image_jpeg), width=62 * mm, height=62 * mm)
        caption = Paragraph(
            _text(
                "What the model saw (896 × 896)"
                + (f", 1 of {facts.images_sent} images sent" if facts.images_sent > 1 else "")
            ),
            small,
        )
        layout = Table([[[picture, caption], summary]], colWidths=[66 * mm, None], hAlign="LEFT")
        layout.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story.append(layout)
    else:
        story.extend(summary)
    story.append(Paragraph("Findings", heading))
    last = None
    for finding in facts.findings:
        if finding.section != last:
            story.append(Paragraph(f"<b>{_text(finding.section)}</b>", body))
            last = finding.section
        story.append(Paragraph(f"• {_text(finding.text)}", body))
    if not facts.findings:
        story.append(Paragraph("No findings could be read from the answer.", body))
    if facts.rating:
        story.append(Paragraph("Clinician's rating", heading))
        rating = facts.rating
        overall = RATING_WORDS.get(str(rating.get("overall")), str(rating.get("overall") or ""))
        lines = [f"Overall: {overall or 'not given'}"]
        for label, key in (
            ("Corrected impression", "corrected"),
            ("Missed findings", "added"),
            ("Comment", "comment"),
            ("Reviewer", "reviewer"),
        ):
            if rating.get(key):
                lines.append(f"{label}: {rating[key]}")
        story.extend(Paragraph(_text(line), body) for line in lines)
    story.append(Paragraph("Provenance", heading))
    rows = [
        [Paragraph(_text(k), small), Paragraph(_text(v), small)] for k, v in _provenance_rows(facts)
    ]
    table = Table(rows, colWidths=[32 * mm, None], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#cccccc")),
            ]
        )
    )
    story.append(table)

    buffer = io.BytesIO()
    margin = 14 * mm
    width, height = A4
    frame = Frame(margin, margin, width - 2 * margin, height - 2 * margin, id="page")
    document = BaseDocTemplate(
        buffer,
        pagesize=A4,
        title=f"MedGemma {facts.template_label} findings",
        author="medgemma_ui",
        subject="AI-generated findings, unverified",
        pageTemplates=[PageTemplate(id="one", frames=[frame])],
    )
    document.build(
        [KeepInFrame(frame._width, frame._height, story, mode="shrink")]  # one page, always
    )
    return buffer.getvalue()
