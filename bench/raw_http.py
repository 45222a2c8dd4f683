"""A lean HTTP/1.1 load client: one keep-alive connection, pre-encoded requests.

bench_server's clients share the machine's cores with the server they measure. httpx
spends about twice the server's CPU on a trivial request, so with it the load
generator, not the server, sets the pace. This client writes a request's bytes,
prepared before the clock starts, and reads the whole answer (status line, headers,
a `Content-Length` body or a chunked one), checking the status and that the body has
the length announced: the server does all of its work, the client little besides.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Answer:
    """What the bench checks of a response."""

    status: int
    body: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def encode_request(method: str, path: str, host: str, body: object = None) -> bytes:
    """One HTTP/1.1 request with a JSON body (when `body` is not None), keep-alive."""
    payload = b"" if body is None else json.dumps(body).encode()
    head = f"{method} {path} HTTP/1.1\r\nhost: {host}\r\n"
    if body is not None:
        head += f"content-type: application/json\r\ncontent-length: {len(payload)}\r\n"
    return (head + "\r\n").encode("latin-1") + payload


class Connection:
    """A keep-alive connection that sends one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> Connection:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        return cls(reader, writer)

    async def send(self, request: bytes) -> Answer:
        """Write `request` and read its whole answer."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:] if line)
        }
        if "content-length" in headers:
            length = int(headers["content-length"])
            body = await self.reader.readexactly(length)
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunked()
        else:
            raise ValueError(f"an answer without a length: {lines[0]!r}")
        if headers.get("connection", "").lower() == "close":
            raise ValueError(f"the server closed the connection: {lines[0]!r}")
        return Answer(status, body)

    async def _chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await self.reader.readexactly(size + 2)  # the data, then CRLF
            if chunk[size:] != b"\r\n":
                raise ValueError("a chunk longer than its size")
            if size == 0:
                return b"".join(chunks)
            chunks.append(chunk[:size])

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()
