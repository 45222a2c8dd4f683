"""The first page of the session list before the store answers: kept, or read ahead.

Reading the store at start-up means importing DuckDB and pydantic and opening the
file, which takes longer than painting the whole app. Two things put the user's
sessions on screen sooner; the store's own answer replaces them moments later
(the same rows, as the file is the same):

- **Kept**: after each start the app keeps the rows of its first page (most recent
  first, no filter) in the user cache folder, with the database file's size,
  modification time and inode. At the next start, when the file is unchanged,
  those rows are painted with the first frame (even while another process holds
  the file). The rows hold only what the list shows (titles, ids, users, counts,
  dates), which the database file holds anyway.
- **Read ahead**: when nothing is kept for the file as it is (the first start
  after an import, say), a thread reads the page from the file with DuckDB's engine
  alone (`storage/duckdb/peek.py`) while Textual is imported and starts: `zeptui`
  begins it (`begin`) before it imports the app, and the app takes it (`take`).

This module imports neither the store, pydantic, Rich nor Textual: it runs before
they are loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from concurrent.futures import Future
from dataclasses import astuple, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from zeptui.config import cache_dir
from zeptui.text import sanitize, title_or_id

if TYPE_CHECKING:
    from storage.models import SessionInfo

PAGE_SIZE = 100
"""Sessions per page of the session list (and so on the first page)."""

FORMAT = 1
"""Bumped when the cached rows change shape; other versions are ignored."""


@dataclass(frozen=True)
class SessionRow:
    """What the session list shows of a session: its id, title or id, user,
    message and token counts, and the day of its last activity."""

    session_id: str
    label: str
    user: str
    messages: int
    tokens: int
    active: str

    @classmethod
    def of(cls, info: SessionInfo) -> SessionRow:
        """The row of a session as the store lists it."""
        session = info.session
        title = (session.metadata or {}).get("title")
        return cls.shown(
            session.session_id,
            title,
            session.user_id,
            info.message_count,
            info.total_tokens,
            info.last_activity,
        )

    @classmethod
    def shown(
        cls,
        session_id: str,
        title: object,
        user_id: str | None,
        messages: int,
        tokens: int,
        last_activity: datetime,
    ) -> SessionRow:
        """The row of a session with the `title` metadata, user, counts and time given."""
        return cls(
            session_id=session_id,
            label=sanitize(title_or_id(session_id, title)),
            user=sanitize(user_id or ""),
            messages=messages,
            tokens=tokens,
            active=last_activity.strftime("%Y-%m-%d"),
        )


@dataclass(frozen=True)
class FirstPage:
    """The rows of a first page and how many sessions the listing had in all."""

    rows: tuple[SessionRow, ...]
    total: int


def file_stamp(database: Path) -> list[int] | None:
    """Size, modification time and inode of the database file and of its write-ahead
    log if there is one; None if the file is missing. Any write changes it."""
    stamp: list[int] = []
    for path in (database, database.with_name(database.name + ".wal")):
        try:
            status = path.stat()
        except FileNotFoundError:
            if path == database:
                return None
            continue
        except OSError:
            return None
        stamp += [status.st_size, status.st_mtime_ns, status.st_ino]
    return stamp


def cache_file(database: Path) -> Path:
    """Where the first page of `database` is kept (one file per database path)."""
    key = hashlib.sha256(str(database.resolve()).encode()).hexdigest()[:32]
    return cache_dir() / "first-page" / f"{key}.json"


def load(database: Path) -> FirstPage | None:
    """The kept first page of `database` if the file has not changed since."""
    try:
        raw = json.loads(cache_file(database).read_text(encoding="utf-8"))
        stamp = file_stamp(database)
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            return None
        if stamp is None or raw.get("stamp") != stamp:
            return None
        rows = tuple(SessionRow(*row) for row in raw["rows"])
        return FirstPage(rows, int(raw["total"]))
    except (OSError, ValueError, TypeError, KeyError):
        return None


@dataclass(frozen=True)
class Early:
    """The first page before the store answers: `kept` from the last start, else
    `ahead`, being read from the file (neither: there is no file to read)."""

    kept: FirstPage | None
    ahead: Future[FirstPage | None] | None


_begun: dict[Path, Early] = {}
"""Pages begun before the app was made (`begin`), until the app takes them."""


def begin(database: Path) -> None:
    """Start getting the first page of `database` now, for the app made next (`take`):
    the read-ahead then runs while Textual is imported."""
    _begun[database] = _start(database)


def take(database: Path) -> Early:
    """The first page of `database` begun for this app, or begun now."""
    return _begun.pop(database, None) or _start(database)


def _start(database: Path) -> Early:
    kept = load(database)
    ahead = read_ahead(database) if kept is None and database.exists() else None
    return Early(kept, ahead)


def read_ahead(database: Path) -> Future[FirstPage | None]:
    """Read the first page of `database` on a thread of its own, starting now (None:
    it could not be read at once; the store will say why)."""
    future: Future[FirstPage | None] = Future()

    def read() -> None:
        page: FirstPage | None = None
        try:
            page = _read(database)
        except Exception:  # nothing on stderr under the screen: the store will say it
            page = None
        future.set_result(page)

    threading.Thread(target=read, name="zeptui-first-page", daemon=True).start()
    return future


def _read(database: Path) -> FirstPage | None:
    from storage.duckdb.peek import recent_sessions

    found = recent_sessions(database, PAGE_SIZE)
    if found is None:
        return None
    sessions, total = found
    rows = tuple(
        SessionRow.shown(
            peek.session_id,
            peek.title,
            peek.user_id,
            peek.message_count,
            peek.total_tokens,
            peek.last_activity,
        )
        for peek in sessions
    )
    return FirstPage(rows, total)


def save(database: Path, stamp: list[int], page: FirstPage) -> None:
    """Keep `page`, read while the file had `stamp` (taken before the read).

    Run it off the UI thread (it writes a file); failures are ignored: the cache
    only saves time.
    """
    if file_stamp(database) != stamp:
        return  # the file changed while it was read: keep nothing
    document = {
        "format": FORMAT,
        "stamp": stamp,
        "total": page.total,
        "rows": [astuple(row) for row in page.rows],
    }
    target = cache_file(database)
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = target.with_name(f"{target.stem}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
        os.chmod(temporary, 0o600)
        temporary.replace(target)
    except OSError:
        pass
