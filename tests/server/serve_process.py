"""The real `zeptui serve` in a process of its own: its console script on 127.0.0.1 (port
0), its banner read with a bounded wait, zep-python pointed at it, and the process
always stopped."""

from __future__ import annotations

import queue
import re
import subprocess
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from zep_python import ZepClient
from zep_python.exceptions import APIError

from tests.cli_helpers import console_script, script_env

KEY = "z_serve-command-key-93b1"
TIMEOUT = 20.0
"""Seconds any one wait for the server may take (start, a line of output, stopping)."""


@dataclass
class Server:
    process: subprocess.Popen[str]
    output: Lines
    banner: list[str]
    path: Path
    env: dict[str, str]

    @property
    def url(self) -> str:
        found = re.search(r"listening on (http://\S+)", "\n".join(self.banner))
        assert found, self.banner
        return found.group(1)

    def client(self, api_key: str | None = KEY) -> ZepClient:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the version header must not make the SDK warn
            return ZepClient(api_url=self.url, api_key=api_key)


class Lines:
    """A process's output, a line at a time, with a bounded wait for each (a thread
    reads it, so no line waits in a buffer that a select on the pipe cannot see)."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def next(self) -> str | None:
        """The next line (None at the end), waiting at most TIMEOUT."""
        try:
            return self._lines.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError("zeptui serve said nothing") from None

    def rest(self) -> list[str]:
        """Every line up to the end of the output."""
        lines = []
        while (line := self.next()) is not None:
            lines.append(line)
        return lines


@contextmanager
def zeptui_serve(directory: Path, *flags: str, **env: str) -> Iterator[Server]:
    """`zeptui serve --port 0` on `directory`/served.duckdb with `flags` and `env`, once
    its banner is out; killed on exit if it still runs."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "served.duckdb"
    environment = script_env(directory, **env)
    process = subprocess.Popen(
        [
            console_script(),
            "serve",
            "--db",
            str(path),
            "--port",
            "0",
            "--log-level",
            "warning",
            *flags,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    assert process.stdout is not None and process.stderr is not None
    output = Lines(process.stdout)
    try:
        banner: list[str] = []
        while not banner or not banner[-1].startswith("Ctrl-C"):
            line = output.next()
            assert line is not None, banner
            banner.append(line)
        yield Server(process, output, banner, path, environment)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(TIMEOUT)
        output.reader.join(TIMEOUT)  # at the output's end: then its pipe can close
        process.stdout.close()
        process.stderr.close()


def status(error: APIError) -> int:
    """The HTTP status the SDK's error carries."""
    assert error.response_data is not None
    status = error.response_data["status_code"]
    assert isinstance(status, int)
    return status
