"""What the server enforces below Gradio's routes (an ASGI middleware inside Gradio's app, so
OAuth's session is already decoded when it runs):

- every response forbids framing by other sites (`X-Frame-Options`, CSP `frame-ancestors`;
  on a Space, huggingface.co, which shows the app in a frame, is allowed);
- `/login`: the backoff of `access.LoginGuard`, per user name and per client address, with a
  sentence saying when to try again (HTTP 429), which the sign-in page shows (a script added to
  the page, `assets/login-wait.html`: Gradio's page shows only "Incorrect Credentials");
- `/gradio_api/upload`: with OAuth organisations on, only signed-in members may upload; files
  are stored under random names and remembered with their sender (`uploads.py`);
- `/gradio_api/file=...`: another login's upload, or the exports in the app's data folder
  (Gradio serves its own copy of an export to the admin who asked), is refused;
- `/gradio_api/queue/join` and `/queue/data`: a session belongs to the login that started it;
- `/gradio_api/call/v2/NAME`: a name that is not a public API endpoint gets a sentence (Gradio
  answered 500).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from medgemma_ui.ui import uploads
from medgemma_ui.ui.access import address_key, client_address, name_key
from medgemma_ui.ui.services import Services

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API = "/gradio_api"
_SESSION_ROUTES = (f"{API}/queue/join", f"{API}/queue/data")
_MAX_BODY = 1024 * 1024  # login forms and queue joins are small; uploads are streamed
_SESSIONS_KEPT = 100_000


class Guard:
    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services
        on_spaces = services.settings.server.on_spaces
        ancestors = "'self' https://huggingface.co" if on_spaces else "'self'"
        self.headers = [(b"content-security-policy", f"frame-ancestors {ancestors}".encode())]
        if not on_spaces:  # no X-Frame-Options value allows another site
            self.headers.append((b"x-frame-options", b"SAMEORIGIN"))
        self.exports = services.exports_dir.resolve()
        self._sessions: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        script = Path(__file__).resolve().parents[2] / "assets" / "login-wait.html"
        self.login_script = script.read_bytes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._framing_headers(send)
        path, method = scope["path"], scope["method"]
        if method == "POST" and path.rstrip("/") == "/login":
            await self._login(scope, receive, send)
        elif method == "GET" and path == "/":
            await self._page(scope, receive, send)
        elif method == "POST" and path.rstrip("/") == f"{API}/upload":
            await self._upload(scope, receive, send)
        elif path.startswith((f"{API}/file=", f"{API}/file/")):
            await self._file(scope, receive, send)
        elif path in _SESSION_ROUTES:
            await self._session(scope, receive, send)
        elif method == "POST" and path.startswith(f"{API}/call/v2/"):
            await self._call_v2(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    # --- pieces ----------------------------------------------------------------------------

    def _framing_headers(self, send: Send) -> Send:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        return sending

    def _address(self, scope: Scope) -> str:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        return client_address(
            scope.get("client"), headers, behind_proxy=self.services.settings.server.on_spaces
        )

    async def _identity(self, scope: Scope) -> tuple[bool, str | None]:
        """(signed in, login): the password login of the request's cookie, or with OAuth the
        Hub user name of a signed-in member (checked with the Hub, cached)."""
        gradio_app = scope.get("app")
        if self.services.org_gate.enabled:
            info = (scope.get("session") or {}).get("oauth_info") or {}
            expires = info.get("expires_at")
            token = info.get("access_token") if not expires or expires > time.time() else None
            if not token:
                return False, None
            name = await asyncio.to_thread(self.services.org_gate.member, token)
            return name is not None, name
        if gradio_app is None or getattr(gradio_app, "auth", None) is None:
            return True, None  # no logins: everyone is in, and nobody is told apart
        cookies = _cookies(scope)
        cookie_id = gradio_app.cookie_id
        token = cookies.get(f"access-token-{cookie_id}") or cookies.get(
            f"access-token-unsecure-{cookie_id}"
        )
        login = gradio_app.tokens.get(token) if token else None
        return login is not None, login

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        if body is None:
            await _json(send, 413, {"detail": "That sign-in request is too large."})
            return
        form = parse_qs(body.decode("utf-8", "replace"))
        name = (form.get("username") or [""])[0].strip()
        keys = (name_key(name), address_key(self._address(scope)))
        guard = self.services.login_guard
        wait = guard.wait_s(*keys)
        if wait > 0:
            log.info("login refused: waiting out earlier failures")
            headers = [(b"retry-after", str(int(wait) + 1).encode())]
            await _json(send, 429, {"detail": guard.refusal(wait)}, headers)
            return
        status: list[int] = []

        async def watching(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        await self.app(scope, _replay(body, receive), watching)
        if status and status[0] == 200:
            guard.succeeded(keys[0])
        elif status and status[0] == 400:  # Gradio's "Incorrect credentials"
            guard.failed(*keys)

    async def _page(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The page (the sign-in form when logins are on), with the script that shows why a
        sign-in was refused for now."""
        gradio_app = scope.get("app")
        if gradio_app is None or getattr(gradio_app, "auth", None) is None:
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def sending(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                kinds = [v for k, v in message.get("headers", []) if k == b"content-type"]
                if not (kinds and kinds[0].startswith(b"text/html")):
                    await send(message)
                    return
                start = message
                return
            if start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks).replace(b"</head>", self.login_script + b"</head>", 1)
            headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, sending)

    async def _upload(self, scope: Scope, receive: Receive, send: Send) -> None:
        signed_in, login = await self._identity(scope)
        if not signed_in:
            sentence = (
                self.services.org_gate.refusal()
                if self.services.org_gate.enabled
                else "Sign in to upload files."
            )
            await _json(send, 401, {"detail": sentence})
            return
        from gradio.route_utils import MultiPartException
        from starlette.requests import Request

        gradio_app = scope["app"]
        blocks = gradio_app.get_blocks()
        request = Request(scope, receive)
        limit = blocks.max_file_size if blocks.max_file_size is not None else float("inf")
        try:
            paths = await uploads.receive(
                request,
                gradio_app.uploaded_file_dir,
                limit,
                request.query_params.get("upload_id"),
            )
        except MultiPartException as exc:
            code = 413 if "maximum allowed size" in exc.message else 400
            await _text(send, code, exc.message)
            return
        for path in paths:
            self.services.uploads.add(path, login)
        blocks.upload_file_set.update(paths)  # purged with Gradio's own uploads
        await _json(send, 200, paths)

    async def _file(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]  # already percent-decoded, as Gradio's route reads it
        target = Path(path.split("file=", 1)[1] if "file=" in path else path[len(API) + 6 :])
        try:
            resolved = target.resolve()
        except (OSError, ValueError):
            resolved = target
        if resolved.is_relative_to(self.exports):  # only Gradio's copy is for downloading
            await _json(send, 403, {"detail": "File not allowed."})
            return
        known, owner = self.services.uploads.owner(resolved)
        if known and owner is not None:
            _signed_in, login = await self._identity(scope)
            if login != owner:
                log.info("a file route request for another login's upload was refused")
                await _json(send, 403, {"detail": "File not allowed."})
                return
        await self.app(scope, receive, send)

    async def _session(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A session's queue (its state, its results) belongs to the login that started it."""
        body = b""
        if scope["method"] == "POST":
            read = await _read_body(receive)
            if read is None:
                await _json(send, 413, {"detail": "That request is too large."})
                return
            body = read
            try:
                session = str(json.loads(body or b"{}").get("session_hash") or "")
            except (ValueError, AttributeError):
                session = ""
        else:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            session = (query.get("session_hash") or [""])[0]
        _, login = await self._identity(scope)
        if session and login is not None:
            with self._lock:
                holder = self._sessions.setdefault(session, login)
                self._sessions.move_to_end(session)
                while len(self._sessions) > _SESSIONS_KEPT:
                    self._sessions.popitem(last=False)
            if holder != login:
                log.info("a request for another login's session was refused")
                await _json(send, 403, {"detail": "This session belongs to another sign-in."})
                return
        await self.app(scope, _replay(body, receive) if body else receive, send)

    async def _call_v2(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = scope["path"][len(f"{API}/call/v2/") :].strip("/")
        blocks = scope["app"].get_blocks()
        public = sorted(
            fn.api_name
            for fn in blocks.fns.values()
            if isinstance(fn.api_name, str) and getattr(fn, "api_visibility", "") == "public"
        )
        if name not in public:
            listed = " and ".join(f"/{n}" for n in public) or "none"
            await _json(
                send,
                404,
                {
                    "error": f"There is no public API endpoint named /{name}; the public ones "
                    f"are {listed} (the page's Use via API link shows them)."
                },
            )
            return
        await self.app(scope, receive, send)


# --- ASGI helpers --------------------------------------------------------------------------


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None past `_MAX_BODY`."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, then the connection's own messages (its disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _cookies(scope: Scope) -> dict[str, str]:
    from http.cookies import SimpleCookie

    jar: SimpleCookie = SimpleCookie()
    for key, value in scope["headers"]:
        if key == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:
                continue
    return {name: morsel.value for name, morsel in jar.items()}


async def _respond(
    send: Send, status: int, body: bytes, content_type: bytes, headers: list | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _json(send: Send, status: int, payload: Any, headers: list | None = None) -> None:
    await _respond(send, status, json.dumps(payload).encode(), b"application/json", headers)


async def _text(send: Send, status: int, text: str) -> None:
    await _respond(send, status, text.encode(), b"text/plain; charset=utf-8")
