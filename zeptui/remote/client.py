"""An HTTP client for Zep's REST API (`/api/v2` and `/api/v1`), with retries.

`ZepClient` holds one keep-alive `httpx.Client`, sends the API key as the SDKs send it
(`Api-Key <key>` on v2, `Bearer <key>` on v1), and turns every failure into one of the
store's errors (`storage.errors`), one line each: 400 is `InvalidInputError`, 404
`NotFoundError`, 409 `ConflictError`, 501 `Unsupported`, 401 `RemoteAuthError`, an
unreachable or failing server `RemoteUnavailableError`, no answer in time
`RemoteTimeoutError`, an answer that is not Zep's `NotZepError`.

Retries: connection errors, 429 and 5xx (but 501) are tried again, up to `attempts`
times, after an exponential backoff with full jitter or the server's `Retry-After`.
Only requests that are safe to repeat are retried after they may have reached the
server (GET, DELETE, PATCH, PUT, and POSTs the caller marks idempotent, such as adding
messages that all carry their uuid); any request is retried when it surely did not
(the connection failed, or the server said 429 or 503 before doing anything).

The key lives in `ApiKey`, whose repr is masked, and in the client's headers, which
httpx masks in its own reprs; no message of this module contains it.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, quote_plus

import httpx

from storage.capabilities import Unsupported
from storage.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    NotZepError,
    RemoteAuthError,
    RemoteError,
    RemoteTimeoutError,
    RemoteUnavailableError,
)
from storage.urls import redact_url

log = logging.getLogger("zeptui.remote")

ApiVersion = Literal["v1", "v2"]
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
NOT_PROCESSED_STATUSES = frozenset({429, 503})
"""Answers that say the server did nothing with the request: any request may be sent
again after them."""
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Failures before a byte of the request left: any request may be sent again."""
REPEATED = "zeptui.repeated"
"""In a response's `extensions`: True when an earlier try of the request may have been
handled by the server (its answer was lost), so this answer may not tell all."""
MAX_RETRY_AFTER = 60.0
MAX_MESSAGE = 500
"""Characters of a server's error message kept in an error (one line, not a page)."""
"""The longest `Retry-After` honoured; a server asking for more is given up on."""


class ApiKey:
    """An API key that never shows itself: its repr and str are masked."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "ApiKey('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before trying again."""

    attempts: int = 5
    """Tries in all, the first included."""
    backoff: float = 0.2
    """Seconds of the first wait; each next one may be twice as long."""
    max_backoff: float = 5.0


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    read: float = 30.0


def encode_id(value: str, version: ApiVersion) -> str:
    """An id as one path segment, as the SDK of that API generation sends it (v2's
    `quote_plus`; v1's server reads `+` as a plus, so a plain `quote`)."""
    if version == "v2":
        return quote_plus(value, safe="")
    return quote(value, safe="")


