"""The page's components by name, and handler updates given by name mapped onto them."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import gradio as gr

Refs = dict[str, Any]


def by_component(refs: Refs, named: Mapping[str, Any]) -> dict[Any, Any]:
    """`{output name: value}` from a handler -> `{component: value}`, as Gradio takes it."""
    return {refs[name]: value for name, value in named.items()}


def named_inputs(
    handler: Callable[
        [dict[str, Any], gr.OAuthToken | None, gr.Progress, gr.Request | None],
        AsyncIterator[Any],
    ],
    names: Mapping[str, str] | tuple[str, ...],
) -> Callable[..., AsyncIterator[Any]]:
    """An event function whose parameters are `names` (so the API shows them), that hands the
    handler its inputs as one `{name: value}` dict: the names are written once, in one list.
    Gradio also passes the sign-in token, a progress tracker and the request (who is calling),
    found by the signature."""

    async def event(*values: Any) -> AsyncIterator[Any]:
        *inputs, oauth_token, progress, request = values
        named = dict(zip(names, inputs, strict=True))
        async for update in handler(named, oauth_token, progress, request):
            yield update

    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    # Every input but the first defaults to None, so an API client may leave it out; one whose
    # component has a value (a slider, a dropdown) gets that value as its default instead.
    event.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(name, keyword, **({"default": None} if n else {}))
            for n, name in enumerate(names)
        ]
        + [
            inspect.Parameter("oauth_token", keyword, default=None),
            inspect.Parameter("progress", keyword, default=gr.Progress()),
            inspect.Parameter("request", keyword, default=None),
        ]
    )
    event.__annotations__ = {"oauth_token": gr.OAuthToken | None, "request": gr.Request}
    return event
