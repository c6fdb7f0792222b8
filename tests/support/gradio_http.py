"""Driving a launched app over plain HTTP as the page does: upload a file, then run any event
(private ones too, like the upload's preview) through Gradio's queue with a session of our own.

gradio_client cannot call private events, and the hardening tests need to: they are what an
attacker calls by hand.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Outcome:
    success: bool
    data: list[Any]
    error: str | None


@dataclass
class Page:
    """One browser page: an HTTP client (its cookies: the login) and a session hash."""

    url: str
    client: httpx.Client = field(default=None)  # type: ignore[assignment]
    session_hash: str = field(default_factory=lambda: secrets.token_hex(6))

    def __post_init__(self) -> None:
        if self.client is None:
            self.client = httpx.Client(base_url=self.url, timeout=120)
        self._config: dict[str, Any] | None = None

    def login(self, username: str, password: str) -> httpx.Response:
        return self.client.post("/login", data={"username": username, "password": password})

    @property
    def config(self) -> dict[str, Any]:
        if self._config is None:
            response = self.client.get("/config")
            response.raise_for_status()
            self._config = response.json()
        return self._config

    def component_id(self, elem_id: str) -> int:
        for component in self.config["components"]:
            if component.get("props", {}).get("elem_id") == elem_id:
                return int(component["id"])
        raise KeyError(elem_id)

    def event(self, elem_id: str, trigger: str) -> tuple[int, int]:
        """(fn_index, trigger id) of the event `trigger` of the component `elem_id`."""
        target = self.component_id(elem_id)
        for dependency in self.config["dependencies"]:
            if [target, trigger] in [list(t) for t in dependency.get("targets", [])]:
                return int(dependency["id"]), target
        raise KeyError(f"{elem_id}.{trigger}")

    def upload(self, data: bytes, name: str = "image.png") -> httpx.Response:
        return self.client.post(
            "/gradio_api/upload", files=[("files", (name, data, "application/octet-stream"))]
        )

    def file_data(self, data: bytes, name: str = "image.png") -> dict[str, Any]:
        response = self.upload(data, name)
        response.raise_for_status()
        (path,) = response.json()
        return file_data(path, name)

    def run(self, elem_id: str, trigger: str, data: list[Any]) -> Outcome:
        fn_index, trigger_id = self.event(elem_id, trigger)
        joined = self.client.post(
            "/gradio_api/queue/join",
            json={
                "data": data,
                "event_data": None,
                "fn_index": fn_index,
                "trigger_id": trigger_id,
                "session_hash": self.session_hash,
            },
        )
        if joined.status_code != 200:
            return Outcome(False, [], _detail(joined))
        event_id = joined.json()["event_id"]
        with self.client.stream(
            "GET", "/gradio_api/queue/data", params={"session_hash": self.session_hash}
        ) as stream:
            if stream.status_code != 200:
                stream.read()
                return Outcome(False, [], _detail(stream))
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("event_id") != event_id:
                    continue
                if message.get("msg") == "process_completed":
                    output = message.get("output") or {}
                    return Outcome(
                        bool(message.get("success")), output.get("data") or [], output.get("error")
                    )
        raise AssertionError("the queue closed without completing the event")


def file_data(path: str, name: str = "image.png") -> dict[str, Any]:
    return {"path": path, "orig_name": name, "meta": {"_type": "gradio.FileData"}}


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text
    return str(body.get("detail") or body.get("error") or body) if isinstance(body, dict) else ""
