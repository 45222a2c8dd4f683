"""`zeptui serve` refusing to start: each mistake is one line and a non-zero exit, and
nothing is created or changed. Its settings come from flags, ZEPTUI_SERVER_* and the
config file like every other setting. (The running server: tests/server/test_serve_*.)"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.cli_helpers import fail, run, run_json
from zeptui.server.discovery import discovery_path


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--max-body", "ten"], "--max-body: server.max_body 'ten' is not a size"),
        (["--max-body", "12"], "a body limit of 12 bytes is too small"),
        (["--port", "70000"], "--port: server.port should be less than or equal to 65535"),
        (["--api-key-env", "no such"], "must be the name of an environment variable"),
        (
            ["--api-key-env", "ZEPTUI_TEST_UNSET_KEY"],
            "--api-key-env names $ZEPTUI_TEST_UNSET_KEY for the API key, but "
            "$ZEPTUI_TEST_UNSET_KEY is not set",
        ),
        (["--host", "0.0.0.0"], "refusing to listen on 0.0.0.0 without an API key"),
        (["--host", "::"], "refusing to listen on :: without an API key"),
    ],
)
def test_a_bad_flag_is_one_line_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: list[str], expected: str
) -> None:
    monkeypatch.delenv("ZEPTUI_TEST_UNSET_KEY", raising=False)
    path = tmp_path / "new.duckdb"
    assert expected in fail("serve", "--db", path, *flags)
    assert not path.exists() and not discovery_path(path).exists()


@pytest.mark.parametrize(
    "flags",
    [["--port", "many"], ["--log-level", "loud"], ["--log-level", "trace"]],  # trace logs keys
)
def test_an_unparsable_flag_is_a_usage_error(tmp_path: Path, flags: list[str]) -> None:
    assert "Invalid value" in fail("serve", "--db", tmp_path / "x.duckdb", *flags, code=2)


def test_a_port_in_use_from_the_config_file_is_one_line(
    tmp_path: Path, isolated_settings: Path
) -> None:
    path = tmp_path / "new.duckdb"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        isolated_settings.mkdir(parents=True, exist_ok=True)
        (isolated_settings / "config.toml").write_text(f"[server]\nport = {port}\n")
        line = fail("serve", "--db", path)
    assert line.endswith(
        f"cannot listen on 127.0.0.1:{port} (Address already in use); "
        "choose another with --port (0: any free port)"
    )
    assert not path.exists()


def test_zeptui_config_shows_the_server_settings_and_their_sources(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolated_settings.mkdir(parents=True, exist_ok=True)
    config = isolated_settings / "config.toml"
    config.write_text('[server]\nmax_body = "2MiB"\napi_key_env = "ZEP_API_KEY"\n')
    monkeypatch.setenv("ZEPTUI_SERVER_PORT", "9001")
    monkeypatch.setenv("ZEP_API_KEY", "a-secret-key")
    shown = {
        name: (entry["value"], entry["source"])
        for name, entry in run_json("config")["settings"].items()
        if name.startswith("server.")
    }
    assert shown == {
        "server.host": ("127.0.0.1", "default"),
        "server.port": (9001, "env"),
        "server.max_body": (2 * 1024 * 1024, "file"),
        "server.api_key_env": ("ZEP_API_KEY", "file"),
        "server.log_level": ("info", "default"),
    }
    assert "a-secret-key" not in run("config").stdout


def test_a_bad_server_setting_in_the_config_file_names_its_line(
    tmp_path: Path, isolated_settings: Path
) -> None:
    isolated_settings.mkdir(parents=True, exist_ok=True)
    config = isolated_settings / "config.toml"
    config.write_text('[memory]\nmessage_window = 12\n[server]\nlog_level = "loud"\n')
    line = fail("serve", "--db", tmp_path / "x.duckdb")
    assert line.startswith(f"zeptui: error: {config}:4: server.log_level should be")
