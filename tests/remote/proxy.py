"""A fault-injecting HTTP proxy for tests: between a client and a real server, it
forwards requests and, as told, drops connections (before or after the server handled
the request), answers 503 or 429 with a `Retry-After`, delays, or hides zeptui's own
endpoints (so the server looks like a plain Zep server, which also chooses its own
message uuids and times with `zep_ids`).

It listens on 127.0.0.1 (a free port) in threads of the test, with bounded timeouts,
and is always stopped. `seen` records each request it received, in order.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlsplit

FaultKind = Literal["drop_before", "drop_after", "status", "delay"]
UPSTREAM_TIMEOUT = 10.0


@dataclass
class Fault:
    """What to do to the next `times` requests that match `method` and `path`."""

    kind: FaultKind
    times: int = 1
    method: str | None = None
    path: str | None = None
    """A part of the path the request must contain."""
    status: int = 503
    retry_after: str | None = None
    delay: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return (self.method in (None, method)) and (self.path is None or self.path in path)


@dataclass
class Proxy:
    url: str
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    seen: list[tuple[str, str]] = field(default_factory=list)
    hide_zeptui: bool = False
    """Answer zeptui's own endpoints 404, as a plain Zep server does."""
    zep_version: str | None = None
    """Replace the server's `X-Zep-Version` header with this (as another Zep would)."""
    text_errors: bool = False
    """Answer errors as Go's `http.Error` does (Zep 0.x): the message as plain text."""
    zep_ids: bool = False
    """Drop the uuids and times of the messages added through Zep's endpoint, so the
    server chooses its own (as Zep does)."""
    failure_rate: float = 0.0
    """A share of all requests that fail at random, one of the faults each (seeded)."""
    random: random.Random = field(default_factory=lambda: random.Random(13))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def inject(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    def fault_for(self, method: str, path: str) -> Fault | None:
        with self.lock:
            self.seen.append((method, path))
            for fault in self.faults:
                if fault.times > 0 and fault.matches(method, path):
                    fault.times -= 1
                    return fault
            if self.failure_rate and self.random.random() < self.failure_rate:
                return self.random.choice(
                    [
                        Fault("drop_before"),
                        Fault("drop_after"),
                        Fault("status", status=503, retry_after="0"),
                        Fault("status", status=429, retry_after="0"),
                        Fault("status", status=502),
                    ]
                )
        return None

    def count(self, method: str, path: str) -> int:
        """How many requests with `method` whose path contains `path` reached the proxy."""
        with self.lock:
            return sum(1 for m, p in self.seen if m == method and path in p)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: Proxy

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the API's name
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.proxy.zep_ids and self.command == "POST" and _zep_memory_path(self.path):
            body = _without_ids(body)
        fault = self.proxy.fault_for(self.command, self.path)
        if fault is not None and fault.kind == "drop_before":
            self.close_connection = True
            return
        if fault is not None and fault.kind == "status":
            self._answer(fault.status, {"message": "injected failure"}, fault.retry_after)
            return
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.delay)
        if self.proxy.hide_zeptui and self.path.startswith("/api/v2/zeptui"):
            self._answer(404, {"message": "not found"})
            return
        status, headers, answer = self._forward(body)
        if fault is not None and fault.kind == "drop_after":
            self.close_connection = True  # the server did the work; its answer is lost
            return
        if status >= 400 and self.proxy.text_errors:
            message = json.loads(answer)["message"]
            self._answer(status, message + "\n", content_type="text/plain; charset=utf-8")
            return
        self.send_response(status)
        for name, value in headers:
            if name.lower() in ("content-length", "transfer-encoding", "connection", "date"):
                continue
            if name.lower() == "x-zep-version" and self.proxy.zep_version is not None:
                value = self.proxy.zep_version
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        target = urlsplit(self.proxy.upstream)
        connection = http.client.HTTPConnection(
            target.hostname or "127.0.0.1", target.port, timeout=UPSTREAM_TIMEOUT
        )
        try:
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() not in ("connection", "content-length")
            }
            connection.request(self.command, self.path, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _answer(
        self,
        status: int,
        body: object,
        retry_after: str | None = None,
        content_type: str = "application/json",
    ) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if retry_after is not None:
            self.send_header("Retry-After", retry_after)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle


def _zep_memory_path(path: str) -> bool:
    parts = path.split("?", 1)[0].rstrip("/").split("/")
    return not path.startswith("/api/v2/zeptui") and parts[-1] == "memory"


def _without_ids(body: bytes) -> bytes:
    found = json.loads(body)
    for message in found.get("messages") or []:
        message.pop("uuid", None)
        message.pop("created_at", None)
    return json.dumps(found).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up on a delayed answer: expected here


@contextmanager
def proxying(upstream: str, **options: object) -> Iterator[Proxy]:
    """A proxy to `upstream` on 127.0.0.1; yields it (its `url`, its faults)."""
    proxy = Proxy(url="", upstream=upstream, **options)  # type: ignore[arg-type]
    handler = type("Handler", (_Handler,), {"proxy": proxy})
    server = _Server(("127.0.0.1", 0), handler)
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(UPSTREAM_TIMEOUT)
