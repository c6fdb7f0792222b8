"""The `Template` value and the prompts built from it.

Gemma 3 has no system role, so everything (role, task, closed-world rule, output format) is
folded into the text of the single user turn that follows the image. The UI shows the output of
`build_prompt()` in an editable box under "Advanced"; an edited prompt is sent as typed, while
`instructions_override` replaces only the instruction paragraph and keeps the JSON format block, so
the parser's schema still matches what the model was asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from medgemma_ui.templates.skeleton import render_skeleton

# Retry prompts stay short: MedGemma 4B loses the thread in long prompts.
_MAX_RETRY_ERRORS = 8
_MAX_PREVIOUS_CHARS = 1200


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
    suggested_window: str | None = None
    modality_hint: str | None = None
    description: str = ""

    @property
    def skeleton(self) -> str:
        """The compact schema shown in the prompt."""
        return render_skeleton(self.schema)

    def build_prompt(self, instructions_override: str | None = None) -> str:
        """The full user-turn text sent after the image."""
        if instructions_override is not None and instructions_override.strip():
            body = instructions_override.strip()
        else:
            parts = (self.role, self.instructions, self.closed_world)
            body = "\n\n".join(part.strip() for part in parts if part.strip())
        return f"{body}\n\n{self._format_block()}"

    def build_retry_prompt(
        self,
        previous_answer: str,
        errors: list[str],
        instructions_override: str | None = None,
    ) -> str:
        """Ask again, stating concretely what was wrong with the previous answer."""
        shown = [f"- {e}" for e in errors[:_MAX_RETRY_ERRORS]]
        if len(errors) > _MAX_RETRY_ERRORS:
            shown.append(f"- ... and {len(errors) - _MAX_RETRY_ERRORS} more")
        if not shown:
            shown = ["- it did not match the required format"]
        previous = previous_answer.strip()
        if len(previous) > _MAX_PREVIOUS_CHARS:
            previous = previous[:_MAX_PREVIOUS_CHARS] + " [...]"
        return (
            f"{self.build_prompt(instructions_override)}\n\n"
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
