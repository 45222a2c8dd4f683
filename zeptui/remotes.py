"""Named remotes: servers kept in the config file under a name (`zeptui remote add`).

    [remotes.work]
    url = "https://zep.example.com"
    api_key_env = "WORK_ZEP_KEY"        # the variable that holds the key, never the key

    [remotes.home]
    url = "http://127.0.0.1:8000"
    api_key_file = "remotes/home.key"   # written by `--api-key-stdin`, owner-only

`--remote NAME` works wherever `--remote URL` does: `zeptui.compose.StoreTarget.remote`
resolves a name here. A key file (relative to the config file's directory) is used only
while no one else may read it, as `remote.api_key` in the config file; a remote without
a key of its own is sent `$ZEPTUI_API_KEY` or `remote.api_key`, as a URL is. The key
itself is never written to the config file, nor shown.

Cheap to import (no pydantic, no httpx): the app resolves its server before its first
frame.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zeptui import config
from zeptui.config import REMOTES_TABLE, SettingsError

__all__ = [
    "NamedRemote",
    "add_remote",
    "find_remote",
    "is_name",
    "read_remotes",
    "remove_remote",
    "valid_url",
]

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
"""A remote's name: letters, digits, `-` and `_` (a URL has `:` and `/`, a name never)."""
VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
KEYS_DIR = "remotes"
"""Where `--api-key-stdin` keeps keys, in the config file's directory (owner-only)."""
FIELDS = ("url", "api_key_env", "api_key_file")
NAME_RULE = "letters, digits, - and _, up to 64, starting with a letter or digit"


@dataclass(frozen=True)
class NamedRemote:
    """A server the config file names: its URL and where its key comes from."""

    name: str
    url: str
    api_key_env: str | None = None
    """The environment variable that holds the key."""
    api_key_file: Path | None = None
    """The owner-only file that holds the key."""

    @property
    def shown_url(self) -> str:
        """The URL without its credentials."""
        from storage.urls import redact_url

        return redact_url(self.url)

    @property
    def has_own_key(self) -> bool:
        """Whether the remote names its own key (else the settings' key is sent)."""
        return self.api_key_env is not None or self.api_key_file is not None

    @property
    def key_source(self) -> str:
        """Where the key comes from, in words (never the key)."""
        if self.api_key_env is not None:
            return f"${self.api_key_env}"
        if self.api_key_file is not None:
            return f"the file {self.api_key_file}"
        return "none of its own ($ZEPTUI_API_KEY or remote.api_key, when set)"

    def api_key(self, env: Mapping[str, str] | None = None) -> str | None:
        """The remote's own key, or None when it has none (the settings' key applies).

        `SettingsError` when its variable is not set, or its file is missing or may be
        read by others."""
        if self.api_key_env is not None:
            value = (os.environ if env is None else env).get(self.api_key_env, "").strip()
            if not value:
                raise SettingsError(
                    f"remote {self.name} takes its API key from ${self.api_key_env}, "
                    "which is not set"
                )
            return value
        if self.api_key_file is not None:
            return _read_key(self.name, self.api_key_file)
        return None


def is_name(value: str) -> bool:
    """Whether `value` is a remote's name rather than a URL."""
    return NAME.fullmatch(value) is not None


