"""The discovery file: how other zeptui processes learn that a server holds a store.

While `zeptui serve` holds a store, a small JSON file beside it (`<store>.serve`)
says where the server listens, its process id and a local token (accepted as an API
key, so local zeptui processes can go through the server when it requires one). It
is readable by its owner only, written atomically, removed when the server stops, and
ignored when stale (its process is gone). Cheap to import.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

SUFFIX = ".serve"


@dataclass(frozen=True)
class Discovery:
    """A running server of a store, as its discovery file says."""

    url: str
    pid: int
    token: str
    store: str


def discovery_path(store_path: Path) -> Path:
    """Where the discovery file of the store at `store_path` lives: beside the file
    itself, so a symbolic link to a served file finds its server too."""
    real = store_path.resolve()
    return real.with_name(real.name + SUFFIX)


def new_token() -> str:
    """A local token: 32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def write_discovery(store_path: Path, discovery: Discovery) -> Path:
    """Write the discovery file (owner-only, atomically); returns its path."""
    target = discovery_path(store_path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(asdict(discovery), file)
        os.chmod(temporary, 0o600)  # whatever the umask
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    return target


def remove_discovery(store_path: Path, pid: int | None = None) -> None:
    """Remove the discovery file (only if it is `pid`'s, when given)."""
    target = discovery_path(store_path)
    if pid is not None:
        found = read_discovery(store_path, check_alive=False)
        if found is None or found.pid != pid:
            return
    with contextlib.suppress(FileNotFoundError):
        target.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def read_discovery(store_path: Path, *, check_alive: bool = True) -> Discovery | None:
    """The server holding the store, or None (no file, unreadable, or stale)."""
    try:
        data = json.loads(discovery_path(store_path).read_text(encoding="utf-8"))
        found = Discovery(
            url=str(data["url"]),
            pid=int(data["pid"]),
            token=str(data["token"]),
            store=str(data["store"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if check_alive and not _alive(found.pid):
        return None
    return found


def served_message(store_path: Path) -> str | None:
    """One line naming the server that holds the store, or None if none does."""
    found = read_discovery(store_path)
    if found is None:
        return None
    return (
        f"{store_path} is held by zeptui serve (pid {found.pid}, {found.url}); "
        "use it through its API, or stop it and try again"
    )
