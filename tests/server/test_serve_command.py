"""The real `zeptui serve` (its console script, on 127.0.0.1) driven by zep-python
2.0.0rc6: the banner, an API key, the language-model endpoints on a fake
OpenAI-compatible server, and every other zeptui front end on the served file naming
the server. One server serves the module; stopping it is test_serve_stop.py's."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from zep_python.exceptions import APIError, AuthError
from zep_python.memory import Memory
from zep_python.message import Message
from zep_python.user import CreateUserRequest

from storage.errors import StoreLockedError
from tests.app.conftest import make_app, settle
from tests.cli_helpers import fail, run
from tests.llm_server import FakeLLM, running_llm
from tests.server.serve_process import KEY, TIMEOUT, Server, status, zeptui_serve
from zeptui.app.leases import StoreLeases
from zeptui.server.discovery import Discovery, write_discovery


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    with running_llm() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, llm: FakeLLM) -> Iterator[Server]:
    """`zeptui serve` with an API key and a language model, for the whole module."""
    with zeptui_serve(
        tmp_path_factory.mktemp("serve"),
        "--api-key-env",
        "TEST_ZEP_KEY",
        TEST_ZEP_KEY=KEY,
        ZEPTUI_LLM_BASE_URL=llm.base_url,
        ZEPTUI_LLM_MODEL="tiny-model",
    ) as started:
        yield started


def test_the_banner_says_where_what_and_how(server: Server) -> None:
    banner = "\n".join(server.banner)
    # The warm-up first (seconds on a large file: a silent start would look hung).
    assert server.banner[0] == "zeptui serve: reading the recent sessions into memory first…"
    assert server.banner[1].startswith("zeptui serve: listening on ")
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
        assert status(failure.value) == 502
    finally:
        llm.mode, llm.reply = "ok", None
        zep.close()


def test_commands_on_the_served_file_go_through_the_server(server: Server) -> None:
    run("--db", server.path, "add", "via", "--role-type", "user", "--content", "through it")
    listed = json.loads(run("--db", server.path, "sessions", "--json").stdout)
    assert "via" in [session["session_id"] for session in listed]
    assert "via" in run("--db", server.path, "open").stdout  # into a pipe
    run("--db", server.path, "delete", "via", "--purge")


def test_a_link_to_the_served_file_goes_through_the_server(server: Server, tmp_path: Path) -> None:
    link = tmp_path / "link.duckdb"
    link.symlink_to(server.path)
    run("--db", link, "add", "linked", "--role-type", "user", "--content", "through it")
    listed = json.loads(run("--db", server.path, "sessions", "--json").stdout)
    assert "linked" in [session["session_id"] for session in listed]
    run("--db", link, "delete", "linked", "--purge")


def test_a_second_server_and_the_app_on_the_served_file_name_the_server(server: Server) -> None:
    holder = f"held by zeptui serve (pid {server.process.pid}, {server.url})"
    assert holder in fail("--db", server.path, "serve")
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
