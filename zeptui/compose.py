"""The composition root: a store and its summarizer, built from what the user gave.

Every front end opens its store here: `StoreTarget` is what the user named (a file
with `--db PATH`, a server with `--remote URL` or `--remote NAME`, a named remote of
the config file: `zeptui.remotes`), `open_store` opens it with the
settings (the message window, the summarizer; the API key, API version and timeout of
a server) and closes it after the block (`connect` opens it for front ends that hold
it their own way: the app's leases); a file that a running `zeptui serve` holds is
opened through that server. `build_summarizer` turns the summarizer settings into a
`Summarizer`, and `build_language_model` the LLM settings into the server's language
model. Nothing else constructs a store or reads the configuration for one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict, Unpack

from zeptui.config import SettingsError

if TYPE_CHECKING:
    from storage.duckdb import DuckDBStore
    from storage.llm_summarizer import LLMSummarizer
    from storage.store import MemoryStore
    from storage.summarizers import Summarizer
    from zeptui.remote import RetryPolicy
    from zeptui.remotes import NamedRemote
    from zeptui.settings import LLMSettings, Settings, SummarizerSettings

__all__ = [
    "StoreOptions",
    "StoreTarget",
    "build_language_model",
    "build_summarizer",
    "connect",
    "open_store",
]

REMOTE_SCHEMES = ("http:/", "https:/")
DISCOVERY_PROBE_SECONDS = 1.0
"""How long a served file's server may take to accept a connection before its
discovery file is taken for stale."""
"""How a URL begins, also once a `Path` has folded its `//`."""


@dataclass(frozen=True)
class StoreTarget:
    """The store the user named: a database file, or a server (by URL or by the name
    the config file gives it, `zeptui.remotes`)."""

    kind: Literal["file", "remote"]
    path: Path | None = None
    url: str | None = None
    named: NamedRemote | None = None
    """The named remote the server is (its key comes from there)."""

    @classmethod
    def file(cls, path: Path) -> StoreTarget:
        if str(path).startswith(REMOTE_SCHEMES):
            raise SettingsError(f"{path} is a URL; --db takes a file (a server is --remote URL)")
        return cls("file", path=path)

    @classmethod
    def remote(cls, server: str, env: Mapping[str, str] | None = None) -> StoreTarget:
        """A Zep server's store (`zeptui serve`, or any Zep server): `server` is its
        URL, or the name of a remote in the config file (`zeptui remote add`)."""
        from storage.urls import redact_url
        from zeptui import remotes

        server = server.strip()
        if remotes.is_name(server):
            named = remotes.find_remote(server, env)
            return cls("remote", url=named.url, named=named)
        if not remotes.valid_url(server):
            raise SettingsError(
                f"{redact_url(server)} is not a server's URL; --remote takes http://HOST:PORT"
            )
        return cls("remote", url=server)

    @classmethod
    def served(cls, path: Path) -> StoreTarget | None:
        """The `zeptui serve` of this user that holds the file at `path` (its discovery
        file says so), as a server's target that keeps the path; None if none does."""
        found = _served(path)
        return None if found is None else cls("remote", path=path, url=found[0])

    @property
    def location(self) -> str:
        """Where the store is, fit to print (a URL without its credentials)."""
        if self.path is not None:
            return str(self.path)
        from storage.urls import redact_url

        return redact_url(self.url or "")

    @property
    def title(self) -> str:
        """How the store is shown: its location, after the remote's name if it has one."""
        if self.named is not None:
            return f"{self.named.name} ({self.location})"
        if self.path is not None and self.url is not None:
            from storage.urls import redact_url

            return f"{self.path} via {redact_url(self.url)}"
        return self.location


def build_summarizer(settings: SummarizerSettings) -> Summarizer:
    """The summarizer the settings choose: the extractive one, or an LLM's."""
    from storage.summarizers import ExtractiveSummarizer

    if settings.kind == "extractive":
        return ExtractiveSummarizer()
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
    return _llm(llm, llm.base_url, llm.model)


def build_language_model(settings: LLMSettings) -> Callable[[str], str] | None:
    """A prompt-to-reply function on the configured OpenAI-compatible endpoint, or
    None when none is configured (the server's classify and synthesize_question need
    one; the summarizer need not be the LLM's)."""
    if settings.base_url is None or settings.model is None:
        return None
    return _llm(settings, settings.base_url, settings.model).complete


def _llm(settings: LLMSettings, base_url: str, model: str) -> LLMSummarizer:
    from storage.llm_summarizer import LLMSummarizer

    key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    return LLMSummarizer(base_url, model, api_key=key, timeout=settings.timeout)


