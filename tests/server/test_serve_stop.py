"""Stopping the real `zeptui serve`: Ctrl-C lets it write the summaries still due and
close the file (the discovery file gone, the file consistent and free for the CLI); a
second Ctrl-C while it waits (for a request in flight, or a summary) exits at once.
Each test starts its own server, as it stops it."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from zep_python.exceptions import APIError
from zep_python.memory import Memory
from zep_python.message import Message

from storage.duckdb import DuckDBStore
from tests.cli_helpers import run
from tests.llm_server import running_llm
from tests.server.serve_process import TIMEOUT, Server, status, zeptui_serve
from zeptui.server.discovery import discovery_path, read_discovery


def _add_long_session(server: Server) -> None:
    """Fourteen messages in one add: with the window of 12, a summary falls due."""
    zep = server.client(api_key=None)
    try:
        turns = [
            Message(role="ana", role_type="user", content=f"Question {n} about the tides.")
            for n in range(14)
        ]
        zep.memory.add_memory("long", Memory(messages=turns))
    finally:
        zep.close()


def test_ctrl_c_writes_due_summaries_and_closes_the_file(tmp_path: Path) -> None:
    with zeptui_serve(tmp_path) as server:
        banner = "\n".join(server.banner)
        assert "API key         not required" in banner
        assert "language model  none: classify and synthesize_question answer 501" in banner
        found = read_discovery(server.path)
        assert found is not None and (found.pid, found.url) == (server.process.pid, server.url)
        _add_long_session(server)
        zep = server.client(api_key=None)
        try:
            with pytest.raises(APIError) as failure:
                zep.memory.synthesize_question("long")
            assert status(failure.value) == 501
        finally:
            zep.close()
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(TIMEOUT) == 0
        said = server.output.rest()
        assert said[-1] == "Closed.", said
        assert server.process.stderr is not None
        assert "Traceback" not in server.process.stderr.read()
    assert not discovery_path(server.path).exists()
    assert not Path(f"{server.path}.wal").exists()  # closed and checkpointed
    with DuckDBStore(server.path, read_only=True) as store:
        assert store.list_messages("long", limit=100).total_count == 14
        summaries = store.list_summaries("long")
        assert summaries and summaries[0].summary.content
    assert '"session_id": "long"' in run("--db", server.path, "sessions", "--json").stdout


def test_a_second_ctrl_c_while_summaries_are_written_exits_at_once(tmp_path: Path) -> None:
    with running_llm() as llm:
        llm.mode = "hang"  # the summary never comes
        settings = {
            "ZEPTUI_SUMMARIZER": "llm",
            "ZEPTUI_LLM_BASE_URL": llm.base_url,
            "ZEPTUI_LLM_MODEL": "slow-model",
        }
        with zeptui_serve(tmp_path, **settings) as server:
            _add_long_session(server)
            assert llm.received.wait(TIMEOUT), "no summary was asked for"
            server.process.send_signal(signal.SIGINT)
            assert server.output.next() == (
                "Stopped; writing the summaries still due and closing the database."
            )
            server.process.send_signal(signal.SIGINT)
            assert server.process.wait(TIMEOUT) == 130
            assert server.process.stderr is not None
            stderr = server.process.stderr.read()
            assert stderr.splitlines()[-1] == "zeptui: error: interrupted again; stopped at once"
    assert not discovery_path(server.path).exists()
    with DuckDBStore(server.path, read_only=True) as store:  # what was added is there
        assert store.list_messages("long", limit=100).total_count == 14
        assert store.list_summaries("long") == []


def test_a_second_ctrl_c_while_a_request_is_in_flight_exits_at_once(tmp_path: Path) -> None:
    with zeptui_serve(tmp_path) as server:
        parts = urlsplit(server.url)
        address = (parts.hostname or "", parts.port or 0)
        with socket.create_connection(address, timeout=TIMEOUT) as half_sent:
            half_sent.sendall(  # a request whose body never comes: the stop waits for it
                b"POST /api/v2/sessions/s/memory HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
            )
            _add_long_session(server)  # the request before it was answered
            server.process.send_signal(signal.SIGINT)
            _wait_until_refused(address)  # the first Ctrl-C arrived: no new connections
            server.process.send_signal(signal.SIGINT)
            assert server.process.wait(TIMEOUT) == 130
        assert server.process.stderr is not None
        stderr = server.process.stderr.read()
        assert stderr.splitlines()[-1] == "zeptui: error: interrupted again; stopped at once"
    with DuckDBStore(server.path, read_only=True) as store:  # the file opens, consistent
        assert store.list_messages("long", limit=100).total_count == 14


def _wait_until_refused(address: tuple[str, int]) -> None:
    for _ in range(int(TIMEOUT / 0.05)):
        try:
            socket.create_connection(address, timeout=TIMEOUT).close()
        except ConnectionRefusedError:
            return
        time.sleep(0.05)
    raise AssertionError("the server kept accepting connections")
