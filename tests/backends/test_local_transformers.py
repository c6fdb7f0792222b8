"""The local backend's chat-template input: the request's images and texts in their order."""

from __future__ import annotations

from typing import Any

from medgemma_ui.backends import BackendSettings
from medgemma_ui.backends.providers.local_transformers import LocalConfig, LocalTransformersBackend
from tests.backends.conftest import MULTI_TEXTS


class _Recorded:
    def to(self, device: str) -> _Recorded:
        self.device = device
        return self


class _Processor:
    """Stands in for a transformers processor: records what it is given."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.kwargs: dict[str, Any] = {}

    def apply_chat_template(self, messages: list[dict[str, Any]], **kwargs: Any) -> _Recorded:
        self.messages, self.kwargs = messages, kwargs
        return _Recorded()


def test_images_go_to_the_processor_as_pil_images_in_order(multi_request) -> None:
    settings = BackendSettings(configs=(LocalConfig(model="google/medgemma-4b-it"),))
    backend = LocalTransformersBackend(settings)
    processor = _Processor()
    inputs = backend._inputs(processor, multi_request, "cpu")
    assert inputs.device == "cpu" and processor.kwargs["add_generation_prompt"] is True
    [message] = processor.messages
    assert message["role"] == "user"
    content = message["content"]
    assert [item["type"] for item in content] == ["text", "image", "text", "image", "text", "text"]
    texts = [item["text"] for item in content if item["type"] == "text"]
    assert tuple(texts) == MULTI_TEXTS
    # The two fixture images differ in size (32x32, then 24x40), so the order is visible.
    assert [item["image"].size for item in content if item["type"] == "image"] == [
        (32, 32),
        (24, 40),
    ]
    assert all(item["image"].mode == "RGB" for item in content if item["type"] == "image")
