"""MedGemma loaded in-process with transformers (GPU workstation or ZeroGPU Space).

torch and transformers are imported only when this backend loads its model
(`pip install -r requirements-local.txt`).
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import os
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from medgemma_ui.backends.base import Backend
from medgemma_ui.backends.config import ProviderConfig, env_name, setting
from medgemma_ui.backends.errors import BackendError, is_cuda_error
from medgemma_ui.backends.types import (
    AttemptEnd,
    AttemptEvent,
    BackendStatus,
    GenerationRequest,
    StatusUpdate,
    TextDelta,
)
from medgemma_ui.redaction import redact


class LocalConfig(ProviderConfig):
    model: str = setting(
        "MEDGEMMA_LOCAL_MODEL",
        "a model id or folder, e.g. google/medgemma-4b-it",
        required=True,
    )
    device: str = setting(
        "MEDGEMMA_LOCAL_DEVICE", "cuda, cuda:1 or cpu; empty: cuda if available, else cpu"
    )


def _zero_gpu_wrapper() -> Callable[[Callable[..., Any]], Callable[..., Any]] | None:
    if not os.environ.get("SPACES_ZERO_GPU"):
        return None
    try:
        import spaces
    except ImportError:
        return None
    return spaces.GPU


class LocalTransformersBackend(Backend[LocalConfig]):
    name = "local"
    label = "local transformers model"
    order = 40
    supports_structured_output = False
    setup_note = "install requirements-local.txt"

    # Per instance once set: the loaded processor, model and device, and the lock around loading.
    _loaded: tuple[Any, Any, str] | None = None
    _load_lock: asyncio.Lock | None = None

    @property
    def model(self) -> str:
        return self.config.model or "(none)"

    async def health(self) -> BackendStatus:
        if not self.configured:
            return self.not_configured_status()
        missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
        if missing:
            return BackendStatus(
                "unreachable", f"{' and '.join(missing)} not installed", self.model
            )
        detail = "loaded" if self._loaded else "loads on first use"
        return BackendStatus("ready", detail, self.model)

    def _load_sync(self) -> tuple[Any, Any, str]:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        device = self.config.device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        processor = AutoProcessor.from_pretrained(self.config.model)
        model = AutoModelForImageTextToText.from_pretrained(self.config.model, dtype=dtype)
        model.to(device).eval()  # type: ignore[arg-type]  # transformers' stubs misread .to
        return processor, model, device

    async def _ensure_loaded(self) -> tuple[Any, Any, str]:
        if self._load_lock is None:
            self._load_lock = asyncio.Lock()
        async with self._load_lock:
            if self._loaded is None:
                try:
                    self._loaded = await asyncio.to_thread(self._load_sync)
                except ImportError as error:
                    raise BackendError(
                        "not_configured",
                        "The local backend needs torch and transformers; install "
                        "requirements-local.txt.",
                        detail=str(error),
                        retryable=False,
                    ) from None
                except (OSError, ValueError) as error:
                    raise BackendError(
                        "not_found",
                        "The local model could not be loaded; "
                        f"check {env_name(LocalConfig, 'model')}.",
                        detail=redact(f"{type(error).__name__}: {error}"),
                        retryable=False,
                    ) from None
            return self._loaded

    def _inputs(self, processor: Any, request: GenerationRequest, device: str) -> Any:
        from PIL import Image

        # The model's own chat template, with the request's images and texts in their order;
        # images go in as PIL images, not data URIs.
        content = [
            {"type": "image", "image": Image.open(io.BytesIO(part)).convert("RGB")}
            if isinstance(part, bytes)
            else {"type": "text", "text": part}
            for part in request.content
        ]
        messages = [{"role": "user", "content": content}]
        inputs = processor.apply_chat_template(
            messages,
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            return_tensors="pt",
        )
        return inputs.to(device)

    async def _attempt(
        self, request: GenerationRequest, structured: bool
    ) -> AsyncIterator[AttemptEvent]:
        if self._loaded is None:
            yield StatusUpdate(f"Loading {self.config.model} (first use only)…", "loading")
        processor, model, device = await self._ensure_loaded()
        from transformers import TextIteratorStreamer

        inputs = self._inputs(processor, request, device)
        prompt_tokens = int(inputs["input_ids"].shape[-1])
        streamer = TextIteratorStreamer(
            processor.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=0.05
        )
        stop = threading.Event()
        result: dict[str, Any] = {}

        def generate() -> None:
            from transformers import StoppingCriteria, StoppingCriteriaList

            class _Stop(StoppingCriteria):
                def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
                    return stop.is_set()

            kwargs: dict[str, Any] = {
                **inputs,
                "max_new_tokens": request.max_tokens,
                "streamer": streamer,
                "stopping_criteria": StoppingCriteriaList([_Stop()]),
            }
            if request.temperature > 0:
                kwargs.update(do_sample=True, temperature=request.temperature)
            else:
                kwargs.update(do_sample=False)
            try:
                output = model.generate(**kwargs)
                result["new_tokens"] = int(output.shape[-1]) - prompt_tokens
            except Exception as error:  # reported to the consumer below
                result["error"] = error
                streamer.end()

        target = generate
        wrapper = _zero_gpu_wrapper()
        if wrapper is not None:
            target = wrapper(generate)
        worker = asyncio.create_task(asyncio.to_thread(target))
        try:
            iterator = iter(streamer)
            while True:
                chunk = await asyncio.to_thread(_next_or_none, iterator)
                if chunk is _END:
                    break
                if chunk:
                    yield TextDelta(chunk)
            await worker
        finally:
            stop.set()  # a cancelled consumer stops generation at the next token
        if "error" in result:
            error = result["error"]
            detail = redact(f"{type(error).__name__}: {error}")
            if is_cuda_error(str(error)):
                raise BackendError(
                    "cuda",
                    "The GPU failed on this request; try fewer max tokens or another backend.",
                    detail=detail,
                    retryable=False,
                )
            raise BackendError(
                "server",
                "The local model failed while generating; see the log for details.",
                detail=detail,
                retryable=False,
            )
        new_tokens = result.get("new_tokens", 0)
        reason = "length" if new_tokens >= request.max_tokens else "stop"
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": new_tokens,
            "total_tokens": prompt_tokens + new_tokens,
        }
        yield AttemptEnd(finish_reason=reason, usage=usage, model=self.config.model)

    async def aclose(self) -> None:
        self._loaded = None


_END = object()


def _next_or_none(iterator: Any) -> Any:
    """Next streamer chunk, "" while the model is still thinking, `_END` when it is done."""
    import queue

    try:
        return next(iterator)
    except StopIteration:
        return _END
    except queue.Empty:
        return ""


BACKEND = LocalTransformersBackend
