"""The `Template` value and the prompts built from it.

Gemma 3 has no system role, so everything (role, task, closed-world rule, output format) is
folded into the text of the single user turn that follows the image. The UI shows the output of
`build_prompt()` in an editable box under "Advanced"; an edited prompt is sent as typed, and a
retry repeats whichever first prompt was sent, followed by what was wrong with the answer.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from medgemma_ui.templates.skeleton import render_skeleton

# Retry prompts stay short: MedGemma 4B loses the thread in long prompts.
_MAX_RETRY_ERRORS = 8
_MAX_PREVIOUS_CHARS = 1200

# What one request of a template is made of: one image, a prior and a current image, a series of
# slices, or one image and a named target to localise.
TemplateInput = Literal["image", "prior", "series", "target"]
TEMPLATE_INPUTS: tuple[TemplateInput, ...] = ("image", "prior", "series", "target")


@dataclass(frozen=True)
class ModalityMatch:
    """Which DICOM images the template is suggested for: the Modality is one of `modalities` and,
    when `body_parts` is given, BodyPartExamined contains one of those words."""

    modalities: tuple[str, ...] = ()
    body_parts: tuple[str, ...] = ()

    def matches(self, modality: str | None, body_part: str | None) -> bool:
        if (modality or "").upper() not in self.modalities:
            return False
        if not self.body_parts:
            return True
        return any(word in (body_part or "").upper() for word in self.body_parts)


@dataclass(frozen=True)
class Example:
    """The bundled example image shown under the upload for this template."""

    path: Path
    caption: str


@dataclass(frozen=True)
class Template:
    """A modality prompt template and the JSON Schema its answer must match."""

    id: str
    label: str
    version: str
    instructions: str
    schema: dict[str, Any] = field(hash=False)
    role: str = "You are an expert medical image reader assisting a clinician."
    closed_world: str = (
        "Describe only what is visible in this image. If a finding is not visible, say it is "
        "absent; never guess."
    )
    description: str = ""
    order: int = 100
    input: TemplateInput = "image"
    default_window: str | None = None
    match: ModalityMatch = field(default_factory=ModalityMatch)
    fallback: bool = False
    example: Example | None = None
    lead: str = ""  # series: the text sent before the slices (the prompt follows them)
    targets: tuple[str, ...] = ()  # target: suggested targets; any typed one works too

    def window_for(self, offered: Collection[str]) -> str | None:
        """This template's window when the image offers it; None means the image's own default."""
        if self.default_window is not None and self.default_window in offered:
            return self.default_window
        return None

    @property
    def skeleton(self) -> str:
        """The compact schema shown in the prompt."""
        return render_skeleton(self.schema)

    def build_prompt(self, target: str | None = None) -> str:
        """The text sent after the image(s). A `target` template's `{target}` is filled in when
        a target is given (the prompt box shows the placeholder)."""
        parts = (self.role, self.instructions, self.closed_world)
        body = "\n\n".join(part.strip() for part in parts if part.strip())
        return fill_target(f"{body}\n\n{self._format_block()}", target)

    def build_content(self, images: Sequence[bytes], prompt: str) -> tuple[bytes | str, ...]:
        """The one user turn, in Google's orders: one image then the text; prior, current, then
        the text; for a series the lead text, each slice followed by `SLICE k`, and the query
        (the prompt) last, as Google's CT notebook does (and its issue #76 shows is needed)."""
        if self.input == "series":
            content: list[bytes | str] = [self.lead.strip()] if self.lead.strip() else []
            for number, image in enumerate(images, 1):
                content += [image, f"SLICE {number}"]
            return (*content, prompt)
        expected = 2 if self.input == "prior" else 1
        if len(images) != expected:
            raise ValueError(
                f"The {self.label} template takes {expected} image(s) per request; "
                f"{len(images)} were given."
            )
        return (*images, prompt)

    def build_retry_prompt(
        self,
        previous_answer: str,
        errors: list[str],
        first_prompt: str | None = None,
    ) -> str:
        """Ask again: the first prompt as it was sent (the template's own by default, or the
        clinician's edit), then concretely what was wrong with the previous answer."""
        shown = [f"- {e}" for e in errors[:_MAX_RETRY_ERRORS]]
        if len(errors) > _MAX_RETRY_ERRORS:
            shown.append(f"- ... and {len(errors) - _MAX_RETRY_ERRORS} more")
        if not shown:
            shown = ["- it did not match the required format"]
        previous = previous_answer.strip()
        if len(previous) > _MAX_PREVIOUS_CHARS:
            previous = previous[:_MAX_PREVIOUS_CHARS] + " [...]"
        return (
            f"{first_prompt or self.build_prompt()}\n\n"
            "Your previous answer could not be used because:\n"
            + "\n".join(shown)
            + f"\n\nPrevious answer:\n{previous}\n\n"
            "Answer again: one corrected JSON object with exactly the keys above, and nothing else."
        )

    def _format_block(self) -> str:
        return (
            "Respond with JSON only: a single JSON object, no markdown fences, no text before or "
            "after it. Use exactly these keys and no others:\n"
            f"{self.skeleton}"
        )


def fill_target(text: str, target: str | None) -> str:
    """`{target}` replaced by the target (stripped); the text unchanged without one."""
    if target is None or not target.strip():
        return text
    return text.replace("{target}", target.strip())
