"""zeptui's settings: one typed object from the flags, the environment and the config
file (in that order of precedence), with where each value came from.

`load(flags)` reads the layers (`zeptui.config.read_layers`) and validates them into
`Settings`; a value that does not fit is a one-line `SettingsError` naming its
source. `rows(settings)` is what `zeptui config` shows: every setting, its value
(secrets masked, URLs without their credentials) and its source.

The config file mirrors the sections here:

    [database]
    path = "~/chats/zeptui.duckdb"   # relative paths: to this file's directory

    [memory]
    message_window = 12

    [summarizer]
    kind = "llm"                     # or "extractive" (the default)

    [summarizer.llm]
    base_url = "http://127.0.0.1:11434/v1"
    model = "llama3.1"
    timeout = 60

    [app]
    theme = "nord"

    [app.keys]                       # rebind the app's keys by binding id (README)
    new_session = "ctrl+n"

    [server]                         # zeptui serve
    host = "127.0.0.1"
    port = 8000
    max_body = "10MB"
    api_key_env = "ZEP_API_KEY"      # the variable that holds the key, never the key
    log_level = "info"

    [remote]                         # the server of --remote URL
    api_version = "auto"             # or "v2", "v1"
    timeout = 30
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from zeptui import config
from zeptui.config import (
    DEFAULT,
    DEFAULT_MESSAGE_WINDOW,
    KEYS,
    MIN_MESSAGE_WINDOW,
    SettingsError,
    Source,
)

__all__ = ["Settings", "SettingsError", "load", "rows"]

DEFAULT_LLM_TIMEOUT = 60.0
"""Seconds one LLM request may take in all (connect, headers and body)."""
DEFAULT_REMOTE_TIMEOUT = 30.0
"""Seconds to wait for a remote server's answer to one request."""
DEFAULT_PORT = 8000
DEFAULT_MAX_BODY = 10 * 1024 * 1024
"""Request bodies zeptui serve reads at most (zeptui.server.app's default too)."""
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    path: Path = Field(default_factory=config.default_db_path)

    @field_validator("path", mode="after")
    @classmethod
    def _expand(cls, path: Path) -> Path:
        return path.expanduser()


class MemorySettings(_Section):
    message_window: int = Field(default=DEFAULT_MESSAGE_WINDOW, ge=MIN_MESSAGE_WINDOW)


