"""Run the API on a host and port until Ctrl-C, as `zeptui serve` does.

The store is opened (and closed) by the caller; `serve` listens, writes the
discovery file, says where it listens, and on Ctrl-C (or SIGTERM) stops accepting,
lets the requests in flight finish, and removes the discovery file. Closing the
store afterwards waits for the summaries still due.
"""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from zeptui.server.discovery import Discovery, new_token, remove_discovery, write_discovery

if TYPE_CHECKING:
    import uvicorn

    from storage.store import MemoryStore
    from zeptui.server.app import ServerOptions

GRACEFUL_SECONDS = 30
"""How long requests in flight may take to finish after Ctrl-C."""
MAX_CONNECTIONS = 256
"""Concurrent connections; more are answered 503, so load cannot grow memory without end."""

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?i?b?)\s*$", re.IGNORECASE)


class ServeError(Exception):
    """Why the server cannot start, on one line."""


def parse_size(text: str) -> int:
    """`10MB`, `512KiB`, `1048576` as bytes (a `i` means powers of 1024)."""
    match = _SIZE.match(text)
    if match is None:
        raise ServeError(f"{text!r} is not a size (say 10MB, 512KiB or a number of bytes)")
    number, unit = float(match.group(1)), match.group(2).lower()
    base = 1024 if "i" in unit else 1000
    factor = base ** "bkmg".index(unit[0]) if unit and unit[0] in "kmg" else 1
    size = int(number * factor)
    if size < 1024:
        raise ServeError(f"a body limit of {size} bytes is too small (at least 1KiB)")
    return size


def is_loopback(host: str) -> bool:
    """Whether `host` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, api_key: str | None) -> None:
    """Refuse to listen beyond this machine without an API key."""
    if api_key is None and not is_loopback(host):
        raise ServeError(
            f"refusing to listen on {host} without an API key: anyone who can reach it "
            "could read and change every session; set one with --api-key-env VAR, or "
            "listen on 127.0.0.1"
        )


def listen(host: str, port: int, api_key: str | None) -> socket.socket:
    """A socket listening on `host`:`port` (0: a free one); beyond this machine only
    with an API key."""
    check_host(host, api_key)
    return _listen(host, port)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, as getaddrinfo's sockets have it: asyncio only sets TCP_NODELAY
    # on the connections of such a listener, and without it every keep-alive answer's
    # body (a write after its headers) waited ~40 ms for the client's delayed ACK.
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host.strip("[]"), port))
        listener.listen(2048)
    except OSError as error:
        listener.close()
        hint = "; choose another with --port (0: any free port)" if port else ""
        raise ServeError(f"cannot listen on {host}:{port} ({error.strerror}){hint}") from None
    return listener


def _url(host: str, port: int) -> str:
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    return f"http://{shown}:{port}"


class _Stopped(Exception):
    """The signal that stopped the server, raised again by uvicorn once it has stopped."""


@contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """Return normally when Ctrl-C or SIGTERM stopped the server.

    uvicorn stops gracefully on them, then raises the signal again with the handlers
    it found; by default SIGTERM would end the process there, before the caller closes
    the store. Handlers of ours turn that into `_Stopped`, caught here."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stopped(_signal: int, _frame: FrameType | None) -> None:
        raise _Stopped

    previous = {number: signal.signal(number, stopped) for number in _SIGNALS}
    try:
        yield
    except _Stopped:
        pass
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _server(config: uvicorn.Config, interrupted_again: Callable[[], None] | None) -> uvicorn.Server:
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if self.should_exit and interrupted_again is not None:
                interrupted_again()
            super().handle_exit(sig, frame)

    return Server(config)


@dataclass(frozen=True)
class Listening:
    """Where a started server listens, for the banner."""

    url: str
    docs_url: str
    key_required: bool


def serve(
    store: MemoryStore,
    *,
    host: str,
    port: int,
    options: ServerOptions,
    store_path: Path | None,
    log_level: str = "info",
    on_start: Callable[[Listening], None] = lambda _listening: None,
    on_warm_up: Callable[[], None] = lambda: None,
    interrupted_again: Callable[[], None] | None = None,
    listener: socket.socket | None = None,
) -> None:
    """Serve `store` with `options` until interrupted (Ctrl-C or SIGTERM).

    `listener` is a socket from `listen(host, port, ...)` (`zeptui serve` binds it
    before it opens the store, so a port in use changes nothing); without one, one is
    bound here. It is closed when the server stops.
    `on_warm_up` is called before the store reads its recent sessions into memory (a
    few seconds on a large file: the CLI says so, or a silent start looks hung).
    `interrupted_again` is called when a second signal comes while the first one's
    graceful stop is under way (the CLI exits at once there); without it, uvicorn's
    own (a second Ctrl-C stops waiting for the requests in flight)."""
    import uvicorn  # the web stack loads only for this command

    from zeptui.server.app import DOCS_URL, create_app

    if listener is None:
        listener = listen(host, port, options.api_key)
    check_host(host, options.api_key)
    token = new_token()
    port = listener.getsockname()[1]
    url = _url(host, port)
    app = create_app(store, replace(options, local_token=token))
    config = uvicorn.Config(
        app,
        host=host.strip("[]"),  # for uvicorn's log line alone: it serves `listener`
        port=port,
        log_level=log_level,
        lifespan="off",
        access_log=log_level == "debug",
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        limit_concurrency=MAX_CONNECTIONS,
        server_header=False,
    )
    from storage.capabilities import MemoryAnswers, offered  # not for is_loopback's users

    answers = offered(store, MemoryAnswers)
    if answers is not None:  # the recent sessions' memory, read before the first request
        on_warm_up()
        answers.warm_memory()
    if store_path is not None:
        write_discovery(store_path, Discovery(url, os.getpid(), token, str(store_path)))
    try:
        on_start(Listening(url, url + DOCS_URL, options.api_key is not None))
        with _stopped_by_signals():
            _server(config, interrupted_again).run(sockets=[listener])
    finally:
        listener.close()
        if store_path is not None:
            remove_discovery(store_path, os.getpid())
