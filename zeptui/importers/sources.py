"""What `zeptui import PATH...` reads: files, directories and zip archives, as sources.

A file is one source. A directory or a zip archive (found by its content, since
Claude's export sometimes arrives without the `.zip` extension) holds many: its JSON
and JSONL files, in name order. When it holds `conversations.json` or the sharded
`conversations-NNN.json` files it is a ChatGPT or Claude data export, and only those
are read (the export's `user.json`, `projects.json`, ... are not chat histories).
Members of an archive are extracted one at a time to a temporary file while they
are imported, so a multi-gigabyte export (mostly images) never lands on disk whole.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from zeptui.importers import HEAD_BYTES, ImportFileError, os_reason, read_head

__all__ = ["CHAT_SUFFIXES", "Source", "expand", "is_zip"]

CHAT_SUFFIXES = {".json", ".jsonl", ".ndjson"}
"""Files inside a directory or archive that may be chat histories."""

_EXPORT_FILE = re.compile(r"conversations(?:-\d+)?\.json", re.IGNORECASE)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or an empty archive


@dataclass(frozen=True)
class Source:
    """One file to import: on disk, or a member of a zip archive."""

    name: str
    """How reports and errors call it: `path`, or `archive.zip/member.json`."""
    path: Path
    """The file on disk, or the archive."""
    member: str | None = None
    """The member's name inside the archive at `path`."""
    in_container: bool = False
    """Found inside a directory or archive (not named on the command line)."""
    id_base: str | None = None
    """For a file in a directory or archive: its path there without the suffix, the
    base of its synthesized session ids (`ReadContext.id_base`)."""

    def head(self) -> bytes:
        """The first `HEAD_BYTES` bytes, for format detection."""
        if self.member is None:
            return read_head(self.path)
        try:
            with zipfile.ZipFile(self.path) as archive, archive.open(self.member) as file:
                return file.read(HEAD_BYTES)
        except (OSError, zipfile.BadZipFile, KeyError) as exc:
            raise ImportFileError(self.name, None, _zip_reason(exc)) from exc

    @contextmanager
    def local_path(self) -> Iterator[Path]:
        """A path to read the source from: the file itself, or the archive member
        extracted to a temporary file of the same name (removed afterwards)."""
        if self.member is None:
            yield self.path
            return
        with tempfile.TemporaryDirectory(prefix="zeptui-import-") as directory:
            target = Path(directory) / PurePosixPath(self.member).name
            try:
                with (
                    zipfile.ZipFile(self.path) as archive,
                    archive.open(self.member) as file,
                    target.open("wb") as out,
                ):
                    shutil.copyfileobj(file, out, 1 << 20)
            except (OSError, zipfile.BadZipFile, KeyError) as exc:
                raise ImportFileError(self.name, None, _zip_reason(exc)) from exc
            yield target


def _zip_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return os_reason(exc)
    if isinstance(exc, KeyError):
        return "missing from the archive"
    return f"not a readable zip archive ({exc})"


def is_zip(path: Path) -> bool:
    """Whether the file starts like a zip archive (whatever its name)."""
    try:
        with path.open("rb") as file:
            return file.read(4).startswith(_ZIP_MAGIC)
    except OSError:
        return False


def expand(paths: list[Path]) -> tuple[list[Source], list[ImportFileError]]:
    """The sources behind command-line paths, and the paths that cannot be read.

    Files stand for themselves (their errors come when they are read). A directory
    or archive with no chat files in it is an error of its own.
    """
    sources: list[Source] = []
    errors: list[ImportFileError] = []
    for path in paths:
        try:
            if path.is_dir():
                found = _directory(path)
            elif is_zip(path):
                found = _archive(path)
            else:
                sources.append(Source(str(path), path))
                continue
        except ImportFileError as error:
            errors.append(error)
            continue
        if not found:
            kind = "directory" if path.is_dir() else "archive"
            reason = f"nothing to import: no JSON or JSONL files in this {kind}"
            errors.append(ImportFileError(path, None, reason))
        sources.extend(found)
    return sources, errors


def _chat_files(names: list[str]) -> list[str]:
    """The names worth reading, in order: an export's conversation files if there are
    any, else every JSON/JSONL file (hidden files and macOS resource forks left out)."""
    candidates = sorted(
        name
        for name in names
        if PurePosixPath(name).suffix.lower() in CHAT_SUFFIXES
        and not any(part.startswith((".", "__MACOSX")) for part in PurePosixPath(name).parts)
    )
    exports = [name for name in candidates if _EXPORT_FILE.fullmatch(PurePosixPath(name).name)]
    return exports or candidates


def _directory(path: Path) -> list[Source]:
    try:
        names = [file.relative_to(path).as_posix() for file in path.rglob("*") if file.is_file()]
    except OSError as exc:
        raise ImportFileError(path, None, os_reason(exc)) from exc
    return [
        Source(str(path / name), path / name, in_container=True, id_base=_id_base(name))
        for name in _chat_files(names)
    ]


def _archive(path: Path) -> list[Source]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = [info.filename for info in archive.infolist() if not info.is_dir()]
    except (OSError, zipfile.BadZipFile) as exc:
        raise ImportFileError(path, None, _zip_reason(exc)) from exc
    return [
        Source(f"{path}/{name}", path, member=name, in_container=True, id_base=_id_base(name))
        for name in _chat_files(names)
    ]


def _id_base(name: str) -> str:
    """`train/data.jsonl` → `train/data`: a file's place in its container, as an id base."""
    member = PurePosixPath(name)
    return str(member.with_suffix("")) if member.suffix else str(member)
