"""Running the server in its own process: the discovery file, the local token, and
Ctrl-C finishing the request in flight before the store is closed."""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from storage.duckdb import DuckDBStore
from tests.server.conftest import API_KEY
from zeptui.server.discovery import (
    Discovery,
    discovery_path,
    read_discovery,
    served_message,
    write_discovery,
)
from zeptui.server.run import ServeError, check_host, listen, parse_size

SERVE = """
import sys
from pathlib import Path
from storage.duckdb import DuckDBStore
from zeptui.server import ServerOptions
from zeptui.server.run import serve
path = Path(sys.argv[1])
with DuckDBStore(path) as store:
    serve(store, host="127.0.0.1", port=0, options=ServerOptions(api_key=sys.argv[2]),
          store_path=path, log_level="warning", on_start=lambda at: print(at.url, flush=True))
print("closed", flush=True)
"""
TIMEOUT = 20.0


def _line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        assert selector.select(TIMEOUT), "the server said nothing"
    return process.stdout.readline().strip()


def _read_response(connection: socket.socket) -> bytes:
    """The next response's status line and headers (up to the blank line), read from
    `connection` (bounded by its timeout)."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(1)
        assert chunk, f"closed after {received!r}"
        received += chunk
    return received


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    path = tmp_path / "served.duckdb"
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(path), API_KEY], stdout=subprocess.PIPE, text=True
    )
    try:
        yield process, _line(process), path
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(TIMEOUT)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
def test_discovery_file_token_and_graceful_stop(
    server_process: tuple[subprocess.Popen[str], str, Path], stop: signal.Signals
) -> None:
    process, url, path = server_process
    found = read_discovery(path)
    assert found is not None and (found.url, found.pid) == (url, process.pid)
    assert stat.S_IMODE(os.stat(discovery_path(path)).st_mode) == 0o600
    message = served_message(path)
    assert message is not None and f"pid {process.pid}" in message and url in message
    token_header = {"Authorization": f"Bearer {found.token}"}
    assert httpx.get(url + "/api/v2/sessions", headers=token_header).status_code == 200
    assert httpx.get(url + "/api/v2/sessions").status_code == 401

    # A request half sent when the signal comes is finished before the server stops.
    # "Expect: 100-continue": the server answers "100 Continue" once it reads the
    # request's body, so the signal comes while the request is surely in flight (sent
    # at once, it could come before the server accepted the connection, which it then
    # rightly closes: that reset 2 runs in 6 on a loaded machine).
    body = json.dumps({"messages": [{"role": "u", "content": "in flight"}]}).encode()
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT) as connection:
        connection.sendall(
            b"POST /api/v2/sessions/late/memory HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nAuthorization: Api-Key %s\r\n"
            b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % (API_KEY.encode(), len(body))
        )
        assert _read_response(connection).startswith(b"HTTP/1.1 100 ")
        process.send_signal(stop)
        connection.sendall(body)
        answer = _read_response(connection)
    assert answer.startswith(b"HTTP/1.1 201")
    assert process.wait(TIMEOUT) == 0
    assert _line(process) == "closed"
    assert not discovery_path(path).exists()
    with DuckDBStore(path, read_only=True) as store:
        assert [m.content for m in store.get_memory("late").messages] == ["in flight"]


def test_a_stale_discovery_file_is_ignored(tmp_path: Path) -> None:
    store_path = tmp_path / "x.duckdb"
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = int(finished.stdout)
    write_discovery(store_path, Discovery("http://127.0.0.1:1", dead, "t", str(store_path)))
    assert read_discovery(store_path) is None and served_message(store_path) is None
    discovery_path(store_path).write_text("{not json")
    assert read_discovery(store_path) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "::", "example.org"])
def test_listening_beyond_this_machine_needs_a_key(host: str) -> None:
    with pytest.raises(ServeError, match="without an API key"):
        check_host(host, None)
    check_host(host, "a-key")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_no_key(host: str) -> None:
    check_host(host, None)


def test_sizes() -> None:
    assert parse_size("10MB") == 10_000_000
    assert parse_size("512KiB") == 512 * 1024
    assert parse_size("1048576") == 1048576
    for bad in ("ten", "5", "-3MB", "1TB"):
        with pytest.raises(ServeError):
            parse_size(bad)


async def test_answers_are_not_held_back_by_nagle() -> None:
    """The listener's connections get TCP_NODELAY from asyncio, as uvicorn's own
    sockets do: a response's headers and body go out in two writes, and with Nagle on
    the body waited for the client's delayed ACK (~40 ms) on every keep-alive request
    after the first."""
    listener = listen("127.0.0.1", 0, None)
    accepted: asyncio.Queue[int] = asyncio.Queue()

    async def connected(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served = writer.get_extra_info("socket")
        await accepted.put(served.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(connected, sock=listener)
    async with server:
        _reader, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        nodelay = await asyncio.wait_for(accepted.get(), TIMEOUT)
        writer.close()
    assert nodelay != 0
