"""The one analysis pipeline, shared by the UI, the API and the CLI.

`AnalysisRequest` → prepare the images (timed here, whoever prepares them) → the template (chosen,
or suggested from the image) and its prompt → backend (streamed) → parse → when the answer is
invalid, ask again with the problems stated (0–2 retries) → one `AnalysisResult` holding every
raw answer and the provenance of exactly what was sent.

`analyze` is an async generator of events so the UI can show the prepared image, then stream
tokens and progress; callers that only want the result use `analyze_to_result`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import hashlib
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from os import PathLike
from typing import Any, Protocol

from medgemma_ui import __version__
from medgemma_ui.backends import (
    MAX_TOKENS_CAP,
    Backend,
    BackendError,
    Completion,
    GenerationRequest,
    StatusUpdate,
    TextDelta,
)
from medgemma_ui.boxes import Box, boxes_from_answer
from medgemma_ui.findings import Findings, parse_findings
from medgemma_ui.imaging import ImageError, ImageInfo, PreparedImage, prepare
from medgemma_ui.imaging.series import Slice, is_archive, plan_series, select_slices
from medgemma_ui.settings import GenerationDefaults, ImageLimits
from medgemma_ui.templates import (
    AUTO_TEMPLATE,
    Template,
    fill_target,
    get_template,
    list_templates,
    resolve_template_id,
    suggest_template,
)

MAX_PARSE_RETRIES = 2
MAX_TARGET_CHARS = 200
# A template's prompt is about 1-2 thousand characters; an edit far beyond that is not a prompt
# (and would be forwarded to the backend as is).
MAX_PROMPT_CHARS = 20_000


def edited_prompt(prompt: str | None) -> str | None:
    """The prompt to send as typed, or None when it is blank or some template's own prompt.

    A template's own text is never an edit: the chosen template's prompt is used instead, so a
    client that sends the prompt box's old text (or the API's default) with another template
    still gets that template's prompt.
    """
    if prompt is None or not prompt.strip():
        return None
    if prompt.strip() in {t.build_prompt().strip() for t in list_templates()}:
        return None
    return prompt


# A file path or its bytes (prepared here), or an image already prepared.
ImageSource = bytes | str | PathLike[str] | PreparedImage


@dataclass(frozen=True)
class AnalysisRequest:
    """What to analyse and how; built by `AnalysisRequest.build` the same way by the UI, the API
    and the CLI.

    `images` are what the template takes, in order: one image; the prior then the current image;
    the files of a series (or one multi-frame file); or one image and a `target` to locate.
    With template "auto", several images are a series. `prompt` is the full first prompt as
    typed, or None for the chosen template's own (a template's own text, or a blank, counts as
    None: see `edited_prompt`); `{target}` in it is filled in. `frame` is 0-based; `series` is
    the 1-based choice when the files hold several series.
    """

    images: tuple[ImageSource, ...]
    template_id: str = AUTO_TEMPLATE  # a template id, or "auto": suggested from the image
    prompt: str | None = None
    window: str | None = None  # None: the template's window if the image offers it, else its own
    frame: int | None = None
    target: str | None = None
    series: int | None = None
    max_tokens: int = 512
    temperature: float = 0.0
    parse_retries: int = 1
    structured_output: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "images", tuple(self.images))
        if self.prompt is not None and len(self.prompt) > MAX_PROMPT_CHARS:
            raise ValueError(
                f"The prompt is {len(self.prompt):,} characters long; at most "
                f"{MAX_PROMPT_CHARS:,} are sent. Shorten it, or reset it to the template's."
            )
        object.__setattr__(self, "prompt", edited_prompt(self.prompt))
        if not self.images:
            raise ValueError("Give an image to analyse.")
        target = (self.target or "").strip()[:MAX_TARGET_CHARS] or None
        object.__setattr__(self, "target", target)
        if self.template_id != AUTO_TEMPLATE:
            template = get_template(self.template_id)  # an unknown id: the valid ones are listed
            if template.input == "target" and target is None:
                raise ValueError(
                    f"Say what the {template.label} template should locate (for example "
                    f"{', '.join(repr(t) for t in template.targets[:2]) or 'the left lung'})."
                )
            if template.input == "prior" and len(self.images) != 2:
                raise ValueError(
                    f"The {template.label} template needs the prior image and the current one."
                )
        if isinstance(self.max_tokens, bool) or not 1 <= self.max_tokens <= MAX_TOKENS_CAP:
            raise ValueError(f"max_tokens must be between 1 and {MAX_TOKENS_CAP}.")
        if not 0 <= self.parse_retries <= MAX_PARSE_RETRIES:
            raise ValueError(f"parse_retries must be between 0 and {MAX_PARSE_RETRIES}.")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError("temperature must be between 0 and 2.")

    @classmethod
    def build(
        cls,
        images: Sequence[ImageSource],
        defaults: GenerationDefaults,
        *,
        template: str | None = None,
        prompt: str | None = None,
        window: str | None = None,
        frame: int | None = None,
        max_tokens: float | None = None,
        temperature: float | None = None,
        retries: float | None = None,
        structured: bool | None = None,
        structured_allowed: bool = True,
        target: str | None = None,
        series: int | None = None,
    ) -> AnalysisRequest:
        """A request from what a caller chose; None (or nothing) means the default: the
        suggested template, its own prompt, the image's window and middle frame, and the server's
        generation settings. Structured output is used only when `structured_allowed`."""
        return cls(
            images=tuple(images),
            template_id=template or AUTO_TEMPLATE,
            prompt=prompt,
            window=window,
            frame=frame,
            max_tokens=defaults.max_tokens if max_tokens is None else int(max_tokens),
            temperature=defaults.temperature if temperature is None else float(temperature),
            parse_retries=defaults.parse_retries if retries is None else int(retries),
            structured_output=structured_allowed and (True if structured is None else structured),
            target=target,
            series=series,
        )

    def first_prompt(self, template: Template) -> str:
        return fill_target(self.prompt or template.build_prompt(), self.target)


@dataclass(frozen=True)
class Attempt:
    """One request to the model and what came back."""

    number: int
    prompt: str
    raw: str
    findings: Findings
    finish_reason: str | None
    usage: dict[str, Any] | None
    structured_output: bool
    timings_ms: dict[str, float]


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Provenance:
    """Exactly what produced an answer: stored with every rating, shown under every result.

    `image_sha256` lists the SHA-256 of each JPEG sent, in the order sent, and `inputs` says what
    each one was (`role`: image, prior, current or slice; for slices the 0-based `slice_index`
    in the sorted series and the SHA-256 of the SOP Instance UID, never the UID). `frame_index`
    (of the first image) is 0-based (the UI shows it 1-based). `prompt` is the text of the first
    request (after the images; a series' lead text is in `lead`); retries add the previous
    answer and its problems to it (`retries` counts them).
    """

    image_sha256: tuple[str, ...]
    frame_index: int | None
    frame_count: int
    window: str | None
    template: str
    template_version: str
    prompt: str
    prompt_sha256: str
    prompt_edited: bool
    backend: str
    model: str
    max_tokens: int
    temperature: float
    structured_output: bool
    retries: int
    app_version: str
    analyzed_at: str
    inputs: tuple[dict[str, Any], ...] = ()
    target: str | None = None
    lead: str = ""
    series_slices: int = 0  # slices in the series before the 85 were chosen (0: no series)
    request_bytes: int = 0  # the size of the first request's content (images as data URIs)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["image_sha256"] = list(self.image_sha256)
        data["inputs"] = [dict(item) for item in self.inputs]
        return data


@dataclass
class AnalysisResult:
    template_id: str
    template_version: str
    backend: str
    model: str
    image_sha256: str  # the image the result is shown on (the current one of a pair)
    image_info: ImageInfo
    attempts: list[Attempt] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    generation: dict[str, Any] = field(default_factory=dict)
    # The bytes the model received; kept so feedback can store them when that is switched on.
    image_jpeg: bytes = field(default=b"", repr=False)
    retry_error: str = ""  # why a retry request failed, when one did
    template_input: str = "image"
    inputs: tuple[dict[str, Any], ...] = ()  # what each image sent was, in order
    target: str | None = None
    lead: str = ""
    series_slices: int = 0
    request_bytes: int = 0  # the first request's content as sent (images as base64 data URIs)
    analyzed_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )

    @property
    def final(self) -> Attempt:
        return self.attempts[-1]

    @property
    def raw(self) -> str:
        return self.final.raw

    @property
    def raw_answers(self) -> list[str]:
        return [a.raw for a in self.attempts]

    @property
    def parsed(self) -> dict[str, Any] | None:
        return self.final.findings.data

    @property
    def valid(self) -> bool:
        return self.final.findings.valid

    @property
    def errors(self) -> list[str]:
        return list(self.final.findings.errors)

    @property
    def retries(self) -> int:
        return len(self.attempts) - 1

    @property
    def structured_output(self) -> bool:
        return any(a.structured_output for a in self.attempts)

    @property
    def provenance(self) -> Provenance:
        info = self.image_info
        prompt = self.attempts[0].prompt if self.attempts else ""
        sent = tuple(str(item["image_sha256"]) for item in self.inputs) or (self.image_sha256,)
        return Provenance(
            image_sha256=sent,
            frame_index=info.frame_index,
            frame_count=info.frame_count,
            window=info.window or None,
            template=self.template_id,
            template_version=self.template_version,
            prompt=prompt,
            prompt_sha256=sha256_text(prompt),
            prompt_edited=bool(self.generation.get("prompt_edited")),
            backend=self.backend,
            model=self.model,
            max_tokens=int(self.generation.get("max_tokens", 0)),
            temperature=float(self.generation.get("temperature", 0.0)),
            structured_output=self.structured_output,
            retries=self.retries,
            app_version=__version__,
            analyzed_at=self.analyzed_at,
            inputs=self.inputs,
            target=self.target,
            lead=self.lead,
            series_slices=self.series_slices,
            request_bytes=self.request_bytes,
        )

    @property
    def boxes(self) -> list[Box]:
        """For a localisation template: the answer's boxes in original-image pixels."""
        if self.template_input != "target" or not self.attempts:
            return []
        return boxes_from_answer(self.parsed, self.image_info.original_size)[0]

    def to_json(self) -> dict[str, Any]:
        """The CLI's line, without the input name (the caller adds it)."""
        return {
            "template": self.template_id,
            "template_version": self.template_version,
            "backend": self.backend,
            "model": self.model,
            "raw": self.raw,
            "parsed": self.parsed,
            "valid": self.valid,
            "errors": self.errors + ([self.retry_error] if self.retry_error else []),
            "repaired": self.final.findings.repaired,
            "retries": self.retries,
            "raw_answers": self.raw_answers,
            "structured_output": self.structured_output,
            "image_sha256": self.image_sha256,
            "provenance": self.provenance.to_json(),
            **(
                {"boxes": [b.to_json() for b in self.boxes]}
                if self.template_input == "target"
                else {}
            ),
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }


@dataclass(frozen=True)
class Progress:
    """Something the user should see while waiting: preparing, waking endpoint, retrying."""

    stage: str
    message: str


@dataclass(frozen=True)
class Prepared:
    """The images about to be sent, in order, before the model is asked."""

    images: tuple[PreparedImage, ...]
    template: Template


@dataclass(frozen=True)
class Token:
    attempt: int
    text: str


@dataclass(frozen=True)
class Done:
    result: AnalysisResult


AnalysisEvent = Progress | Prepared | Token | Done


class Preparer(Protocol):
    """Turns one image source into the model's input (the UI's worker pool and cache, or
    `prepare` in a thread)."""

    async def __call__(
        self, source: bytes | str | PathLike[str], *, window: str | None, frame: int | None
    ) -> PreparedImage: ...


def request_size(content: Sequence[bytes | str]) -> int:
    """Bytes of a user turn as sent: each image as a base64 JPEG data URI, each text as UTF-8."""
    total = 0
    for part in content:
        if isinstance(part, bytes):
            total += len("data:image/jpeg;base64,") + 4 * -(-len(part) // 3)
        else:
            total += len(part.encode("utf-8"))
    return total


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def thread_preparer(limits: ImageLimits | None = None) -> Preparer:
    """`prepare` in a thread: CPU work kept off the event loop so other users stay served."""

    async def prepare_in_thread(
        source: bytes | str | PathLike[str], *, window: str | None, frame: int | None
    ) -> PreparedImage:
        return await asyncio.to_thread(prepare, source, window=window, frame=frame, limits=limits)

    return prepare_in_thread


async def _prepare_one(
    source: ImageSource, request: AnalysisRequest, preparer: Preparer
) -> tuple[PreparedImage, Template]:
    """The image as it will be sent, and the template: the chosen one, or the one the image's
    facts suggest. With no window chosen, the template's own window is used when the image
    offers it (so both are decided here, once)."""
    if isinstance(source, PreparedImage):
        image = source
    else:
        image = await preparer(source, window=request.window, frame=request.frame)
    template = get_template(resolve_template_id(request.template_id, image.info))
    window = template.window_for(image.info.window_choices)
    if (
        request.window is None
        and window not in (None, image.info.window)
        and not isinstance(source, PreparedImage)
    ):
        image = await preparer(source, window=window, frame=request.frame)
    return image, template


@dataclass(frozen=True)
class PreparedRequest:
    """The images of a request as they will be sent, what each one is, and the template."""

    images: tuple[PreparedImage, ...]
    inputs: tuple[dict[str, Any], ...]
    template: Template
    principal: int = 0  # the image a result is shown on and rated against
    series_slices: int = 0


def _explicit_template(request: AnalysisRequest) -> Template | None:
    if request.template_id == AUTO_TEMPLATE:
        return None
    return get_template(request.template_id)


async def _prepare_series(
    request: AnalysisRequest, preparer: Preparer, limits: ImageLimits | None
) -> PreparedRequest:
    """Group, sort and choose the slices (headers only, in a thread), prepare the first to learn
    the template and window, then the others in parallel in the image workers."""
    explicit = _explicit_template(request)
    if all(isinstance(s, PreparedImage) for s in request.images):
        chosen = [request.images[i] for i in select_slices(len(request.images))]
        images = tuple(i for i in chosen if isinstance(i, PreparedImage))
        template = explicit or _series_template(images[0].info)
        inputs = tuple(
            {"role": "slice", "image_sha256": i.sha256, "slice_index": n}
            for n, i in enumerate(images)
        )
        return PreparedRequest(images, inputs, template, 0, len(request.images))
    sources = [s for s in request.images if not isinstance(s, PreparedImage)]
    plan = await asyncio.to_thread(plan_series, sources, limits, choose=request.series)
    first_slice = plan.slices[0]
    first = await preparer(first_slice.source, window=request.window, frame=first_slice.frame)
    template = explicit or _series_template(first.info)
    window = request.window or template.window_for(first.info.window_choices) or first.info.window

    async def slice_image(piece: Slice) -> PreparedImage:
        if piece is first_slice and window == first.info.window:
            return first  # already prepared as it will be sent
        return await preparer(piece.source, window=window, frame=piece.frame)

    images = tuple(await asyncio.gather(*(slice_image(piece) for piece in plan.slices)))
    inputs = tuple(
        {
            "role": "slice",
            "image_sha256": image.sha256,
            "slice_index": piece.index,
            "instance_sha256": piece.instance_sha256,
            "frame_index": piece.frame,
        }
        for piece, image in zip(plan.slices, images, strict=True)
    )
    return PreparedRequest(images, inputs, template, 0, plan.total)


def _series_template(info: ImageInfo) -> Template:
    suggested = suggest_template(info, "series")
    if suggested is None:
        modality = info.modality or info.source_format.upper()
        raise ImageError(
            f"No template reads a series of {modality} images; choose a template, or upload "
            "one image.",
            kind="bad_request",
        )
    return get_template(suggested)


async def prepare_request(
    request: AnalysisRequest, preparer: Preparer, limits: ImageLimits | None = None
) -> PreparedRequest:
    """Every image of the request as it will be sent (prepared in parallel), and the template."""
    explicit = _explicit_template(request)
    several = len(request.images) > 1 or (
        len(request.images) == 1
        and not isinstance(request.images[0], PreparedImage)
        and is_archive(request.images[0])
    )
    kind = explicit.input if explicit else ("series" if several else "image")
    if kind == "series":
        return await _prepare_series(request, preparer, limits)
    prepared = await asyncio.gather(
        *(_prepare_one(source, request, preparer) for source in request.images)
    )
    images = tuple(image for image, _ in prepared)
    template = explicit or prepared[0][1]
    roles: tuple[str, ...] = ("prior", "current") if template.input == "prior" else ("image",)
    if len(images) != len(roles):
        raise ValueError(
            f"The {template.label} template takes {len(roles)} image(s); {len(images)} were given."
        )
    inputs = tuple(
        {"role": role, "image_sha256": image.sha256, "frame_index": image.info.frame_index}
        for role, image in zip(roles, images, strict=True)
    )
    return PreparedRequest(images, inputs, template, principal=len(images) - 1)


async def analyze(
    request: AnalysisRequest,
    backend: Backend,
    *,
    preparer: Preparer | None = None,
    backend_slot: AbstractAsyncContextManager[Any] | None = None,
    limits: ImageLimits | None = None,
) -> AsyncIterator[AnalysisEvent]:
    """Prepare, then stream one analysis. Raises `ImageError` for an image that cannot be used
    and `BackendError` when the model cannot answer. `backend_slot` is entered only around the
    model's part, so waiting for a backend never holds up preparing."""
    preparer = preparer or thread_preparer(limits)
    started = time.perf_counter()
    needs_preparing = any(not isinstance(s, PreparedImage) for s in request.images)
    if needs_preparing:
        many = len(request.images) > 1
        yield Progress("preparing", "Preparing the images" if many else "Preparing the image")
    prepared = await prepare_request(request, preparer, limits)
    prepare_ms = _ms_since(started)
    yield Prepared(prepared.images, prepared.template)
    async with backend_slot or contextlib.nullcontext():
        async for event in run_analysis(prepared, request, backend):
            if isinstance(event, Done) and needs_preparing:
                timings = event.result.timings_ms
                event.result.timings_ms = {"prepare": prepare_ms, **timings}
            yield event


async def run_analysis(
    prepared: PreparedRequest | PreparedImage,
    request: AnalysisRequest,
    backend: Backend,
    *,
    template: Template | None = None,
) -> AsyncIterator[AnalysisEvent]:
    """Stream one analysis of already prepared images (or one image). Raises `BackendError` on
    failure."""
    if isinstance(prepared, PreparedImage):
        single = prepared
        template = template or get_template(resolve_template_id(request.template_id, single.info))
        prepared = PreparedRequest(
            (single,),
            (
                {
                    "role": "image",
                    "image_sha256": single.sha256,
                    "frame_index": single.info.frame_index,
                },
            ),
            template,
        )
    template = prepared.template
    image = prepared.images[prepared.principal]
    started = time.perf_counter()
    use_schema = bool(request.structured_output and backend.supports_structured_output)
    result = AnalysisResult(
        template_id=template.id,
        template_version=template.version,
        backend=backend.name,
        model=backend.model,
        image_sha256=image.sha256,
        image_info=image.info,
        generation={
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "parse_retries": request.parse_retries,
            "structured_output_requested": request.structured_output,
            "structured_output_used": use_schema,
            "prompt_edited": request.prompt is not None,
        },
        image_jpeg=image.jpeg,
        template_input=template.input,
        inputs=prepared.inputs,
        target=request.target if template.input == "target" else None,
        lead=template.lead.strip() if template.input == "series" else "",
        series_slices=prepared.series_slices,
    )
    jpegs = [each.jpeg for each in prepared.images]
    result.request_bytes = request_size(
        template.build_content(jpegs, request.first_prompt(template))
    )
    first_prompt = prompt = request.first_prompt(template)
    generate_ms = parse_ms = 0.0
    first_token_ms: float | None = None
    for number in range(1, request.parse_retries + 2):
        if number > 1:
            previous = result.final
            yield Progress(
                "retrying",
                f"The answer was not valid JSON for this template; asking again "
                f"({number - 1} of {request.parse_retries}).",
            )
            prompt = template.build_retry_prompt(
                previous.raw, previous.findings.errors, first_prompt=first_prompt
            )
        generation_request = GenerationRequest(
            content=template.build_content(jpegs, prompt),
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            json_schema=copy.deepcopy(template.schema) if use_schema else None,
        )
        attempt_start = time.perf_counter()
        completion: Completion | None = None
        pieces: list[str] = []
        try:
            async for event in backend.stream(generation_request):
                if isinstance(event, TextDelta):
                    if first_token_ms is None:
                        first_token_ms = _ms_since(started)
                    pieces.append(event.text)
                    yield Token(number, event.text)
                elif isinstance(event, StatusUpdate):
                    yield Progress(event.kind, event.message)
                elif isinstance(event, Completion):
                    completion = event
        except BackendError as exc:
            if number == 1 and len(jpegs) > 1 and exc.kind in {"too_many_images", "too_large"}:
                raise BackendError(
                    exc.kind,
                    f"{exc} This request held {len(jpegs)} images "
                    f"({result.request_bytes / 1e6:.1f} MB).",
                    detail=exc.detail,
                    retryable=False,
                    status=exc.status,
                ) from None
            if number == 1:
                raise
            # Keep what the first answer gave rather than losing it to a failed retry.
            result.retry_error = str(exc)
            yield Progress("retry_failed", f"The retry failed: {exc} The earlier answer is shown.")
            break
        if completion is None:
            raise BackendError(
                "bad_response",
                "The backend ended the answer without completing it; please try again.",
            )
        attempt_ms = _ms_since(attempt_start)
        generate_ms += attempt_ms
        raw = completion.text if completion.text else "".join(pieces)
        parse_start = time.perf_counter()
        findings = parse_findings(raw, template.schema)
        parse_ms += _ms_since(parse_start)
        result.model = completion.model or result.model
        result.attempts.append(
            Attempt(
                number=number,
                prompt=prompt,
                raw=raw,
                findings=findings,
                finish_reason=completion.finish_reason,
                usage=completion.usage,
                structured_output=completion.structured_output,
                timings_ms={"generate": attempt_ms, **dict(completion.timings_ms or {})},
            )
        )
        if findings.valid:
            break
    # What the backend did: it may decline the schema (MEDGEMMA_STRUCTURED_OUTPUT off).
    result.generation["structured_output_used"] = result.structured_output
    result.timings_ms = {
        "first_token": first_token_ms if first_token_ms is not None else 0.0,
        "generate": generate_ms,
        "parse": parse_ms,
        "total": _ms_since(started),
    }
    yield Done(result)


async def analyze_to_result(
    request: AnalysisRequest,
    backend: Backend,
    *,
    preparer: Preparer | None = None,
    limits: ImageLimits | None = None,
) -> AnalysisResult:
    """`analyze`, returning only the final result."""
    async for event in analyze(request, backend, preparer=preparer, limits=limits):
        if isinstance(event, Done):
            return event.result
    raise BackendError("bad_response", "The analysis ended without a result; please try again.")