def _seconds(value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(value, bool) or not 0 < seconds < math.inf:
        raise ValueError("must be a positive number of seconds")
    return seconds


def _lowered(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


class LLMSettings(_Section):
    base_url: str | None = None
    model: str | None = None
    api_key: SecretStr | None = None
    timeout: float = DEFAULT_LLM_TIMEOUT

    _positive = field_validator("timeout", mode="before")(_seconds)


class SummarizerSettings(_Section):
    kind: Literal["extractive", "llm"] = "extractive"
    llm: LLMSettings = LLMSettings()

    _normalise = field_validator("kind", mode="before")(_lowered)


class AppSettings(_Section):
    theme: str = config.DEFAULT_THEME
    keys: dict[str, Any] = Field(default_factory=dict)
    """Binding id -> keys; checked by the app (`zeptui.app.keys`), which reports what
    it cannot bind and starts anyway."""


class RemoteSettings(_Section):
    """How to talk to the server `--remote URL` names."""

    api_key: SecretStr | None = None
    api_version: Literal["auto", "v2", "v1"] = "auto"
    timeout: float = DEFAULT_REMOTE_TIMEOUT

    _positive = field_validator("timeout", mode="before")(_seconds)
    _normalise = field_validator("api_version", mode="before")(_lowered)


class ServerSettings(_Section):
    """`zeptui serve`: where it listens, its body limit, where its API key is."""

    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    max_body: int = DEFAULT_MAX_BODY
    api_key_env: str | None = None
    """The name of the environment variable that holds the key, never the key."""
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    """No `trace`: uvicorn logs each request's headers there, the API key among them."""

    @field_validator("host", mode="after")
    @classmethod
    def _named(cls, host: str) -> str:
        if not host.strip():
            raise ValueError("must name an address")
        return host.strip()

    @field_validator("max_body", mode="before")
    @classmethod
    def _size(cls, value: Any) -> int:
        from zeptui.server.run import ServeError, parse_size

        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError("must be a size such as 10MB, 512KiB or a number of bytes")
        try:
            return parse_size(str(value))
        except ServeError as error:
            raise ValueError(str(error)) from None

    @field_validator("api_key_env", mode="after")
    @classmethod
    def _variable(cls, name: str | None) -> str | None:
        if name is not None and not _VARIABLE.fullmatch(name):
            raise ValueError("must be the name of an environment variable, such as ZEP_API_KEY")
        return name

    _lower = field_validator("log_level", mode="before")(_lowered)


class Settings(_Section):
    """Every setting, validated; `sources` says where each value came from."""

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    memory: MemorySettings = MemorySettings()
    summarizer: SummarizerSettings = SummarizerSettings()
    app: AppSettings = AppSettings()
    remote: RemoteSettings = RemoteSettings()
    server: ServerSettings = ServerSettings()
    sources: dict[str, Source] = Field(default_factory=dict, exclude=True)
    config_file: Path = Field(default_factory=config.config_file, exclude=True)

    def value(self, name: str) -> Any:
        """The value of the setting with the dotted `name`."""
        found: Any = self
        for part in name.split("."):
            found = getattr(found, part)
        return found

    def source(self, name: str) -> Source:
        return self.sources.get(name, DEFAULT)


def load(flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """The settings from `flags` (by dotted name; None values are not given), the
    environment (`env`, default os.environ) and the config file."""
    layers = config.read_layers(flags, env)
    tree: dict[str, Any] = {}
    for name, (value, _source) in layers.items():
        *sections, last = name.split(".")
        table = tree
        for section in sections:
            table = table.setdefault(section, {})
        table[last] = value
    try:
        settings = Settings.model_validate(tree)
    except ValidationError as error:
        raise SettingsError(_first_problem(error, layers)) from None
    sources = {name: source for name, (_value, source) in layers.items()}
    return settings.model_copy(update={"sources": sources, "config_file": config.config_file(env)})


def _first_problem(error: ValidationError, layers: Mapping[str, tuple[Any, Source]]) -> str:
    """One line for the first invalid value: the setting, where it came from, why."""
    problem = error.errors()[0]
    name = ".".join(str(part) for part in problem["loc"])
    value, source = layers.get(name, (problem.get("input"), DEFAULT))
    where = str(source)
    if source.kind == "file" and source.where is not None:
        where = f"{source.where}:{config.line_of(Path(source.where), name)}"
    reason = problem["msg"].removeprefix("Value error, ").replace("Input should", "should")
    shown = "***" if name in _SECRETS else repr(value)
    return f"{where}: {name} {reason[:1].lower()}{reason[1:]}, not {shown}"


_SECRETS = frozenset(key.name for key in KEYS if key.secret)


@dataclass(frozen=True)
class Row:
    """A setting as `zeptui config` shows it."""

    name: str
    value: str | int | float | None
    source: Source
    help: str


def shown_value(name: str, value: Any) -> str | int | float | None:
    """`value` fit to print: secrets masked, URLs without credentials, paths as text."""
    if value is None:
        return None
    if name in _SECRETS:
        return "***"
    if isinstance(value, Path):
        return str(value)
    if name.endswith("url") and isinstance(value, str):
        from storage.urls import redact_url

        return redact_url(value)
    if isinstance(value, str | int | float):
        return value
    return str(value)


def rows(settings: Settings) -> list[Row]:
    """Every setting with its shown value and its source, in the config file's order."""
    return [
        Row(
            key.name,
            shown_value(key.name, settings.value(key.name)),
            settings.source(key.name),
            key.help,
        )
        for key in KEYS
    ]