def retry_after(response: httpx.Response) -> float | None:
    """The server's `Retry-After` in seconds (a number or an HTTP date), if it gave one."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


class ZepClient:
    """Requests to one Zep server, with auth, keep-alive, timeouts, retries and errors."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        version: ApiVersion = "v2",
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.shown_url = redact_url(self.url)
        self.version: ApiVersion = version
        self._key = ApiKey(api_key) if api_key else None
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._random = random.Random()
        transport = transport or httpx.HTTPTransport(
            limits=httpx.Limits(max_keepalive_connections=4, keepalive_expiry=30.0)
        )
        try:
            self._http = httpx.Client(
                base_url=httpx.URL(self.url),
                timeout=httpx.Timeout(self.timeouts.read, connect=self.timeouts.connect),
                transport=transport,
                follow_redirects=False,
            )
        except httpx.InvalidURL as error:
            raise RemoteError(f"{self.shown_url} is not a valid URL ({error})") from None
        self._set_auth()

    def _set_auth(self) -> None:
        if self._key is None:
            return
        scheme = "Api-Key" if self.version == "v2" else "Bearer"
        self._http.headers["Authorization"] = f"{scheme} {self._key.reveal()}"

    @property
    def keyed(self) -> bool:
        """Whether requests carry an API key."""
        return self._key is not None

    def use_version(self, version: ApiVersion) -> None:
        """Speak `version` from now on (after detecting it)."""
        self.version = version
        self._set_auth()

    @property
    def prefix(self) -> str:
        return f"/api/{self.version}"

    def path(self, *parts: str, ids: tuple[str, ...] = ()) -> str:
        """`/api/vN/` and `parts` joined, with `ids` encoded into `{}` placeholders."""
        encoded = [encode_id(value, self.version) for value in ids]
        return self.prefix + "/".join(("", *parts)).format(*encoded)

    def close(self) -> None:
        self._http.close()

    # --- requests -----------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """The server's answer to a request, after retries; a store error unless 2xx."""
        repeatable = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        query = {k: v for k, v in (params or {}).items() if v is not None}
        attempt, maybe_done = 0, False
        while True:
            attempt += 1
            last = attempt >= self.retry.attempts
            try:
                response = self._http.request(method, path, json=json, params=query)
            except httpx.TransportError as error:
                timed_out = isinstance(error, httpx.TimeoutException)
                sent = not isinstance(error, NOT_SENT)
                if last or (sent and not repeatable):
                    if timed_out:
                        raise self._timeout(method, path, connecting=not sent) from None
                    raise self._unreachable(error) from None
                maybe_done = maybe_done or sent
                self._wait(attempt, None, method, path, type(error).__name__)
                continue
            status = response.status_code
            if self._should_retry(status, repeatable, last):
                delay = retry_after(response)
                if delay is None or delay <= MAX_RETRY_AFTER:
                    maybe_done = maybe_done or status not in NOT_PROCESSED_STATUSES
                    self._wait(attempt, delay, method, path, str(status))
                    continue
            if status == 404 and method == "DELETE" and maybe_done:
                return response  # an earlier try deleted it, and its answer was lost
            if status >= 400:
                raise self.error(response, method, path)
            response.extensions[REPEATED] = maybe_done
            return response

    @staticmethod
    def _should_retry(status: int, repeatable: bool, last: bool) -> bool:
        if last or status not in RETRY_STATUSES:
            return False
        return repeatable or status in NOT_PROCESSED_STATUSES

    def json(self, method: str, path: str, **options: Any) -> Any:
        """The JSON body of the server's answer to `request(method, path, **options)`."""
        return self.decode(self.request(method, path, **options), method, path)

    def decode(self, response: httpx.Response, method: str, path: str) -> Any:
        """The JSON body of an answer (NotZepError if it has none)."""
        try:
            return response.json()
        except ValueError:
            raise NotZepError(
                f"{self.shown_url} answered {method} {path} with something that is not "
                "JSON: is it a Zep server?"
            ) from None

    def _wait(self, attempt: int, delay: float | None, method: str, path: str, why: str) -> None:
        if delay is None:
            ceiling = min(self.retry.max_backoff, self.retry.backoff * 2 ** (attempt - 1))
            delay = self._random.uniform(0, ceiling)
        log.info("%s %s: %s; trying again in %.2f s", method, path, why, delay)
        self._sleep(delay)

    # --- errors -------------------------------------------------------------------

    def _timeout(self, method: str, path: str, *, connecting: bool) -> RemoteError:
        if connecting:
            seconds = self.timeouts.connect
            return RemoteTimeoutError(f"cannot connect to {self.shown_url} within {seconds:g} s")
        return RemoteTimeoutError(
            f"{self.shown_url} did not answer {method} {path} within {self.timeouts.read:g} s"
        )

    def _unreachable(self, error: httpx.TransportError) -> RemoteError:
        reason = _reason(error)
        return RemoteUnavailableError(f"cannot reach {self.shown_url} ({reason})")

    def error(self, response: httpx.Response, method: str, path: str) -> Exception:
        """The store error for a failed answer, with the server's own words if any."""
        status = response.status_code
        message = _zep_message(response, plain_text=self.version == "v1")
        if status == 401:
            if self._key is None:
                return RemoteAuthError(
                    f"{self.shown_url} needs an API key: set ZEPTUI_API_KEY "
                    "(or remote.api_key in the config file)"
                )
            return RemoteAuthError(f"{self.shown_url} refused the API key (401 unauthorized)")
        if message is None:
            return NotZepError(
                f"{self.shown_url} answered {method} {path} with {status} "
                f"{response.reason_phrase} and no Zep error: is it a Zep server?"
            )
        kinds: dict[int, type[Exception]] = {
            400: InvalidInputError,
            404: NotFoundError,
            409: ConflictError,
            413: InvalidInputError,
            501: Unsupported,
        }
        known = kinds.get(status)
        if known is not None:
            return known(message)
        kind = RemoteUnavailableError if status in RETRY_STATUSES else RemoteError
        return kind(f"{self.shown_url} answered {method} {path} with {status}: {message}")


def _zep_message(response: httpx.Response, *, plain_text: bool) -> str | None:
    """The one-line message of a Zep error body, else None: `{"message": ...}`, or on
    `/api/v1` (Zep 0.x answers errors with Go's `http.Error`) the plain text."""
    kind = response.headers.get("content-type", "")
    if plain_text and kind.startswith("text/plain") and response.text.strip():
        return " ".join(response.text.split())[:MAX_MESSAGE]
    if "json" not in kind:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str):
        return None
    text = " ".join(message.split())[:MAX_MESSAGE]
    request_id = body.get("request_id")
    return f"{text} (request {request_id})" if isinstance(request_id, str) else text


def _reason(error: httpx.TransportError) -> str:
    """Why a connection failed, in a few words, without the URL or any header."""
    if isinstance(error, httpx.ConnectError):
        text = str(error).lower()
        if "refused" in text:
            return "connection refused"
        if "name or service" in text or "nodename" in text or "resolve" in text:
            return "unknown host"
        return "cannot connect"
    if isinstance(error, httpx.RemoteProtocolError):
        return "the connection was closed without an answer"
    return "the connection failed"
