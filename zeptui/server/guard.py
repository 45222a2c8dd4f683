"""The one ASGI middleware in front of the API (pure ASGI: it costs a few microseconds).

For every request it gives a request id (`X-Request-Id`) and Zep's version header;
under `/api` it routes on the raw path (zeptui/server/ids.py) and checks the API key.
It refuses a body over the limit by its `Content-Length` before reading any of it, and
one without a length as soon as it has read past the limit, so no request makes the
server hold more than the limit. A failure nobody expected is answered 500 with the
request id; its traceback goes to the log under that id, never to the client.
"""

from __future__ import annotations

import hmac
import logging
import random

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zeptui.server.errors import REQUEST_ID_HEADER, ApiError, error_response, internal_error
from zeptui.server.ids import routing_path

log = logging.getLogger("zeptui.server")

API_PREFIX = "/api/"
AUTH_SCHEMES = ("api-key", "bearer")
"""zep-python 2.0.0rc6 sends `Api-Key <key>` for keys starting `z_`, else `Bearer`;
1.5.0 always sends `Bearer`."""


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def key_matches(authorization: bytes | None, keys: tuple[bytes, ...]) -> bool:
    """Whether an `Authorization` header carries one of `keys`, each compared in
    constant time (all of them, whichever matches)."""
    if not authorization:
        return False
    scheme, _, token = authorization.partition(b" ")
    if scheme.decode("latin-1").lower() not in AUTH_SCHEMES:
        return False
    matches = [hmac.compare_digest(token.strip(), key) for key in keys]
    return any(matches)


class Guard:
    """Request ids, version header, raw-path routing, API key and body limit."""

    def __init__(
        self, app: ASGIApp, *, api_keys: tuple[str, ...], max_body: int, version: str
    ) -> None:
        self.app = app
        self.api_keys = tuple(key.encode() for key in api_keys if key)
        self.max_body = max_body
        self.version = version.encode()
        # Request ids need to be unique, not secret: os.urandom (`secrets`) is a system
        # call per request, about 8% of the event loop's time under load.
        self._ids = random.Random()  # seeded from the OS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"{self._ids.getrandbits(64):016x}"
        scope.setdefault("state", {})["request_id"] = request_id
        extra_headers = [
            (b"x-zep-version", self.version),
            (REQUEST_ID_HEADER.lower().encode(), request_id.encode()),
        ]
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), *extra_headers]
            await send(message)

        try:
            self._admit(scope)
            await self.app(scope, self._limited(receive), send_with_headers)
        except ApiError as error:
            if started:
                raise
            await error_response(error.status_code, error.message)(
                scope, receive, send_with_headers
            )
        except Exception:
            log.exception("request %s (%s %s) failed", request_id, scope["method"], scope["path"])
            if started:
                raise
            await internal_error(request_id)(scope, receive, send_with_headers)

    def _admit(self, scope: Scope) -> None:
        """Route and authorise the request, or raise the ApiError that refuses it."""
        path: str = scope["path"]
        if path.startswith(API_PREFIX) or path == API_PREFIX.rstrip("/"):
            scope["path"] = routing_path(scope.get("raw_path") or path.encode())
            if self.api_keys and not key_matches(_header(scope, b"authorization"), self.api_keys):
                raise ApiError(401, "unauthorized: a valid API key is required")
        length = _header(scope, b"content-length")
        if length is not None:
            if not length.strip().isdigit():
                raise ApiError(400, "the Content-Length header is not a number")
            if int(length) > self.max_body:
                raise ApiError(413, self._too_large())

    def _too_large(self) -> str:
        return f"the request body is larger than the server's limit of {self.max_body:,} bytes"

    def _limited(self, receive: Receive) -> Receive:
        """`receive` that fails with 413 once the body passes the limit."""
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise ApiError(413, self._too_large())
            return message

        return limited_receive
