"""Every command with `--remote URL`, against `zeptui serve`'s app on a real store, as on
a file; the API key from the environment never appears in any output."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import Result

from tests.cli_helpers import fail, one_error_line, run
from tests.server.conftest import API_KEY, Served, ServeFactory
from zeptui.server.discovery import Discovery, remove_discovery, write_discovery

WRONG_KEY = "z_wrong-key-9a8b"
LOCAL_TOKEN = "local-token-5c3d"


@pytest.fixture
def keyed(serve: ServeFactory, db: Path, monkeypatch: pytest.MonkeyPatch) -> Served:
    """A server that needs API_KEY, and the key in $ZEPTUI_API_KEY."""
    monkeypatch.setenv("ZEPTUI_API_KEY", API_KEY)
    return serve(api_key=API_KEY)


def test_every_command_works_on_a_server_and_never_shows_the_key(
    keyed: Served, tmp_path: Path
) -> None:
    url = keyed.url
    outputs: list[Result] = []

    def remote(*args: str | Path, code: int = 0) -> Result:
        result = run(*args, "--remote", url, code=code)
        outputs.append(result)
        return result

    remote("add", "s1", "--role", "Jane", "--role-type", "user", "--content", "hello remote")
    remote("add", "s1", "--role", "Bot", "--role-type", "assistant", "--content", "hi Jane")
    assert [m.content for m in keyed.store.list_messages("s1").messages] == [
        "hello remote",
        "hi Jane",
    ]
    listed = json.loads(remote("sessions", "--json").stdout)
    assert [session["session_id"] for session in listed] == ["s1"]
    memory = json.loads(remote("show", "s1", "--json").stdout)
    assert [m["content"] for m in memory["messages"]] == ["hello remote", "hi Jane"]
    assert "hi Jane" in remote("messages", "s1").stdout
    found = json.loads(remote("search", "remote", "--json").stdout)
    assert [r["message"]["content"] for r in found] == ["hello remote"]
    remote("users", "add", "ana", "--first-name", "Ana")
    assert "ana" in remote("users").stdout
    assert json.loads(remote("stats", "--json").stdout)["messages"] == 2
    assert "hello remote" in remote("export").stdout
    history = tmp_path / "history.jsonl"
    history.write_text('{"messages": [{"role": "user", "content": "imported line"}]}\n')
    remote("import", history, "--format", "openai")
    assert keyed.store.stats().sessions == 2
    assert "s1" in remote().stdout  # a bare `zeptui` into a pipe lists the latest sessions
    remote("delete", "s1")
    assert json.loads(remote("purge", "--yes", "--json").stdout)["messages"] == 2
    assert [s.session_id for s in keyed.store.list_sessions()] != ["s1"]
    shown = run("config")
    outputs.append(shown)
    assert "remote.api_key" in shown.stdout
    for result in outputs:
        assert API_KEY not in result.stdout + result.stderr


def test_a_wrong_missing_or_unreachable_server_is_one_line(
    keyed: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = keyed.url
    monkeypatch.setenv("ZEPTUI_API_KEY", WRONG_KEY)
    line = fail("sessions", "--remote", url)
    assert line == f"zeptui: error: {url} refused the API key (401 unauthorized)"
    assert WRONG_KEY not in line
    monkeypatch.delenv("ZEPTUI_API_KEY")
    assert fail("show", "s1", "--remote", url) == (
        f"zeptui: error: {url} needs an API key: set ZEPTUI_API_KEY (or remote.api_key in "
        "the config file)"
    )
    monkeypatch.setenv("ZEPTUI_API_KEY", API_KEY)
    assert fail("show", "nope", "--remote", url).startswith("zeptui: error: session")
    for wrong in ("ftp://host/", "http://host:port/", "http://[::1/"):
        assert fail("sessions", "--remote", wrong) == (
            f"zeptui: error: {wrong} is not a server's URL; --remote takes http://HOST:PORT"
        )
    assert fail("sessions", "--remote", url, "--db", "x.duckdb") == (
        "zeptui: error: --db and --remote name two stores; give one"
    )
    assert fail("serve", "--remote", url) == (
        "zeptui: error: zeptui serve serves a database file; --remote does not apply"
    )
    assert fail("--remote", url, "demo") == (
        "zeptui: error: demo makes a database file of sample data; --remote does not apply"
    )
    monkeypatch.setenv("ZEPTUI_REMOTE_TIMEOUT", "1")
    result = run("sessions", "--remote", "http://127.0.0.1:9", code=1)
    assert one_error_line(result.stderr) == (
        "zeptui: error: cannot reach http://127.0.0.1:9 (connection refused)"
    )


def test_a_file_that_zeptui_serve_holds_is_used_through_the_server(serve: ServeFactory) -> None:
    served = serve(api_key=API_KEY, local_token=LOCAL_TOKEN)
    path = Path(served.store.location)
    write_discovery(path, Discovery(served.url, os.getpid(), LOCAL_TOKEN, str(path)))
    try:
        run("add", "s", "--role-type", "user", "--content", "via the server", "--db", path)
        assert [m.content for m in served.store.list_messages("s").messages] == ["via the server"]
        listed = json.loads(run("sessions", "--json", "--db", path).stdout)
        assert [session["session_id"] for session in listed] == ["s"]
    finally:
        remove_discovery(path)


@pytest.mark.parametrize(
    ("url", "mode"),
    [("http://192.0.2.1:9", 0o600), ("http://127.0.0.1:9", 0o622)],
    ids=["not loopback", "writable by others"],
)
def test_a_discovery_file_not_of_this_users_own_server_is_not_followed(
    serve: ServeFactory, url: str, mode: int
) -> None:
    served = serve()
    path = Path(served.store.location)
    written = write_discovery(path, Discovery(url, os.getpid(), LOCAL_TOKEN, str(path)))
    written.chmod(mode)
    try:
        # Followed, it would fail to reach the URL; the file is opened as it is instead
        # (in this process, which holds it, DuckDB lets a second writer share it).
        run("add", "s", "--role-type", "user", "--content", "kept here", "--db", path)
        assert [m.content for m in served.store.list_messages("s").messages] == ["kept here"]
    finally:
        remove_discovery(path)


def test_a_key_in_the_config_file_is_used_only_while_the_file_is_private(
    keyed: Served, isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZEPTUI_API_KEY")
    isolated_settings.mkdir(parents=True, exist_ok=True)
    path = isolated_settings / "config.toml"
    path.write_text(f'[remote]\napi_key = "{API_KEY}"\n')
    path.chmod(0o644)
    line = fail("sessions", "--remote", keyed.url)
    assert line == (
        f"zeptui: error: {path} holds remote.api_key but others may read it; make it yours "
        f"alone (chmod 600 {path}) or use $ZEPTUI_API_KEY"
    )
    path.chmod(0o600)
    assert run("sessions", "--remote", keyed.url).exit_code == 0