def _open_file(path: Path, *, lock_timeout: float, **options: Any) -> DuckDBStore:
    """The DuckDB store at `path` (`options` as `DuckDBStore` takes them).

    A file that `zeptui serve` holds is refused at once, in one line naming the
    server (its discovery file, zeptui/server/discovery.py); a stale discovery file
    (its process gone, or the file not held after all) is ignored.
    """
    from storage.duckdb import DuckDBStore
    from storage.errors import StoreLockedError
    from zeptui.server.discovery import served_message

    served = served_message(path)
    try:  # a served file is held: no use waiting for it
        return DuckDBStore(path, lock_timeout=0.0 if served else lock_timeout, **options)
    except StoreLockedError:
        served = served_message(path)  # a server may have started while this waited
        if served is None:
            raise
        raise StoreLockedError(served) from None


class StoreOptions(TypedDict, total=False):
    """How `connect` and `open_store` open a store (each optional)."""

    read_only: bool
    """Open the file read-only (it must exist)."""
    summaries: bool
    """Writes make summaries with the configured summarizer: deferred (made when the
    store closes, with the file let go while an LLM is waited on)..."""
    background_summaries: bool
    """...or, with this too, on a worker thread as the writes come (a long-lived
    process: `zeptui serve`); closing waits for them."""
    memory_limit: str | None
    """Caps DuckDB's memory (see `DuckDBStore`)."""
    lock_timeout: float | None
    """How long to wait for another process to let go of the file."""
    through_server: bool
    """Open a file that a running `zeptui serve` holds through that server (the
    default); False refuses it, naming the server (for `zeptui serve` itself)."""
    retry: RetryPolicy | None
    """How a server's store tries a failed request again (the client's default)."""


def connect(
    target: StoreTarget, settings: Settings, **options: Unpack[StoreOptions]
) -> MemoryStore:
    """The store at `target`, open with `options`; the caller closes it (`open_store`
    is this for a block).

    A server's store makes its summaries itself; the options concern files. A file
    that a running `zeptui serve` of this user holds (its discovery file says so) is
    opened through that server, with its local token as the key, unless
    `through_server` is False (`zeptui serve` itself): then it is refused at once,
    naming the server.
    """
    through_server = options.get("through_server", True)
    on_server = target.kind == "remote"
    if target.path is not None and (through_server or on_server):
        served = _served(target.path)
        if served is not None:
            return _open_remote(served[0], settings, served[1], options.get("retry"))
        if on_server:  # `StoreTarget.served`: through that server, or not at all
            from storage.errors import RemoteUnavailableError

            raise RemoteUnavailableError(
                f"the zeptui serve that held {target.path} has stopped; "
                "quit and open the app again to read the file"
            )
    if target.url is not None:
        key = target.named.api_key() if target.named is not None else None
        return _open_remote(target.url, settings, key, options.get("retry"))
    from storage.duckdb.connection import LOCK_WAIT_SECONDS

    assert target.path is not None
    read_only = options.get("read_only", False)
    summaries = options.get("summaries", False) and not read_only
    lock_timeout = options.get("lock_timeout")
    return _open_file(
        target.path,
        message_window=settings.memory.message_window,
        summarizer=build_summarizer(settings.summarizer) if summaries else None,
        defer_summaries=not options.get("background_summaries", False),
        read_only=read_only,
        memory_limit=options.get("memory_limit"),
        lock_timeout=LOCK_WAIT_SECONDS if lock_timeout is None else lock_timeout,
    )


@contextmanager
def open_store(
    target: StoreTarget,
    settings: Settings,
    *,
    summary_failed: Callable[[str], None] | None = None,
    **options: Unpack[StoreOptions],
) -> Iterator[MemoryStore]:
    """The store at `target` (`connect`'s `options`), open for the block, then closed
    (the summaries still due made first). Each distinct summary failure is passed to
    `summary_failed`.
    """
    from storage.capabilities import Summarizing, offered

    store = connect(target, settings, **options)
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
    import socket
    from urllib.parse import urlsplit

    from zeptui.server.discovery import discovery_path, read_discovery

    found = read_discovery(path)
    if found is None:
        return None
    from zeptui.server.run import is_loopback  # only with a discovery file: the app waits

    try:
        info = discovery_path(path).stat()
        parts = urlsplit(found.url)
        host, port = parts.hostname or "", parts.port or 80
    except (OSError, ValueError):
        return None
    owner = getattr(os, "getuid", lambda: info.st_uid)()
    if info.st_uid != owner or info.st_mode & 0o022 or not is_loopback(host):
        return None
    try:  # a process of that pid that listens nowhere there is not the server (reused pid)
        socket.create_connection((host, port), timeout=DISCOVERY_PROBE_SECONDS).close()
    except OSError:
        return None
    return found.url, found.token


def _open_remote(
    url: str, settings: Settings, api_key: str | None, retry: RetryPolicy | None
) -> MemoryStore:
    """A RemoteStore on `url`, with `api_key` or the one the settings hold."""
    from zeptui.remote import Timeouts, open_remote

    remote = settings.remote
    if api_key is None and remote.api_key is not None:
        _check_private(settings)
        api_key = remote.api_key.get_secret_value()
    timeouts = Timeouts(read=remote.timeout)
    return open_remote(
        url, api_key=api_key, version=remote.api_version, timeouts=timeouts, retry=retry
    )


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
