"""What `zeptui import PATH...` reads: files, directories and zip archives, as sources.

A file is one source. A directory or a zip archive (found by its content, since
Claude's export sometimes arrives without the `.zip` extension) holds many: its JSON
and JSONL files, in name order. When it holds `conversations.json` or the sharded
`conversations-NNN.json` files it is a ChatGPT or Claude data export, and only those
are read (the export's `user.json`, `projects.json`, ... are not chat histories).

Members of an archive are read straight from it as they are imported, never
extracted: nothing lands on disk, and nothing is left behind. What the members to be
read may expand to is bounded (`ArchiveLimits`: each member's size and compression
ratio, and their total) before any is opened, so a zip bomb is refused with one line
naming the archive and the member; Python's zip reader never produces more than the
size the archive declares for a member.
"""

from __future__ import annotations

import io
import os
import re
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PosixPath, PurePosixPath, WindowsPath
from typing import IO, Any

from zeptui.importers import ImportFileError, os_reason, read_head

__all__ = ["CHAT_SUFFIXES", "ArchiveLimits", "MemberPath", "Source", "expand", "id_base", "is_zip"]

CHAT_SUFFIXES = {".json", ".jsonl", ".ndjson"}
"""Files inside a directory or archive that may be chat histories."""

_EXPORT_FILE = re.compile(r"conversations(?:-\d+)?\.json", re.IGNORECASE)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or an empty archive


@dataclass(frozen=True)
class ArchiveLimits:
    """What the chat files of one zip archive may expand to."""

    member_bytes: int = 4 << 30
    """One member, uncompressed."""
    total_bytes: int = 16 << 30
    """All the members read, uncompressed."""
    ratio: int = 100
    """Uncompressed to compressed size of a member (text JSON compresses about 5 to
    20 times; a zip bomb about 1,000)..."""
    ratio_from: int = 1 << 20
    """... for a member that expands to more than this (small files may compress well)."""


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
    """The base of its synthesized session ids (`ReadContext.id_base`): see `id_base`;
    an archive member's is the archive's, then the member's path in it."""

    def head(self) -> bytes:
        """The first `HEAD_BYTES` bytes, for format detection."""
        return read_head(self.readable())

    def readable(self) -> Path:
        """A path to read the source from: the file itself, or for an archive member a
        `MemberPath` that reads it from the archive (with its name and suffix)."""
        if self.member is None:
            return self.path
        return MemberPath(self.name).of(self.path, self.member)


if sys.platform == "win32":

    class _PlatformPath(WindowsPath):
        pass

else:

    class _PlatformPath(PosixPath):
        pass


class MemberPath(_PlatformPath):
    """A member of a zip archive as a path the importers can `open()`: read straight
    from the archive, never extracted. Its name is `archive/member` (which cannot
    exist on disk, the archive being a file), so the fast path, which needs a real
    file, declines it."""

    def of(self, archive: Path, member: str) -> MemberPath:
        """This path, reading `member` of `archive`."""
        self.archive = archive
        self.member = member
        return self

    def open(  # type: ignore[override]
        self,
        mode: str = "r",
        buffering: int = -1,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
    ) -> IO[Any]:
        if mode not in ("r", "rb"):
            raise io.UnsupportedOperation(f"{self}: an archive member is read only")
        try:
            with zipfile.ZipFile(self.archive) as archive:
                raw = archive.open(self.member)  # keeps the file open until closed
        except (zipfile.BadZipFile, KeyError) as exc:
            raise OSError(_zip_reason(exc)) from exc
        binary = io.BufferedReader(_MemberReader(raw), 1 << 20)
        if mode == "rb":
            return binary
        return io.TextIOWrapper(binary, encoding=encoding, errors=errors, newline=newline)


