"""Test helper: drive the chat page's events over HTTP as the browser does (Gradio's protocol).

``/gradio_api/upload`` stores files; ``/gradio_api/queue/join`` starts an event (``fn_index`` found in
``/config`` by the ``elem_id`` of its inputs or outputs); ``/gradio_api/queue/data`` streams its
messages (estimation, process_starts, progress, process_completed) as server-sent events.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import httpx


class PageClient:
    """One browser session on the page at ``base`` (its own ``session_hash``)."""

    def __init__(self, base: str, cookies: dict | None = None, timeout: float = 300.0):
        self.http = httpx.Client(base_url=base, timeout=timeout, cookies=cookies or {})
        self.config = self.http.get("/config").json()
        self.session = uuid.uuid4().hex
        self._names = {c["id"]: (c.get("props") or {}).get("elem_id") or c.get("type") for c in self.config["components"]}

    def close(self) -> None:
        self.http.close()

    def fn_index(self, event: str, *, inputs: str | None = None, outputs: str | None = None) -> int:
        """The id of the event ``event`` ("click", "like") with an input (or output) of that elem_id."""
        for dep in self.config["dependencies"]:
            if not any(t[1] == event for t in dep.get("targets") or []):
                continue
            ins = [self._names.get(i) for i in dep["inputs"]]
            outs = [self._names.get(i) for i in dep["outputs"]]
            if (inputs is None or inputs in ins) and (outputs is None or outputs in outs):
                return dep["id"]
        raise LookupError(f"no {event} event with input {inputs} / output {outputs}")

    def upload(self, name: str, data: bytes) -> httpx.Response:
        """POST the file to Gradio's upload route (the response lists the stored paths)."""
        return self.http.post("/gradio_api/upload", files={"files": (name, data, "application/octet-stream")})

    def run(self, fn_index: int, data: list, event_data=None,
            on_message: Callable[[dict], None] | None = None) -> dict:
        """Join the queue with ``data`` and read the event's messages until it completes; returns the
        ``process_completed`` message (``success``, ``output``). ``on_message`` sees every message."""
        r = self.http.post("/gradio_api/queue/join", json={
            "data": data, "fn_index": fn_index, "session_hash": self.session, "event_data": event_data,
            "trigger_id": None})
        r.raise_for_status()
        event_id = r.json()["event_id"]
        with self.http.stream("GET", "/gradio_api/queue/data", params={"session_hash": self.session}) as resp:
            for line in resp.iter_lines():
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                if msg.get("event_id") not in (None, event_id):
                    continue
                if on_message is not None:
                    on_message(msg)
                if msg.get("msg") == "process_completed":
                    return msg
        raise AssertionError("the event stream ended before the event completed")


def file_data(path: str, name: str | None = None) -> dict:
    """The FileData a browser sends for a file it uploaded (or an attacker for any path)."""
    d = {"path": path, "meta": {"_type": "gradio.FileData"}}
    if name:
        d["orig_name"] = name
    return d
