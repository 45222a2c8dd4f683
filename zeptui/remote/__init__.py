"""A Zep server as a MemoryStore: the HTTP client and RemoteStore.

`open_remote(url, ...)` asks the server what it is and returns a RemoteStore offering
what the server offers: against `zeptui serve` (which lists its capabilities at
`GET /api/v2/zeptui/capabilities`) all of them; against a plain Zep server the core,
and session pages built from Zep's session list and histories.
The API generation (`/api/v2` or `/api/v1`) is detected from the server unless given:
a zeptui server speaks v2; a Zep server whose `X-Zep-Version` at `/healthz` is 0.x
speaks v1; any other Zep server v2.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import httpx

from storage.errors import NotFoundError, NotZepError
from zeptui.remote.capabilities import REMOTE_CAPABILITIES, ZepSessionPages
from zeptui.remote.client import ApiVersion, RetryPolicy, Timeouts, ZepClient
from zeptui.remote.store import ZEPTUI_PREFIX, RemoteStore

__all__ = [
    "ApiVersion",
    "RemoteStore",
    "RetryPolicy",
    "ServerCheck",
    "Timeouts",
    "ZepClient",
    "check_server",
    "open_remote",
]

VersionChoice = Literal["auto", "v1", "v2"]


def open_remote(
    url: str,
    *,
    api_key: str | None = None,
    version: VersionChoice = "auto",
    timeouts: Timeouts | None = None,
    retry: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RemoteStore:
    """A RemoteStore on the server at `url`, with the capabilities it offers.

    `sleep` waits between tries (tests pass a clock of their own). RemoteError (one
    line) when the server cannot be reached, refuses the key, or is
    not a Zep server.
    """
    client = ZepClient(
        url,
        api_key=api_key,
        version="v2" if version == "auto" else version,
        timeouts=timeouts,
        retry=retry,
        transport=transport,
        sleep=sleep,
    )
    try:
        names, window, max_body = _zeptui_capabilities(client)
        if names is None and version == "auto":
            client.use_version(_zep_version(client))
    except BaseException:
        client.close()
        raise
    if names is None:
        mixins: tuple[type[RemoteStore], ...] = (ZepSessionPages,)
    else:
        mixins = tuple(REMOTE_CAPABILITIES[n] for n in names if n in REMOTE_CAPABILITIES)
    kind: type[RemoteStore] = RemoteStore
    if mixins:
        kind = type("RemoteStore", (*mixins, RemoteStore), {"__module__": RemoteStore.__module__})
    return kind(client, zeptui=names is not None, message_window=window, max_body=max_body)


def _zeptui_capabilities(client: ZepClient) -> tuple[list[str] | None, int | None, int | None]:
    """What a zeptui server offers, its window and body limit; Nones from another server."""
    try:
        found = client.json("GET", ZEPTUI_PREFIX + "/capabilities")
    except (NotFoundError, NotZepError):
        return None, None, None
    if not isinstance(found, dict) or found.get("server") != "zeptui":
        return None, None, None
    names = [str(name) for name in found.get("capabilities", [])]
    window, max_body = found.get("message_window"), found.get("max_body")
    return (
        names,
        window if isinstance(window, int) else None,
        max_body if isinstance(max_body, int) else None,
    )


def _zep_version(client: ZepClient) -> ApiVersion:
    """The API generation a Zep server speaks, from its health check's version header."""
    response = client.request("GET", "/healthz")
    version = response.headers.get("x-zep-version")
    if version is None:
        raise NotZepError(
            f"{client.shown_url} is not a Zep server: its /healthz has no X-Zep-Version; "
            "say which API it speaks with --api-version v1 or v2"
        )
    major = version.strip().lstrip("v").split(".", 1)[0]
    return "v1" if major == "0" else "v2"


@dataclass(frozen=True)
class ServerCheck:
    """What `check_server` found: a healthy server, what it is, and that it let us in."""

    zeptui: bool
    """The server is `zeptui serve` (else a Zep server)."""
    api_version: ApiVersion
    """The API generation found (or set), which the store speaks."""
    zep_version: str | None
    """The server's `X-Zep-Version` at `/healthz`."""
    keyed: bool
    """An API key was sent (and accepted)."""


def check_server(store: RemoteStore) -> ServerCheck:
    """Check the server `store` is open on (opening it asked what it is and which API
    it speaks): its health check answers, and a read that needs the key succeeds.
    Raises the store's one-line errors (unreachable, 401, not Zep, ...)."""
    client = store.client
    health = client.request("GET", "/healthz")
    store.list_sessions(limit=1)  # every Zep server wants the key here
    version = health.headers.get("x-zep-version")
    return ServerCheck(store.zeptui, client.version, version, client.keyed)