def valid_url(url: str) -> bool:
    """Whether `url` is an http(s) URL with a host (and a port that is a number)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


# --- reading ---------------------------------------------------------------------------


def read_remotes(env: Mapping[str, str] | None = None) -> dict[str, NamedRemote]:
    """The remotes the config file names, by name (in the file's order).

    `SettingsError` (`file:line: ...`) for a remote the file gets wrong."""
    path = config.config_file(env)
    text, document = config.read_toml(path)
    table = document.get(REMOTES_TABLE, {})
    if not isinstance(table, dict):
        raise SettingsError(
            f"{path}:{_table_line(text, None)}: {REMOTES_TABLE} holds [remotes.NAME] tables"
        )
    return {
        name: _remote(name, fields, f"{path}:{_table_line(text, name)}", path.parent)
        for name, fields in table.items()
    }


def _remote(name: str, fields: Any, where: str, directory: Path) -> NamedRemote:
    from zeptui.text import sanitize

    if not is_name(name):
        raise SettingsError(f"{where}: {sanitize(name)!r} is not a remote's name ({NAME_RULE})")
    if not isinstance(fields, dict):
        raise SettingsError(f"{where}: remote {name} must be a table ([remotes.{name}])")
    unknown = [field for field in fields if field not in FIELDS]
    if unknown:
        raise SettingsError(
            f"{where}: remote {name} has an unknown field {sanitize(unknown[0])} "
            f"(a remote has {', '.join(FIELDS)})"
        )
    url, variable, key_file = (fields.get(field) for field in FIELDS)
    if not isinstance(url, str) or not valid_url(url):
        raise SettingsError(f"{where}: remote {name} needs a url (http://HOST:PORT)")
    if variable is not None and (not isinstance(variable, str) or not VARIABLE.fullmatch(variable)):
        raise SettingsError(f"{where}: remote {name}'s api_key_env is not a variable's name")
    if key_file is not None and not isinstance(key_file, str):
        raise SettingsError(f"{where}: remote {name}'s api_key_file is not a path")
    if variable is not None and key_file is not None:
        raise SettingsError(f"{where}: remote {name} has api_key_env and api_key_file; keep one")
    path = directory / Path(key_file).expanduser() if key_file is not None else None
    return NamedRemote(name, url.strip(), variable, path)


def _table_line(text: str, name: str | None) -> int:
    """The line of `[remotes.NAME]` (or of `remotes`), else 1."""
    head = rf"""["']?{REMOTES_TABLE}["']?"""
    if name is not None:
        head += rf"""\s*\.\s*["']?{re.escape(name)}["']?"""
    pattern = re.compile(rf"^\s*(\[\s*{head}\s*\]|{head}\s*=)")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return 1


def find_remote(name: str, env: Mapping[str, str] | None = None) -> NamedRemote:
    """The remote called `name`; `SettingsError` listing the known names if none is."""
    remotes = read_remotes(env)
    found = remotes.get(name)
    if found is None:
        raise SettingsError(unknown_remote(name, remotes))
    return found


def unknown_remote(name: str, remotes: Mapping[str, NamedRemote]) -> str:
    known = ", ".join(remotes) if remotes else "none yet: zeptui remote add NAME URL"
    return (
        f"no remote named {name} (known: {known}); --remote takes a name or a server's URL "
        "(http://HOST:PORT)"
    )


def _read_key(name: str, path: Path) -> str:
    """The key in `path`, if the file is the user's own and no one else may read it."""
    import stat

    try:
        with open(path, encoding="utf-8") as file:
            info = os.fstat(file.fileno())
            text = file.read()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise SettingsError(
            f"{path}: remote {name}'s key file cannot be read ({reason}); "
            f"zeptui remote remove {name}, then add it again"
        ) from None
    owner = getattr(os, "getuid", lambda: info.st_uid)()
    if os.name == "posix" and (info.st_uid != owner or stat.S_IMODE(info.st_mode) & 0o077):
        raise SettingsError(
            f"{path} holds remote {name}'s API key but others may read it; "
            f"make it yours alone (chmod 600 {path})"
        )
    key = text.strip()
    if not key:
        raise SettingsError(f"{path}: remote {name}'s key file is empty")
    return key


# --- writing ---------------------------------------------------------------------------


def add_remote(
    name: str,
    url: str,
    *,
    api_key_env: str | None = None,
    api_key: str | None = None,
    env: Mapping[str, str] | None = None,
) -> NamedRemote:
    """Name the server at `url` in the config file: its key from `api_key_env`, or
    `api_key` written to an owner-only file beside the config file (never into it).

    `SettingsError` for a name taken or not valid, a URL that is not a server's, a key
    that is empty; nothing is written then."""
    from zeptui.text import sanitize

    if not is_name(name):
        raise SettingsError(f"{sanitize(name)!r} is not a remote's name ({NAME_RULE})")
    if not valid_url(url):
        raise SettingsError(f"{sanitize(url)} is not a server's URL (http://HOST:PORT)")
    if api_key_env is not None and not VARIABLE.fullmatch(api_key_env):
        raise SettingsError(f"{sanitize(api_key_env)!r} is not an environment variable's name")
    if api_key is not None and not api_key.strip():
        raise SettingsError("the API key is empty")
    _refuse_shared_credentials(url, config.config_file(env))
    remotes = read_remotes(env)
    if name in remotes:
        raise SettingsError(
            f"a remote named {name} exists ({remotes[name].shown_url}); "
            f"zeptui remote remove {name} first"
        )
    directory = config.config_file(env).parent
    relative = Path(KEYS_DIR) / f"{name}.key" if api_key is not None else None
    remote = NamedRemote(
        name,
        url.strip(),
        api_key_env,
        directory / relative if relative is not None else None,
    )

    def change(document: Any) -> None:
        import tomlkit

        if REMOTES_TABLE not in document:
            document[REMOTES_TABLE] = tomlkit.table(is_super_table=True)
        entry = tomlkit.table()
        entry["url"] = remote.url
        if api_key_env is not None:
            entry["api_key_env"] = api_key_env
        if relative is not None:
            entry["api_key_file"] = relative.as_posix()
        document[REMOTES_TABLE][name] = entry

    if remote.api_key_file is not None and api_key is not None:
        _write_key(remote.api_key_file, api_key.strip())
    try:
        config.edit(change, env)
    except BaseException:
        if remote.api_key_file is not None:
            remote.api_key_file.unlink(missing_ok=True)
        raise
    return remote


def _refuse_shared_credentials(url: str, path: Path) -> None:
    """A URL with a password is a key too: not written to a config file that others
    may read."""
    import stat
    from urllib.parse import urlsplit

    if urlsplit(url.strip()).password is None:
        return
    try:
        shared = os.name == "posix" and stat.S_IMODE(path.stat().st_mode) & 0o077
    except FileNotFoundError:
        return  # a new config file is its owner's alone
    if shared:
        raise SettingsError(
            f"the URL holds a password and {path} may be read by others; "
            f"make it yours alone (chmod 600 {path}) or give the key with --api-key-stdin"
        )


def _write_key(path: Path, key: str) -> None:
    """`key` in a file only its owner may read or write (replaced whole)."""
    import tempfile

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with open(fd, "w", encoding="utf-8") as out:
            out.write(key + "\n")
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def remove_remote(name: str, env: Mapping[str, str] | None = None) -> NamedRemote:
    """Forget the remote called `name` (and the key file `add_remote` wrote for it)."""
    remote = find_remote(name, env)

    def change(document: Any) -> None:
        remotes = document[REMOTES_TABLE]
        del remotes[name]
        if not remotes:
            del document[REMOTES_TABLE]

    config.edit(change, env)
    kept = config.config_file(env).parent / KEYS_DIR
    if remote.api_key_file is not None and remote.api_key_file.parent == kept:
        remote.api_key_file.unlink(missing_ok=True)
    return remote
