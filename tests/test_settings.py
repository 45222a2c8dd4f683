"""zeptui's settings: flags over environment over config file over defaults, with the
source of each; the config file's errors; the summarizer built from the settings;
`zeptui config`; the theme the app remembers."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from storage.llm_summarizer import LLMSummarizer
from storage.summarizers import ExtractiveSummarizer, SummarizerError
from tests.cli_helpers import fail, run
from zeptui import config
from zeptui.app.settings import Settings as AppSettings
from zeptui.compose import StoreTarget, build_summarizer
from zeptui.config import KEYS, SettingsError
from zeptui.settings import load

ROOT = Path(__file__).resolve().parents[1]


def write_config(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults(isolated_settings: Path) -> None:
    settings = load(env={"ZEPTUI_CONFIG_DIR": str(isolated_settings)})
    assert settings.database.path == config.default_db_path()
    assert settings.memory.message_window == 12
    assert settings.summarizer.kind == "extractive"
    assert settings.summarizer.llm.timeout == 60
    assert settings.app.theme == "textual-dark"
    assert {str(settings.source(key.name)) for key in KEYS} == {"default"}


def test_flags_beat_the_environment_which_beats_the_file(isolated_settings: Path) -> None:
    path = write_config(
        isolated_settings,
        '[database]\npath = "file.duckdb"\n[memory]\nmessage_window = 20\n'
        '[summarizer]\nkind = "llm"\n[summarizer.llm]\nmodel = "file-model"\n',
    )
    env = {
        "ZEPTUI_CONFIG_DIR": str(isolated_settings),
        "ZEPTUI_DB": "/env/z.duckdb",
        "ZEPTUI_LLM_MODEL": "env-model",
    }
    settings = load({"database.path": "/flag/z.duckdb", "summarizer.kind": None}, env)
    assert settings.database.path == Path("/flag/z.duckdb")
    assert str(settings.source("database.path")) == "--db"
    assert settings.summarizer.llm.model == "env-model"
    assert str(settings.source("summarizer.llm.model")) == "$ZEPTUI_LLM_MODEL"
    assert settings.memory.message_window == 20
    assert settings.summarizer.kind == "llm"  # a flag left out (None) is not given
    assert str(settings.source("summarizer.kind")) == str(path)
    without_flag = load(env=env)
    assert without_flag.database.path == Path("/env/z.duckdb")
    file_only = load(env={"ZEPTUI_CONFIG_DIR": str(isolated_settings)})
    assert file_only.database.path == isolated_settings / "file.duckdb"  # beside the file


def test_every_environment_variable_sets_its_setting(isolated_settings: Path) -> None:
    values = {
        "ZEPTUI_DB": "/e/z.duckdb",
        "ZEPTUI_MESSAGE_WINDOW": "8",
        "ZEPTUI_SUMMARIZER": " LLM ",
        "ZEPTUI_LLM_BASE_URL": "http://127.0.0.1:9/v1",
        "ZEPTUI_LLM_MODEL": "m",
        "ZEPTUI_LLM_API_KEY": "zk",
        "ZEPTUI_LLM_TIMEOUT": "2.5",
        "ZEPTUI_THEME": "nord",
        "ZEPTUI_API_KEY": "rk",
        "ZEPTUI_API_VERSION": " V1",
        "ZEPTUI_REMOTE_TIMEOUT": "7",
        "ZEPTUI_SERVER_HOST": "::1",
        "ZEPTUI_SERVER_PORT": "8123",
        "ZEPTUI_SERVER_MAX_BODY": "2MiB",
        "ZEPTUI_SERVER_API_KEY_ENV": "ZEP_KEY",
        "ZEPTUI_SERVER_LOG_LEVEL": "Debug",
    }
    settings = load(env={"ZEPTUI_CONFIG_DIR": str(isolated_settings), **values})
    assert settings.database.path == Path("/e/z.duckdb")
    assert settings.memory.message_window == 8
    assert settings.summarizer.kind == "llm"
    assert settings.summarizer.llm.base_url == "http://127.0.0.1:9/v1"
    assert settings.summarizer.llm.api_key is not None
    assert settings.summarizer.llm.api_key.get_secret_value() == "zk"
    assert settings.summarizer.llm.timeout == 2.5
    assert settings.app.theme == "nord"
    assert settings.remote.api_key is not None
    assert settings.remote.api_key.get_secret_value() == "rk"
    assert (settings.remote.api_version, settings.remote.timeout) == ("v1", 7.0)
    server = settings.server
    assert (server.host, server.port, server.max_body) == ("::1", 8123, 2 * 1024 * 1024)
    assert (server.api_key_env, server.log_level) == ("ZEP_KEY", "debug")
    named = {variable for key in KEYS for variable in key.env}
    assert named == {*values, "OPENAI_BASE_URL", "OPENAI_API_KEY"}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert all(f"`{variable}`" in readme for variable in named)  # each one documented


def test_llm_falls_back_to_openai_variables_and_blank_is_unset(isolated_settings: Path) -> None:
    env = {
        "ZEPTUI_CONFIG_DIR": str(isolated_settings),
        "ZEPTUI_SUMMARIZER": "llm",
        "ZEPTUI_LLM_MODEL": "gpt-4o-mini",
        "OPENAI_BASE_URL": "https://api.example.com/v1",
        "OPENAI_API_KEY": "sk-openai",
        "ZEPTUI_LLM_API_KEY": "  ",
    }
    summarizer = build_summarizer(load(env=env).summarizer)
    assert isinstance(summarizer, LLMSummarizer)
    assert summarizer.base_url == "https://api.example.com/v1"
    assert summarizer.api_key == "sk-openai"
    assert summarizer.timeout == 60
    keyless = build_summarizer(
        load(env={**env, "OPENAI_API_KEY": "", "ZEPTUI_LLM_BASE_URL": "http://u/v1"}).summarizer
    )
    assert isinstance(keyless, LLMSummarizer)
    assert (keyless.base_url, keyless.api_key) == ("http://u/v1", None)
    extractive = load(env={**env, "ZEPTUI_SUMMARIZER": " Extractive "})
    assert isinstance(build_summarizer(extractive.summarizer), ExtractiveSummarizer)


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"ZEPTUI_LLM_BASE_URL": "http://x/v1"}, "needs ZEPTUI_LLM_MODEL to be set"),
        ({"ZEPTUI_LLM_MODEL": "m"}, "needs ZEPTUI_LLM_BASE_URL (or OPENAI_BASE_URL) to be"),
        ({}, "needs ZEPTUI_LLM_BASE_URL (or OPENAI_BASE_URL) and ZEPTUI_LLM_MODEL to be set"),
    ],
)
def test_the_llm_summarizer_names_what_it_misses(
    isolated_settings: Path, env: dict[str, str], needle: str
) -> None:
    settings = load(env={"ZEPTUI_CONFIG_DIR": str(isolated_settings), **env})
    settings = settings.model_copy(
        update={"summarizer": settings.summarizer.model_copy(update={"kind": "llm"})}
    )
    with pytest.raises(SettingsError) as info:
        build_summarizer(settings.summarizer)
    assert needle in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("key", ["sk-clé-ünïcode", "sk key", "sk-a\nb"])
def test_an_llm_key_that_cannot_be_a_header_is_a_clear_error(
    isolated_settings: Path, key: str
) -> None:
    env = {
        "ZEPTUI_CONFIG_DIR": str(isolated_settings),
        "ZEPTUI_SUMMARIZER": "llm",
        "ZEPTUI_LLM_BASE_URL": "http://127.0.0.1:9/v1",
        "ZEPTUI_LLM_MODEL": "m",
        "ZEPTUI_LLM_API_KEY": key,
    }
    with pytest.raises(SummarizerError) as info:
        build_summarizer(load(env=env).summarizer)
    message = str(info.value)
    assert "printable ASCII" in message and "\n" not in message and key.strip() not in message


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ZEPTUI_LLM_TIMEOUT", "0", "summarizer.llm.timeout must be a positive number of seconds"),
        ("ZEPTUI_LLM_TIMEOUT", "-1", "summarizer.llm.timeout must be a positive"),
        ("ZEPTUI_LLM_TIMEOUT", "soon", "summarizer.llm.timeout must be a positive"),
        ("ZEPTUI_LLM_TIMEOUT", "inf", "summarizer.llm.timeout must be a positive"),
        ("ZEPTUI_LLM_TIMEOUT", "nan", "summarizer.llm.timeout must be a positive"),
        ("ZEPTUI_MESSAGE_WINDOW", "1", "memory.message_window should be greater than or equal"),
        ("ZEPTUI_MESSAGE_WINDOW", "many", "memory.message_window should be a valid integer"),
        ("ZEPTUI_SUMMARIZER", "magic", "summarizer.kind should be 'extractive' or 'llm'"),
    ],
)
def test_a_bad_value_names_its_variable(
    isolated_settings: Path, variable: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError) as info:
        load(env={"ZEPTUI_CONFIG_DIR": str(isolated_settings), variable: value})
    assert str(info.value).startswith(f"${variable}: {message}")
    assert str(info.value).endswith(f", not {value!r}")


def test_config_file_errors_name_the_file_and_line(isolated_settings: Path) -> None:
    path = write_config(isolated_settings, '[memory]\nmessage_window = 12\n[app\ntheme = "x"\n')
    with pytest.raises(SettingsError, match=rf"^{re.escape(str(path))}:3: not valid TOML"):
        load()
    write_config(isolated_settings, "[memory]\n# the window\nmesage_window = 4\n")
    with pytest.raises(SettingsError) as info:
        load()
    assert str(info.value).startswith(f"{path}:3: unknown setting memory.mesage_window")
    write_config(isolated_settings, "[app]\ntheme = 'nord'\n\n[summarizer.llm]\ntimeout = -3\n")
    with pytest.raises(SettingsError) as info:
        load()
    assert str(info.value) == (
        f"{path}:5: summarizer.llm.timeout must be a positive number of seconds, not -3"
    )


def test_config_errors_are_one_line_in_the_cli(db: Path, isolated_settings: Path) -> None:
    path = write_config(isolated_settings, "[database\n")
    line = fail("sessions")
    assert line.startswith(f"zeptui: error: {path}:1: not valid TOML")
    path.unlink()
    assert fail("stats", "--remote", "http://u:pw@host.invalid/") == (
        "zeptui: error: cannot reach http://u:***@host.invalid (unknown host)"
    )


def test_a_database_in_the_config_file_is_used(
    db: Path, isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZEPTUI_DB")
    write_config(isolated_settings, '[database]\npath = "from-file.duckdb"\n')
    run("add", "s1", "--role-type", "user", "--content", "hi")
    assert (isolated_settings / "from-file.duckdb").exists()
    assert run("sessions", "--json").stdout.count('"session_id": "s1"') == 1


def test_the_message_window_setting_reaches_the_store(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZEPTUI_MESSAGE_WINDOW", "4")
    for n in range(4):
        run("add", "s", "--role-type", "user", "--content", f"Message {n} about kayaks.")
    memory = json.loads(run("show", "s", "--memory-type", "message_window", "--json").stdout)
    assert len(memory["messages"]) == 2  # a summary covers the first half of the window
    assert memory["summary"] is not None


# --- zeptui config ------------------------------------------------------------------


def test_zeptui_config_shows_values_and_sources_with_secrets_masked(
    db: Path, isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(isolated_settings, "[memory]\nmessage_window = 16\n")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    monkeypatch.setenv("ZEPTUI_LLM_BASE_URL", "http://ana:pa55@127.0.0.1:9/v1?api-key=k3y")
    shown = json.loads(run("config", "--json").stdout)
    assert shown["config_file"] == str(path) and shown["config_file_exists"] is True
    settings = shown["settings"]
    assert list(settings) == [key.name for key in KEYS]
    assert settings["database.path"] == {"value": str(db), "source": "env", "from": "ZEPTUI_DB"}
    assert settings["memory.message_window"] == {"value": 16, "source": "file", "from": str(path)}
    assert settings["summarizer.llm.api_key"]["value"] == "***"
    assert (
        settings["summarizer.llm.base_url"]["value"] == "http://ana:***@127.0.0.1:9/v1?api-key=***"
    )
    assert settings["app.theme"] == {"value": "textual-dark", "source": "default", "from": None}
    other = tmp = isolated_settings.parent / "flag.duckdb"
    flagged = json.loads(run("config", "--json", "--db", other).stdout)["settings"]
    assert flagged["database.path"] == {"value": str(tmp), "source": "flag", "from": "--db"}
    human = run("config").stdout
    for secret in ("sk-very-secret", "pa55", "k3y"):
        assert secret not in human
    assert f"memory.message_window    16  from {path}\n" in human
    assert "summarizer.llm.api_key   ***  from $OPENAI_API_KEY\n" in human
    assert "app.theme                textual-dark  from default\n" in human
    assert f"Config file: {path}" in human


def test_zeptui_config_path(db: Path, isolated_settings: Path) -> None:
    assert run("config", "path").stdout == f"{isolated_settings / 'config.toml'}\n"


# --- the theme the app remembers -----------------------------------------------------


def test_the_theme_is_remembered_in_the_file_keeping_the_rest(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = (
        "# my zeptui settings\n"
        "[memory]\n"
        "message_window = 16  # longer than Zep's\n"
        "\n"
        "[app]\n"
        'theme = "nord"\n'
    )
    path = write_config(isolated_settings, original)
    monkeypatch.setenv("ZEPTUI_LLM_API_KEY", "sk-from-env")
    assert AppSettings.load().theme == "nord"
    AppSettings(theme="dracula").save()
    assert path.read_text() == original.replace('"nord"', '"dracula"')
    assert AppSettings.load().theme == "dracula"
    monkeypatch.setenv("ZEPTUI_THEME", "gruvbox")  # the environment wins over the file
    assert AppSettings.load().theme == "gruvbox"


def test_a_new_config_file_is_private_and_holds_no_secrets(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZEPTUI_LLM_API_KEY", "sk-from-env")
    monkeypatch.setenv("ZEPTUI_LLM_MODEL", "m")
    AppSettings(theme="nord").save()
    path = isolated_settings / "config.toml"
    assert path.read_text() == '[app]\ntheme = "nord"\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(ValueError, match="secret"):
        config.remember("summarizer.llm.api_key", "sk")


def test_a_symlinked_config_file_stays_a_symlink(isolated_settings: Path, tmp_path: Path) -> None:
    dotfiles = write_config(tmp_path / "dotfiles", "[memory]\nmessage_window = 14\n")
    isolated_settings.mkdir()
    (isolated_settings / "config.toml").symlink_to(dotfiles)
    AppSettings(theme="nord").save()
    assert (isolated_settings / "config.toml").is_symlink()
    assert dotfiles.read_text() == '[memory]\nmessage_window = 14\n\n[app]\ntheme = "nord"\n'


def test_an_invalid_config_file_is_never_overwritten(isolated_settings: Path) -> None:
    path = write_config(isolated_settings, "[app\ntheme = 'nord'\n")
    assert AppSettings.load().theme == "textual-dark"
    AppSettings(theme="dracula").save()
    assert path.read_text() == "[app\ntheme = 'nord'\n"


# --- cold start ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "args", [["--help"], ["--version"], ["config", "path"], ["sessions", "--help"]]
)
def test_commands_that_need_no_store_import_no_heavy_module(args: list[str]) -> None:
    code = f"from zeptui.cli import main\ntry:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
    heavy = ("pydantic", "duckdb", "rich", "textual", "tomlkit", "storage.models")
    env = {**os.environ, "ZEPTUI_CONFIG_DIR": "/nonexistent-zeptui-config"}
    assert heavy_modules_loaded(code, heavy, env=env) == []


def test_finding_no_server_for_a_file_imports_no_heavy_module(tmp_path: Path) -> None:
    """The app's start asks whether a server holds the file before its first frame:
    when none does, that must not load the models (pydantic) on the way."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from zeptui.compose import _served\n"
        "assert _served(Path(sys.argv[1])) is None\n"
    )
    heavy = ("pydantic", "duckdb", "storage.models", "storage.capabilities")
    assert heavy_modules_loaded(code, heavy, str(tmp_path / "unserved.duckdb")) == []


def heavy_modules_loaded(
    code: str, heavy: tuple[str, ...], *argv: str, env: dict[str, str] | None = None
) -> list[str]:
    """Which of `heavy` a fresh interpreter has imported once it has run `code`."""
    script = f"{code}import sys\nprint(' '.join(n for n in {heavy!r} if n in sys.modules))\n"
    result = subprocess.run(
        [sys.executable, "-c", script, *argv], capture_output=True, text=True, cwd=ROOT,
        env=env, timeout=60, check=True,
    )  # fmt: skip
    return result.stdout.splitlines()[-1].split()


def test_a_store_target_is_a_file_or_a_refused_url() -> None:
    assert StoreTarget.file(Path("a.duckdb")).location == "a.duckdb"
    with pytest.raises(SettingsError, match="--db takes a file"):
        StoreTarget.file(Path("https://host/api"))
