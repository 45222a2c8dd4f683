"""Where zeptui's files are, and where each setting's value comes from.

Cheap to import (the standard library and `platformdirs`): the CLI resolves the
database and the app its theme before their first frame, without pydantic. The typed,
validated settings are `zeptui.settings.Settings`, built on what this module reads.

A setting's value is the first of: a command-line flag, an environment variable
(`ZEPTUI_*`, plus the `OPENAI_*` ones other tools read), the config file (TOML, in the
platform's user config directory, `config.toml`; `$ZEPTUI_CONFIG_DIR` names another
directory, which tests use), and its default. `read_layers` says which, per setting.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import platformdirs

APP_NAME = "zeptui"
CONFIG_DIR_ENV_VAR = "ZEPTUI_CONFIG_DIR"
"""Environment variable naming the directory of the config file (and the app's cache)."""
CONFIG_FILENAME = "config.toml"
DB_ENV_VAR = "ZEPTUI_DB"
"""Environment variable naming the database file when `--db` is not given."""
DB_FILENAME = "zeptui.duckdb"
DEMO_DB_FILENAME = "demo.duckdb"
REMOTES_TABLE = "remotes"
"""The config file's table of named remotes (`[remotes.NAME]`, zeptui/remotes.py)."""
DEFAULT_THEME = "textual-dark"
DEFAULT_MESSAGE_WINDOW = 12
"""Zep's `memory.message_window` default (also `storage.store.DEFAULT_MESSAGE_WINDOW`)."""
MIN_MESSAGE_WINDOW = 2
"""The smallest window the store accepts."""


class SettingsError(Exception):
    """A configuration that cannot be used: one line naming where the value came from
    (the config file with its line, the environment variable or the flag)."""


@dataclass(frozen=True)
class Key:
    """A setting: its dotted name (its place in the config file), the environment
    variables that set it (the first one set wins) and the flag, if any."""

    name: str
    env: tuple[str, ...] = ()
    flag: str | None = None
    secret: bool = False
    """Shown masked, never written to the config file by zeptui."""
    help: str = ""


KEYS: tuple[Key, ...] = (
    Key("database.path", (DB_ENV_VAR,), "--db", help="The database file."),
    Key(
        "memory.message_window",
        ("ZEPTUI_MESSAGE_WINDOW",),
        help="Messages in a memory without lastn; summaries fold in what is older.",
    ),
    Key("summarizer.kind", ("ZEPTUI_SUMMARIZER",), "--summarizer", help="extractive or llm."),
    Key(
        "summarizer.llm.base_url",
        ("ZEPTUI_LLM_BASE_URL", "OPENAI_BASE_URL"),
        help="An OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1.",
    ),
    Key("summarizer.llm.model", ("ZEPTUI_LLM_MODEL",), help="The model to ask."),
    Key(
        "summarizer.llm.api_key",
        ("ZEPTUI_LLM_API_KEY", "OPENAI_API_KEY"),
        secret=True,
        help="Sent as a bearer token, if the endpoint needs one.",
    ),
    Key(
        "summarizer.llm.timeout",
        ("ZEPTUI_LLM_TIMEOUT",),
        help="Seconds one request may take in all (connect, wait, read).",
    ),
    Key("app.theme", ("ZEPTUI_THEME",), help="The app's theme (the app remembers a change)."),
    Key("app.keys", help="The app's keys: a table of binding id = keys (README, Keys)."),
    Key(
        "remote.api_key",
        ("ZEPTUI_API_KEY",),
        secret=True,
        help="The API key of the server --remote names (Api-Key on /api/v2, Bearer on v1).",
    ),
    Key(
        "remote.api_version",
        ("ZEPTUI_API_VERSION",),
        help="auto (asked of the server), v2 or v1: the API the server speaks.",
    ),
    Key(
        "remote.timeout",
        ("ZEPTUI_REMOTE_TIMEOUT",),
        help="Seconds to wait for the server's answer to one request.",
    ),
    Key("server.host", ("ZEPTUI_SERVER_HOST",), "--host", help="Where zeptui serve listens."),
    Key(
        "server.port",
        ("ZEPTUI_SERVER_PORT",),
        "--port",
        help="zeptui serve's port (0: any free one).",
    ),
    Key(
        "server.max_body",
        ("ZEPTUI_SERVER_MAX_BODY",),
        "--max-body",
        help="The largest request body zeptui serve reads (10MB, 512KiB, bytes).",
    ),
    Key(
        "server.api_key_env",
        ("ZEPTUI_SERVER_API_KEY_ENV",),
        "--api-key-env",
        help="The environment variable holding zeptui serve's API key (the key is never stored).",
    ),
    Key(
        "server.log_level",
        ("ZEPTUI_SERVER_LOG_LEVEL",),
        "--log-level",
        help="zeptui serve's log level: critical, error, warning, info, debug.",
    ),
)
KEYS_BY_NAME = {key.name: key for key in KEYS}


@dataclass(frozen=True)
class Source:
    """Where a setting's value came from."""

    kind: Literal["default", "file", "env", "flag"]
    where: str | None = None
    """The config file's path, the environment variable's name or the flag."""

    def __str__(self) -> str:
        if self.kind == "env":
            return f"${self.where}"
        return self.where or self.kind


DEFAULT = Source("default")


# --- where things are ----------------------------------------------------------------


def _override(env: Mapping[str, str] | None) -> Path | None:
    value = (os.environ if env is None else env).get(CONFIG_DIR_ENV_VAR, "")
    return Path(value).expanduser() if value.strip() else None


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """The directory of the config file: `$ZEPTUI_CONFIG_DIR`, else the platform's."""
    return _override(env) or platformdirs.user_config_path(APP_NAME)


def config_file(env: Mapping[str, str] | None = None) -> Path:
    """The config file (it may not exist)."""
    return config_dir(env) / CONFIG_FILENAME


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """What the app can read again: `$ZEPTUI_CONFIG_DIR/cache`, else the platform's
    user cache directory."""
    override = _override(env)
    return override / "cache" if override else platformdirs.user_cache_path(APP_NAME)


def data_dir() -> Path:
    """zeptui's per-user data directory (not created)."""
    return platformdirs.user_data_path(APP_NAME)


def default_db_path() -> Path:
    """The database when nothing names one: `zeptui.duckdb` in the user data dir."""
    return data_dir() / DB_FILENAME


def resolve_db_path(option: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The database file: `--db`, else `$ZEPTUI_DB`, else the config file's
    `database.path`, else `<user data dir>/zeptui.duckdb`.

    Nothing is created here: a store that writes creates the file and its directory.
    """
    flags = {"database.path": option} if option is not None and str(option) != "" else {}
    value, _source = read_layers(flags, env).get("database.path", (None, DEFAULT))
    return Path(value).expanduser() if value is not None else default_db_path()


def demo_db_path(option: str | Path | None = None) -> Path:
    """The demo database: `--db` if given, else `<user data dir>/demo.duckdb`."""
    if option is not None and str(option) != "":
        return Path(option).expanduser()
    return data_dir() / DEMO_DB_FILENAME


def sample_data_dir() -> Path:
    """The bundled demo data.

    `zeptui/sample_data` inside an installed wheel, `<repo>/sample_data` in a checkout.
    """
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "sample_data", package_dir.parent / "sample_data"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"zeptui's sample data is missing (looked in {package_dir})")


def sample_files() -> list[Path]:
    """The bundled demo files, sorted by name."""
    directory = sample_data_dir()
    return sorted(
        path
        for path in directory.iterdir()
        if path.is_file() and path.suffix.lower() in {".json", ".jsonl", ".ndjson"}
    )


# --- where values come from ----------------------------------------------------------


def read_layers(
    flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> dict[str, tuple[Any, Source]]:
    """Each setting that is set somewhere: its value and where it came from (flags,
    then the environment, then the config file). Settings left at their default are
    absent. Raises `SettingsError` for a config file that is not valid TOML or that
    names a setting zeptui does not have."""
    env = os.environ if env is None else env
    path = config_file(env)
    found: dict[str, tuple[Any, Source]] = {
        name: (value, Source("file", str(path))) for name, value in read_file(path).items()
    }
    for key in KEYS:
        for variable in key.env:
            value = env.get(variable, "").strip()
            if value:  # a blank variable is unset
                found[key.name] = (value, Source("env", variable))
                break
    for name, value in (flags or {}).items():
        if value is not None:
            found[name] = (value, Source("flag", KEYS_BY_NAME[name].flag))
    return found


def read_file(path: Path) -> dict[str, Any]:
    """The settings in the config file at `path`, by dotted name ({} when it is missing).

    A relative `database.path` in the file is relative to the file's directory."""
    text, document = read_toml(path)
    # Named remotes (`[remotes.NAME]`) are servers, not settings: zeptui/remotes.py.
    values = dict(_flatten({k: v for k, v in document.items() if k != REMOTES_TABLE}))
    for name in values:
        if name not in KEYS_BY_NAME:
            known = ", ".join(key.name for key in KEYS)
            raise SettingsError(
                f"{path}:{_line_of(text, name)}: unknown setting {name} (zeptui has {known})"
            )
    if isinstance(values.get("database.path"), str):
        values["database.path"] = str(path.parent / Path(values["database.path"]).expanduser())
    return values


def read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    """The config file's text and its TOML document (both empty when it is missing);
    `SettingsError` naming the line when it is not valid TOML."""
    import tomllib

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return "", {}
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"{path}: cannot be read ({error})") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(_toml_error(path, str(error))) from None


def _flatten(table: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, value in table.items():
        dotted = prefix + name
        if isinstance(value, dict) and not any(key.name == dotted for key in KEYS):
            yield from _flatten(value, dotted + ".")
        else:
            yield dotted, value


def _toml_error(path: Path, message: str) -> str:
    """`path:line: what` for a TOML syntax error."""
    match = re.search(r"\s*\(at line (?P<line>\d+), column \d+\)$", message)
    if match is None:
        return f"{path}: not valid TOML ({message})"
    return f"{path}:{match['line']}: not valid TOML ({message[: match.start()]})"


def _line_of(text: str, name: str) -> int:
    """The line that sets `name` (a best guess from its last part), else 1."""
    last = re.escape(name.rsplit(".", 1)[-1])
    pattern = re.compile(rf"""^\s*(?:[\w."'-]*\.)?["']?{last}["']?\s*=""")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return 1


def line_of(path: Path, name: str) -> int:
    """The line of the config file at `path` that sets `name` (for error messages)."""
    try:
        return _line_of(path.read_text(encoding="utf-8"), name)
    except (OSError, UnicodeDecodeError):
        return 1


# --- writing -------------------------------------------------------------------------


def remember(
    name: str, value: str | int | float | bool, env: Mapping[str, str] | None = None
) -> Path:
    """Set `name` to `value` in the config file and nothing else: the file's comments,
    layout and other settings stay as they are (see `edit`). Secrets are never written
    this way.

    Raises `SettingsError` when the file is not valid TOML (it is left alone), and
    OSError when it cannot be written."""
    key = KEYS_BY_NAME[name]
    if key.secret:
        raise ValueError(f"{name} is a secret: zeptui does not write it")

    def change(document: Any) -> None:
        import tomlkit

        *sections, last = name.split(".")
        table: Any = document
        for section in sections:
            if section not in table:
                table[section] = tomlkit.table()
            table = table[section]
        table[last] = value

    return edit(change, env)


def edit(change: Callable[[Any], None], env: Mapping[str, str] | None = None) -> Path:
    """Apply `change` to the config file's TOML document (a tomlkit document, changed
    in place) and write it back whole, atomically: comments, layout and what `change`
    leaves alone stay as they are (a symlink is followed; a new file is readable by its
    owner only). Returns the file's path.

    Raises `SettingsError` when the file is not valid TOML (it is left alone), and
    OSError when it cannot be written; `change` may raise to write nothing."""
    import tempfile

    import tomlkit

    path = Path(os.path.realpath(config_file(env)))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as error:
        raise SettingsError(f"{path}:{error.line}: not valid TOML; left as it is") from None
    change(document)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o600
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with open(fd, "w", encoding="utf-8") as out:
            out.write(tomlkit.dumps(document))
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path
