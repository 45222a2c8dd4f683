"""A real OpenAI-compatible chat-completions server on 127.0.0.1, for the LLM tests.

A stdlib `http.server` in a thread that records requests and answers as its `mode`
says: a canned completion, an error, a reply that never comes, one that trickles a
byte at a time, a huge one. Every wait is bounded and ends when the fixture stops
the server, so no test can hang on it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

MAX_WAIT = 30.0
"""No handler waits longer than this, whatever the test does."""


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def prompt(self) -> str:
        content = self.body["messages"][0]["content"]
        assert isinstance(content, str)
        return content


@dataclass
class FakeLLM:
    """What the server does (`mode`, `reply`) and what it saw (`requests`).

    Modes: ok (a completion `SUMMARY-<n>`, or `reply` when set), 500, 401-echo,
    bad-json, no-choices, no-content, blank, gate (ok once `release` is set),
    hang (never answers; closes the connection once `release` is set), trickle
    (headers, then a byte every `interval` seconds), huge-declared and huge-chunked
    (a 10 MB completion, with and without a Content-Length).
    """

    base_url: str = ""
    mode: str = "ok"
    reply: str | None = None
    interval: float = 0.2
    requests: list[Recorded] = field(default_factory=list)
    received: threading.Event = field(default_factory=threading.Event)
    """Set when a request has arrived."""
    release: threading.Event = field(default_factory=threading.Event)
    stopped: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def completion(self, content: str) -> bytes:
        return json.dumps(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
            }
        ).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeLLM


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Keep the test output quiet."""

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up
            pass

    def _wait(self, event: threading.Event) -> bool:
        """Wait for `event` (True) or the server's stop (False), at most MAX_WAIT."""
        fake = self.server.fake
        for _ in range(int(MAX_WAIT / 0.05)):
            if event.is_set():
                return True
            if fake.stopped.wait(0.05):
                return False
        return False

    def do_POST(self) -> None:
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        with fake.lock:
            fake.requests.append(Recorded(self.path, headers, json.loads(raw)))
            number = len(fake.requests)
        fake.received.set()
        if self.path.split("?")[0] != "/v1/chat/completions":
            self._send(404, b'{"error": {"message": "not found"}}')
            return
        mode = fake.mode
        if mode == "hang":
            self._wait(fake.release)
            self.close_connection = True
            return
        if mode == "gate" and not self._wait(fake.release):
            return
        if mode == "trickle":
            self._trickle()
            return
        if mode.startswith("huge"):
            self._huge(chunked=mode == "huge-chunked")
            return
        if mode == "500":
            self._send(500, b'{"error": {"message": "model crashed"}}')
        elif mode == "401-echo":
            auth = self.headers.get("Authorization", "")
            self._send(401, json.dumps({"error": f"bad key in {auth!r}"}).encode())
        elif mode == "bad-json":
            self._send(200, b"{not json", "text/plain")
        elif mode == "no-choices":
            self._send(200, json.dumps({"id": "x", "choices": []}).encode())
        elif mode == "no-content":
            self._send(200, json.dumps({"choices": [{"message": {"role": "assistant"}}]}).encode())
        elif mode == "blank":
            self._send(200, fake.completion("  \n "))
        else:
            content = fake.reply if fake.reply is not None else f"\n  SUMMARY-{number}  \n"
            self._send(200, fake.completion(content))

    def _trickle(self) -> None:
        fake = self.server.fake
        body = fake.completion("A summary that takes its time.")
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.flush()
            for byte in body:
                if fake.stopped.wait(fake.interval):
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
        except OSError:  # the client gave up, as it should
            pass

    def _huge(self, *, chunked: bool) -> None:
        body = self.server.fake.completion("word " * 2_000_000)  # 10 MB
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for start in range(0, len(body), 65_536):
                piece = body[start : start + 65_536]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client stopped reading, as it should
            pass


@contextmanager
def running_llm() -> Iterator[FakeLLM]:
    """A FakeLLM listening on 127.0.0.1, stopped (and its threads released) on exit."""
    server = _Server(("127.0.0.1", 0), _Handler)
    fake = FakeLLM(base_url=f"http://127.0.0.1:{server.server_address[1]}/v1")
    server.fake = fake
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield fake
    finally:
        fake.stopped.set()
        fake.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def serve_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    """The body of an `llm_server` fixture: no proxy for 127.0.0.1, then a server."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("all_proxy", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with running_llm() as fake:
        yield fake
