"""The composition root: a store and its summarizer, built from what the user gave.

Every front end opens its store here: `StoreTarget` is what the user named (a file
with `--db PATH`, a server with `--remote URL`), `open_store` opens it with the
settings (the message window, the summarizer; the API key, API version and timeout of
a server) and closes it after the block, and
`build_summarizer` turns the summarizer settings into a `Summarizer`. Nothing else
constructs a store or reads the configuration for one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from zeptui.config import SettingsError

if TYPE_CHECKING:
    from storage.store import MemoryStore
    from storage.summarizers import Summarizer
    from zeptui.settings import Settings, SummarizerSettings

__all__ = ["StoreTarget", "build_summarizer", "connect", "open_store"]

REMOTE_SCHEMES = ("http:/", "https:/")
"""How a URL begins, also once a `Path` has folded its `//`."""


@dataclass(frozen=True)
class StoreTarget:
    """The store the user named: a database file, or a server's URL."""

    kind: Literal["file", "remote"]
    path: Path | None = None
    url: str | None = None

    @classmethod
    def file(cls, path: Path) -> StoreTarget:
        if str(path).startswith(REMOTE_SCHEMES):
            raise SettingsError(f"{path} is a URL; --db takes a file (a server is --remote URL)")
        return cls("file", path=path)

    @classmethod
    def remote(cls, url: str) -> StoreTarget:
        """A Zep server's store (`zeptui serve`, or any Zep server) at `url`."""
        from urllib.parse import urlsplit

        from storage.urls import redact_url

        try:
            parts = urlsplit(url.strip())
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
            parts.port  # noqa: B018 - raises ValueError for a port that is not one
        except ValueError:
            valid = False
        if not valid:
            raise SettingsError(
                f"{redact_url(url)} is not a server's URL; --remote takes http://HOST:PORT"
            )
        return cls("remote", url=url.strip())

    @property
    def location(self) -> str:
        """Where the store is, fit to print (a URL without its credentials)."""
        if self.path is not None:
            return str(self.path)
        from storage.urls import redact_url

        return redact_url(self.url or "")


def build_summarizer(settings: SummarizerSettings) -> Summarizer:
    """The summarizer the settings choose: the extractive one, or an LLM's."""
    from storage.summarizers import ExtractiveSummarizer

    if settings.kind == "extractive":
        return ExtractiveSummarizer()
    from storage.llm_summarizer import LLMSummarizer

    llm = settings.llm
    if llm.base_url is None or llm.model is None:
        missing = []
        if llm.base_url is None:
            missing.append("ZEPTUI_LLM_BASE_URL (or OPENAI_BASE_URL)")
        if llm.model is None:
            missing.append("ZEPTUI_LLM_MODEL")
        raise SettingsError(
            f"the llm summarizer needs {' and '.join(missing)} to be set "
            "(or [summarizer.llm] base_url and model in the config file)"
        )
    api_key = llm.api_key.get_secret_value() if llm.api_key is not None else None
    return LLMSummarizer(llm.base_url, llm.model, api_key=api_key, timeout=llm.timeout)


def connect(
    target: StoreTarget,
    settings: Settings,
    *,
    read_only: bool = False,
    summaries: bool = False,
    memory_limit: str | None = None,
    lock_timeout: float | None = None,
    through_server: bool = True,
) -> MemoryStore:
    """The store at `target`, open; the caller closes it (`open_store` is this for a
    block). Summaries, when asked for, are deferred: made by the configured summarizer
    when the store closes, with the file let go while an LLM is waited on.
    `lock_timeout` is how long to wait for another process to let go of the file.

    A server's store (and a file that a running `zeptui serve` holds, as its discovery
    file says: opened through that server, with its local token as the key, unless
    `through_server` is False, as `zeptui serve` itself must open its file) makes its
    summaries itself; the other options concern files only.
    """
    served = _served(target.path) if target.path is not None and through_server else None
    if target.url is not None or served is not None:
        url, key = served or (target.url or "", None)
        return _open_remote(url, settings, key)
    from storage.duckdb import DuckDBStore
    from storage.duckdb.connection import LOCK_WAIT_SECONDS

    assert target.path is not None
    summaries = summaries and not read_only
    return DuckDBStore(
        target.path,
        message_window=settings.memory.message_window,
        summarizer=build_summarizer(settings.summarizer) if summaries else None,
        defer_summaries=True,
        read_only=read_only,
        memory_limit=memory_limit,
        lock_timeout=LOCK_WAIT_SECONDS if lock_timeout is None else lock_timeout,
    )


@contextmanager
def open_store(
    target: StoreTarget,
    settings: Settings,
    *,
    read_only: bool = False,
    summaries: bool = False,
    memory_limit: str | None = None,
    summary_failed: Callable[[str], None] | None = None,
    through_server: bool = True,
) -> Iterator[MemoryStore]:
    """The store at `target`, open for the block, then closed.

    With `summaries` (and not `read_only`), writes make summaries with the configured
    summarizer, when the block ends, before the store closes (with the file let go
    while an LLM is waited on); each distinct failure is passed to `summary_failed`.
    `read_only` opens the file read-only (it must exist). `memory_limit` caps
    DuckDB's memory (see `DuckDBStore`). `through_server` as for `connect`.
    """
    from storage.capabilities import Summarizing, offered

    store = connect(
        target,
        settings,
        read_only=read_only,
        summaries=summaries,
        memory_limit=memory_limit,
        through_server=through_server,
    )
    try:
        with store:
            yield store
    finally:
        summarizing = offered(store, Summarizing)
        if summarizing is not None and summary_failed is not None:
            for problem in dict.fromkeys(summarizing.summary_errors):
                summary_failed(problem)


def _served(path: Path) -> tuple[str, str] | None:
    """The URL and local token of the `zeptui serve` holding the file, if one does.

    Only a discovery file that this user's own server wrote is followed (owned by this
    user, writable by no one else, naming a loopback address): anyone else's could
    send what this command writes, and the token, to a server of their choosing.
    """
    import os
    from urllib.parse import urlsplit

    from zeptui.server.discovery import discovery_path, read_discovery
    from zeptui.server.run import is_loopback

    found = read_discovery(path)
    if found is None:
        return None
    try:
        info = discovery_path(path).stat()
        host = urlsplit(found.url).hostname or ""
    except (OSError, ValueError):
        return None
    owner = getattr(os, "getuid", lambda: info.st_uid)()
    if info.st_uid != owner or info.st_mode & 0o022 or not is_loopback(host):
        return None
    return found.url, found.token


def _open_remote(url: str, settings: Settings, api_key: str | None = None) -> MemoryStore:
    """A RemoteStore on `url`, with `api_key` or the one the settings hold."""
    from zeptui.remote import Timeouts, open_remote

    remote = settings.remote
    if api_key is None and remote.api_key is not None:
        _check_private(settings)
        api_key = remote.api_key.get_secret_value()
    timeouts = Timeouts(read=remote.timeout)
    return open_remote(url, api_key=api_key, version=remote.api_version, timeouts=timeouts)


def _check_private(settings: Settings) -> None:
    """A key kept in the config file is used only while the file is the owner's alone."""
    source = settings.source("remote.api_key")
    if source.kind != "file" or source.where is None:
        return
    import os
    import stat

    path = Path(source.where)
    if os.name == "posix" and stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise SettingsError(
            f"{path} holds remote.api_key but others may read it; "
            f"make it yours alone (chmod 600 {path}) or use $ZEPTUI_API_KEY"
        )
