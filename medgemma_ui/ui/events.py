"""Event functions that check their caller first, the same way every time: `for_caller` (an
event that touches files or patient data) and `admin_only` (the review, exports, dashboards).

Decorate a body that takes only the event's inputs. Gradio hands an event function the request
and the sign-in token by its parameters' annotations (`gr.Request`, `gr.OAuthToken | None`;
`gradio.helpers.special_args`) and names the event's endpoint after the function, so the event
function it is given has the body's name and the signature it would have had written by hand:
`(<inputs>, request: gr.Request, oauth_token: gr.OAuthToken | None = None)`.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import gradio as gr

from medgemma_ui.ui.access import require_admin

if TYPE_CHECKING:
    from medgemma_ui.ui.services import Services

T = TypeVar("T")
EventBody = Callable[..., Awaitable[T]]


def for_caller(services: Services) -> Callable[[EventBody[T]], EventBody[T]]:
    """The body runs `acting_for` its caller (`Services.acting_for`): with OAuth organisations
    on, only signed-in members pass, on the server; what it prepares uses the caller's share of
    the image workers and may read only their own uploads."""

    def decorate(body: EventBody[T]) -> EventBody[T]:
        async def event(*values: Any) -> T:
            *inputs, request, oauth_token = values
            with services.acting_for(request, oauth_token):
                return await body(*inputs)

        return _as_event(event, body)

    return decorate


def admin_only(services: Services) -> Callable[[EventBody[T]], EventBody[T]]:
    """The event's inputs are the admin password, then the body's own; `require_admin` checks
    the admin right on every call, whatever the page shows (events can be called by name),
    before the body runs."""

    def decorate(body: EventBody[T]) -> EventBody[T]:
        async def event(password: str | None, *values: Any) -> T:
            *inputs, request, oauth_token = values
            require_admin(services, request, password, oauth_token)
            return await body(*inputs)

        return _as_event(event, body, password=str)

    return decorate


def _as_event(event: EventBody[T], body: EventBody[T], **leading: Any) -> EventBody[T]:
    """`event` as Gradio should see it: named as `body`; its parameters the `leading` inputs
    (name=type), the body's (which therefore take no defaults), then `request` and
    `oauth_token`, annotated so that Gradio fills those two in."""
    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    event.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            *(inspect.Parameter(name, keyword) for name in leading),
            *inspect.signature(body).parameters.values(),
            inspect.Parameter("request", keyword),
            inspect.Parameter("oauth_token", keyword, default=None),
        ]
    )
    try:
        own = typing.get_type_hints(body)  # the body's types, for the API's description
    except (NameError, TypeError):
        own = {}
    event.__annotations__ = {
        **leading,
        **own,
        "request": gr.Request,
        "oauth_token": gr.OAuthToken | None,
    }
    event.__name__, event.__qualname__ = body.__name__, body.__qualname__
    event.__module__, event.__doc__ = body.__module__, body.__doc__
    return event
