"""A loopback HTTP server speaking the three Hub endpoints CommitScheduler uses (hf_hub 2.4.0):
`POST /api/repos/create`, `POST /api/{type}s/{repo}/preupload/{rev}`, `POST .../commit/{rev}`."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PREUPLOAD = re.compile(r"^/api/(\w+)s/([^/]+/[^/]+)/preupload/([^/?]+)")
_COMMIT = re.compile(r"^/api/(\w+)s/([^/]+/[^/]+)/commit/([^/?]+)")


@dataclass
class FakeHub:
    url: str = ""
    refuse_create: bool = False
    created: list[dict[str, Any]] = field(default_factory=list)
    commits: list[dict[str, Any]] = field(default_factory=list)  # {"repo", "files": {path: bytes}}
    files: dict[str, bytes] = field(default_factory=dict)  # repo state after all commits
    auth: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            hub.unexpected.append(f"GET {self.path}")
            self._reply(404, {"error": "not emulated"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hub.auth.append(self.headers.get("Authorization", ""))
            if self.path == "/api/repos/create":
                payload = json.loads(body)
                hub.created.append(payload)
                if hub.refuse_create:
                    return self._reply(400, {"error": "Invalid repo name"})
                repo = f"{payload['organization']}/{payload['name']}"
                return self._reply(200, {"url": f"{hub.url}/datasets/{repo}"})
            if m := _PREUPLOAD.match(self.path):
                files = json.loads(body)["files"]
                return self._reply(
                    200,
                    {
                        "files": [
                            {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                            for f in files
                        ]
                    },
                )
            if m := _COMMIT.match(self.path):
                lines = [json.loads(line) for line in body.splitlines() if line.strip()]
                added = {
                    item["value"]["path"]: base64.b64decode(item["value"]["content"])
                    for item in lines
                    if item["key"] == "file"
                }
                hub.commits.append({"repo": m.group(2), "type": m.group(1), "files": added})
                hub.files.update(added)
                oid = hashlib.sha1(body).hexdigest()
                return self._reply(
                    200,
                    {
                        "commitUrl": f"{hub.url}/datasets/{m.group(2)}/commit/{oid}",
                        "commitOid": oid,
                    },
                )
            hub.unexpected.append(f"POST {self.path}")
            return self._reply(404, {"error": "not emulated"})

    return Handler


@contextmanager
def fake_hub() -> Iterator[FakeHub]:
    hub = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
