"""The real `zeptui serve`, run as its console script on 127.0.0.1 (port 0), driven by
zep-python 2.0.0rc6: the banner, an API key, the language-model endpoints on a fake
OpenAI-compatible server, every other zeptui front end on the served file naming the
server, and Ctrl-C closing the file cleanly once the due summaries are written.

One server serves the module (with a key and a language model); the Ctrl-C test starts
its own (without either), since it stops it.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
from zep_python import ZepClient
from zep_python.exceptions import APIError, AuthError
from zep_python.memory import Memory
from zep_python.message import Message
from zep_python.user import CreateUserRequest

from storage.duckdb import DuckDBStore
from storage.errors import StoreLockedError
from tests.app.conftest import make_app, settle
from tests.cli_helpers import console_script, fail, run, script_env
from tests.llm_server import FakeLLM, running_llm
from zeptui.app.leases import StoreLeases
from zeptui.server.discovery import Discovery, discovery_path, read_discovery, write_discovery

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
        found = re.search(r"listening on (http://\S+)", self.banner[0])
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
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

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


def _start(directory: Path, *flags: str, **env: str) -> Server:
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
    assert process.stdout is not None
    output = Lines(process.stdout)
    banner: list[str] = []
    while not banner or not banner[-1].startswith("Ctrl-C"):
        line = output.next()
        assert line is not None, banner
        banner.append(line)
    return Server(process, output, banner, path, environment)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(TIMEOUT)


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    with running_llm() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, llm: FakeLLM) -> Iterator[Server]:
    """`zeptui serve` with an API key and a language model, for the whole module."""
    started = _start(
        tmp_path_factory.mktemp("serve"),
        "--api-key-env",
        "TEST_ZEP_KEY",
        TEST_ZEP_KEY=KEY,
        ZEPTUI_LLM_BASE_URL=llm.base_url,
        ZEPTUI_LLM_MODEL="tiny-model",
    )
    try:
        yield started
    finally:
        _stop(started.process)


def test_the_banner_says_where_what_and_how(server: Server) -> None:
    banner = "\n".join(server.banner)
    assert server.url.startswith("http://127.0.0.1:") and not server.url.endswith(":0")
    assert f"database        {server.path}" in banner
    assert "API key         required (the value of $TEST_ZEP_KEY)" in banner
    assert f"docs            {server.url}/docs" in banner
    assert "language model  tiny-model at http://127.0.0.1:" in banner
    assert KEY not in banner


def test_zep_python_with_the_key(server: Server) -> None:
    zep = server.client()
    try:
        zep.user.add(CreateUserRequest(user_id="ana", email="ana@example.com"))
        zep.memory.add_memory(
            "trip planning",  # an id that needs encoding
            Memory(
                messages=[
                    Message(role="ana", role_type="user", content="Which ferry goes to Hydra?"),
                    Message(role="bot", role_type="assistant", content="The Flying Dolphin."),
                ]
            ),
        )
        memory = zep.memory.get_memory("trip planning")
        assert [m.content for m in memory.messages] == [
            "Which ferry goes to Hydra?",
            "The Flying Dolphin.",
        ]
        assert zep.user.get("ana").email == "ana@example.com"
    finally:
        zep.close()
    stranger = server.client(api_key=None)
    try:
        with pytest.raises(AuthError):
            stranger.memory.get_memory("trip planning")
    finally:
        stranger.close()


def test_classify_and_synthesize_question_use_the_language_model(
    server: Server, llm: FakeLLM
) -> None:
    zep = server.client()
    try:
        zep.memory.add_memory(
            "support",
            Memory(messages=[Message(role="jo", role_type="user", content="I was charged twice")]),
        )
        llm.reply = "Billing"
        chosen = zep.memory.classify_session("support", "topic", ["shipping", "billing"])
        assert chosen.class_ == "billing"
        assert zep.memory.get_session("support").metadata == {"topic": "billing"}
        llm.reply = "Why was I charged twice?"
        assert zep.memory.synthesize_question("support") == "Why was I charged twice?"
        assert "jo: I was charged twice" in llm.requests[-1].prompt
        llm.mode = "500"  # the model fails: the gateway says so, the server goes on
        with pytest.raises(APIError) as failure:
            zep.memory.synthesize_question("support")
        assert _status(failure.value) == 502
    finally:
        llm.mode, llm.reply = "ok", None
        zep.close()


def test_every_front_end_on_the_served_file_names_the_server(server: Server) -> None:
    holder = f"held by zeptui serve (pid {server.process.pid}, {server.url})"
    adding = ["add", "s", "--role-type", "user", "--content", "hello"]
    for command in (["sessions"], adding, ["open"], ["serve"]):  # read, write, pipe, serve
        assert holder in fail("--db", server.path, *command), command
    leases = StoreLeases.for_file(server.path)  # the app's way to the file
    try:
        for call in (leases.read, leases.write):
            with pytest.raises(StoreLockedError, match=re.escape(holder)):
                call(lambda store: store.list_sessions())
    finally:
        leases.close()


async def test_the_app_on_the_served_file_names_the_server(server: Server) -> None:
    app = make_app(server.path)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        status = " ".join(str(app.sessions.query_one("#sessions-status").render()).split())
        assert f"held by zeptui serve (pid {server.process.pid}, {server.url})" in status


def test_ctrl_c_writes_due_summaries_and_closes_the_file(tmp_path: Path) -> None:
    started = _start(tmp_path)
    try:
        assert "API key         not required" in "\n".join(started.banner)
        assert "language model  none: classify and synthesize_question answer 501" in (
            "\n".join(started.banner)
        )
        found = read_discovery(started.path)
        assert found is not None and (found.pid, found.url) == (started.process.pid, started.url)
        zep = started.client(api_key=None)
        try:
            turns = [
                Message(role="ana", role_type="user", content=f"Question {n} about tides.")
                for n in range(14)
            ]
            zep.memory.add_memory("long", Memory(messages=turns))  # a summary is due
            with pytest.raises(APIError) as failure:
                zep.memory.synthesize_question("long")
            assert _status(failure.value) == 501
        finally:
            zep.close()
        started.process.send_signal(signal.SIGINT)
        assert started.process.wait(TIMEOUT) == 0
        said = started.output.rest()
        assert said[-1] == "Closed.", said
        assert started.process.stderr is not None
        assert "Traceback" not in started.process.stderr.read()
    finally:
        _stop(started.process)
    assert not discovery_path(started.path).exists()
    assert not Path(f"{started.path}.wal").exists()  # closed, checkpointed
    with DuckDBStore(started.path, read_only=True) as store:
        assert store.list_messages("long", limit=100).total_count == 14
        summaries = store.list_summaries("long")
        assert summaries and summaries[0].summary.content
    assert '"session_id": "long"' in run("--db", started.path, "sessions", "--json").stdout


def test_a_stale_discovery_file_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "x.duckdb"
    run("--db", path, "add", "s", "--role-type", "user", "--content", "hi")
    for pid in (_dead_pid(), os.getpid()):  # gone, or alive but not holding the file
        stale = Discovery("http://127.0.0.1:1", pid, "t", str(path))
        write_discovery(path, stale)
        assert run("--db", path, "sessions", "--json").stdout.count('"session_id": "s"') == 1
        leases = StoreLeases.for_file(path)
        try:
            assert [s.session_id for s in leases.read(lambda store: store.list_sessions())] == ["s"]
        finally:
            leases.close()


def _dead_pid() -> int:
    finished = subprocess.Popen(["true"])
    finished.wait(TIMEOUT)
    return finished.pid


def _status(error: APIError) -> int:
    """The HTTP status the SDK's error carries."""
    assert error.response_data is not None
    status = error.response_data["status_code"]
    assert isinstance(status, int)
    return status
