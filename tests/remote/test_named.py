"""`zeptui remote ...`: named remotes in the config file, and `--remote NAME` wherever
`--remote URL` works; a key is never written to config.toml nor shown."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import Result

from storage.models import Message, RoleType
from tests.cli_helpers import Terminal, fail, one_error_line, run, script_env
from tests.remote.proxy import Proxy
from tests.server.conftest import API_KEY, Served, ServeFactory

WRONG_KEY = "z_wrong-key-3e1f"


@pytest.fixture
def keyed(serve: ServeFactory, db: Path) -> Served:
    """A server that needs API_KEY (the key is in no variable yet)."""
    return serve(api_key=API_KEY)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_remote_with_its_key_in_a_variable(
    keyed: Served, isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs: list[Result] = []
    added = run("remote", "add", "work", keyed.url, "--api-key-env", "WORK_ZEP_KEY")
    outputs.append(added)
    assert added.stdout == f"Added remote work: {keyed.url}, its key from $WORK_ZEP_KEY.\n"
    config = isolated_settings / "config.toml"
    assert config.read_text() == (
        f'[remotes.work]\nurl = "{keyed.url}"\napi_key_env = "WORK_ZEP_KEY"\n'
    )
    assert mode(config) == 0o600
    line = fail("sessions", "--remote", "work")
    assert line == (
        "zeptui: error: remote work takes its API key from $WORK_ZEP_KEY, which is not set"
    )
    monkeypatch.setenv("WORK_ZEP_KEY", API_KEY)
    monkeypatch.setenv("ZEPTUI_API_KEY", WRONG_KEY)  # the remote's own key wins
    outputs.append(run("add", "s1", "--role-type", "user", "--content", "hi", "--remote", "work"))
    assert [m.content for m in keyed.store.list_messages("s1").messages] == ["hi"]
    listed = run("sessions", "--json", "--remote", "work")
    outputs.append(listed)
    assert [s["session_id"] for s in json.loads(listed.stdout)] == ["s1"]
    tested = run("remote", "test", "work")
    outputs.append(tested)
    assert tested.stdout == (
        f"work ({keyed.url}): ok, zeptui serve, API v2 (X-Zep-Version 0.27.2-zeptui), "
        "healthy, the key from $WORK_ZEP_KEY accepted.\n"
    )
    shown = run("remote", "show", "work", "--json")
    outputs.append(shown)
    assert json.loads(shown.stdout) == {
        "name": "work",
        "url": keyed.url,
        "api_key_env": "WORK_ZEP_KEY",
        "api_key_file": None,
        "key_usable": True,
        "key_problem": None,
    }
    for result in outputs:
        assert API_KEY not in result.stdout + result.stderr


def test_a_remote_with_its_key_from_stdin_keeps_it_in_an_owner_only_file(
    keyed: Served, isolated_settings: Path
) -> None:
    url_with_credentials = keyed.url.replace("http://", "http://ana:pw@")
    outputs = [
        run("remote", "add", "home", keyed.url, "--api-key-stdin", stdin=API_KEY + "\n"),
        run("remote", "add", "other", url_with_credentials, "--api-key-env", "OTHER"),
    ]
    config = isolated_settings / "config.toml"
    key_file = isolated_settings / "remotes" / "home.key"
    assert API_KEY not in config.read_text()
    assert 'api_key_file = "remotes/home.key"' in config.read_text()
    assert key_file.read_text() == API_KEY + "\n"
    assert mode(key_file) == 0o600
    assert mode(key_file.parent) == 0o700
    outputs.append(run("sessions", "--remote", "home"))
    listed = run("remote", "list", "--json")
    outputs.append(listed)
    assert [(r["name"], r["url"], r["api_key_file"]) for r in json.loads(listed.stdout)] == [
        ("home", keyed.url, str(key_file)),
        ("other", keyed.url.replace("http://", "http://ana:***@"), None),
    ]
    outputs.append(run("remote", "list"))
    outputs.append(run("remote", "show", "home"))
    assert "(present)" in outputs[-1].stdout
    assert all("pw@" not in result.stdout for result in outputs)
    key_file.chmod(0o640)
    assert fail("users", "--remote", "home") == (
        f"zeptui: error: {key_file} holds remote home's API key but others may read it; "
        f"make it yours alone (chmod 600 {key_file})"
    )
    key_file.chmod(0o600)
    removed = run("remote", "remove", "home")
    outputs.append(removed)
    assert removed.stdout == f"Removed remote home ({keyed.url}).\n"
    assert not key_file.exists()
    assert [r["name"] for r in json.loads(run("remote", "list", "--json").stdout)] == ["other"]
    for result in outputs:
        assert API_KEY not in result.stdout + result.stderr


def test_remote_mistakes_are_one_line_and_write_nothing(
    keyed: Served, isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = isolated_settings / "config.toml"
    assert fail("sessions", "--remote", "nowhere") == (
        "zeptui: error: no remote named nowhere (known: none yet: zeptui remote add NAME URL); "
        "--remote takes a name or a server's URL (http://HOST:PORT)"
    )
    for args, line in [
        (("bad.name", keyed.url), "'bad.name' is not a remote's name"),
        (("a", "ftp://host/"), "ftp://host/ is not a server's URL (http://HOST:PORT)"),
        (("a", keyed.url, "--api-key-env", "1X"), "'1X' is not an environment variable's name"),
        (("a", keyed.url, "--api-key-env", "X", "--api-key-stdin"), "name two keys; give one"),
        (("a", keyed.url, "--api-key-stdin"), "the API key is empty"),
    ]:
        assert line in fail("remote", "add", *args)
        assert not config.exists()
        assert not (isolated_settings / "remotes").exists()
    run("remote", "add", "work", keyed.url, "--api-key-env", "WORK_ZEP_KEY")
    config.chmod(0o644)
    with_password = keyed.url.replace("http://", "http://ana:pw@")
    assert fail("remote", "add", "mine", with_password) == (
        f"zeptui: error: the URL holds a password and {config} may be read by others; make "
        f"it yours alone (chmod 600 {config}) or give the key with --api-key-stdin"
    )
    written = config.read_text()
    assert fail("remote", "add", "work", "http://127.0.0.1:9") == (
        f"zeptui: error: a remote named work exists ({keyed.url}); zeptui remote remove work first"
    )
    assert fail("show", "s", "--remote", "wrok") == (
        "zeptui: error: no remote named wrok (known: work); --remote takes a name or a "
        "server's URL (http://HOST:PORT)"
    )
    assert fail("remote", "remove", "wrok").startswith("zeptui: error: no remote named wrok")
    for args in (("remote", "list", "--remote", "work"), ("--db", "x", "remote", "show", "work")):
        assert fail(*args) == (
            "zeptui: error: zeptui remote names servers in the config file; --db and --remote "
            "do not apply"
        )
    assert config.read_text() == written
    monkeypatch.setenv("WORK_ZEP_KEY", WRONG_KEY)
    assert fail("remote", "test", "work") == (
        f"zeptui: error: {keyed.url} refused the API key (401 unauthorized)"
    )
    run("remote", "add", "gone", "http://127.0.0.1:9")
    result = run("remote", "test", "gone", code=1)
    assert one_error_line(result.stderr) == (
        "zeptui: error: cannot reach http://127.0.0.1:9 (connection refused)"
    )


def test_a_wrong_remote_in_the_config_file_is_named_by_its_line(isolated_settings: Path) -> None:
    isolated_settings.mkdir(parents=True)
    config = isolated_settings / "config.toml"
    config.write_text('[app]\ntheme = "nord"\n\n[remotes.work]\nurl = "http://x:1"\ncolour = 1\n')
    assert fail("remote", "list") == (
        f"zeptui: error: {config}:4: remote work has an unknown field colour "
        "(a remote has url, api_key_env, api_key_file)"
    )
    config.write_text('[remotes.work]\napi_key_env = "K"\n')
    assert fail("sessions", "--remote", "work") == (
        f"zeptui: error: {config}:1: remote work needs a url (http://HOST:PORT)"
    )
    # The settings beside the remotes are read as before.
    config.write_text('[app]\ntheme = "nord"\n\n[remotes.work]\nurl = "http://x:1"\n')
    assert "nord" in run("config").stdout


def test_zeptui_remote_name_opens_the_app_on_the_server(
    keyed: Served, tmp_path: Path, terminal: list[Terminal]
) -> None:
    keyed.store.add_memory("on-the-server", [Message(role_type=RoleType.user, content="hi")])
    run("remote", "add", "home", keyed.url, "--api-key-stdin", stdin=API_KEY)
    app = Terminal(["--remote", "home"], script_env(tmp_path))
    terminal.append(app)
    app.read_until(b"on-the-server")  # the session, listed by the server
    app.read_until(b"API v2")  # the header names the server
    app.type(b"q")
    assert app.wait() == 0
    assert API_KEY.encode() not in app.output


def test_remote_test_says_what_a_plain_zep_server_is(proxy: Proxy, db: Path) -> None:
    proxy.hide_zeptui = True
    assert run("remote", "test", proxy.url).stdout == (
        f"{proxy.url}: ok, a Zep server, API v1 (X-Zep-Version 0.27.2-zeptui), healthy, "
        "no key sent.\n"
    )