class _MemberReader(io.RawIOBase):
    """An archive member's bytes; a corrupt member (bad CRC, broken deflate data) is
    an OSError, as a file that cannot be read is."""

    def __init__(self, member: IO[bytes]) -> None:
        self.member = member

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self.member.read(len(buffer))
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise OSError(f"not a readable zip member ({exc})") from exc
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.member.close()
        super().close()


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


def expand(
    paths: list[Path], limits: ArchiveLimits | None = None
) -> tuple[list[Source], list[ImportFileError]]:
    """The sources behind command-line paths, and the paths that cannot be read.

    Files stand for themselves (their errors come when they are read). A directory
    or archive with no chat files in it is an error of its own, and so is an archive
    member beyond `limits` (the archive's other members are still sources; all of
    them, past the total).
    """
    limits = limits or ArchiveLimits()
    sources: list[Source] = []
    errors: list[ImportFileError] = []
    for path in paths:
        try:
            if path.is_dir():
                found = _directory(path)
            elif is_zip(path):
                refused = len(errors)
                found = _archive(path, limits, errors)
                if len(errors) > refused:  # some members were refused: said already
                    sources.extend(found)
                    continue
            else:
                sources.append(Source(str(path), path, id_base=id_base(path)))
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
        Source(str(path / name), path / name, in_container=True, id_base=id_base(path / name))
        for name in _chat_files(names)
    ]


def _archive(path: Path, limits: ArchiveLimits, errors: list[ImportFileError]) -> list[Source]:
    """The archive's chat members as sources; those beyond `limits` go to `errors`."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = {info.filename: info for info in archive.infolist() if not info.is_dir()}
    except (OSError, zipfile.BadZipFile) as exc:
        raise ImportFileError(path, None, _zip_reason(exc)) from exc
    sources: list[Source] = []
    total = 0
    for name in _chat_files(list(infos)):
        info = infos[name]
        total += info.file_size
        if total > limits.total_bytes:
            reason = (
                f"the archive's chat files expand to more than {_size(limits.total_bytes)} "
                "(the most an import reads from one archive); none of them was imported"
            )
            errors.append(ImportFileError(f"{path}/{name}", None, reason))
            return []
        problem = _beyond(info, limits)
        if problem is not None:
            errors.append(ImportFileError(f"{path}/{name}", None, problem))
            continue
        base = f"{id_base(path)}/{_without_suffix(PurePosixPath(name))}"
        sources.append(Source(f"{path}/{name}", path, name, in_container=True, id_base=base))
    return sources


def _beyond(info: zipfile.ZipInfo, limits: ArchiveLimits) -> str | None:
    """Why the member is too big to read, or None."""
    size = info.file_size
    if size > limits.member_bytes:
        return (
            f"expands to {_size(size)}, more than an archive member may "
            f"({_size(limits.member_bytes)}); not imported"
        )
    ratio = size / max(info.compress_size, 1)
    if size > limits.ratio_from and ratio > limits.ratio:
        return (
            f"expands to {_size(size)} from {_size(info.compress_size)} ({ratio:,.0f} to 1), "
            f"more than an archive member may ({limits.ratio} to 1): a zip bomb? Not imported"
        )
    return None


def _size(count: int) -> str:
    """Bytes in binary units: `1.2 GiB`."""
    value, unit = float(count), "bytes"
    for bigger in ("KiB", "MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{count:,} bytes" if unit == "bytes" else f"{value:,.1f} {unit}"


def id_base(path: Path) -> str:
    """The base of a file's synthesized session ids (`ReadContext.id_base`): its path
    relative to the working directory, without the suffix (`sub/history.jsonl` →
    `sub/history`). A path, not the content: a log that grows keeps its ids, so
    importing it again adds only the new lines."""
    absolute = os.path.abspath(path)
    try:
        relative = os.path.relpath(absolute)
    except ValueError:  # another drive (Windows): no relative path
        relative = absolute
    return _without_suffix(PurePosixPath(Path(relative).as_posix()))


def _without_suffix(path: PurePosixPath) -> str:
    return str(path.with_suffix("")) if path.suffix else str(path)
