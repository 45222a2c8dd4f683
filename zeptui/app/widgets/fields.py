"""Fields of the import and export dialogs: a path box that completes file and
directory names as you type (`→` accepts), and a format choice."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path

from textual.suggester import Suggester
from textual.widgets import Input, Select

LISTED = 2000
"""Directory entries looked at per completion (a huge directory is not read whole)."""


class PathSuggester(Suggester):
    """Suggests the first name in the typed directory that starts with what follows
    its last `/` (directories end in `/`, so completion goes on into them)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        return complete_path(value)


def complete_path(value: str) -> str | None:
    """`value` completed to the first matching entry of its directory, or None."""
    if not value:
        return None
    head, slash, prefix = value.rpartition("/")
    base = head + slash  # "", "dir/" or "/"
    directory = Path(os.path.expanduser(base)) if base else Path(".")
    try:
        with os.scandir(directory) as entries:
            names = sorted(
                entry.name + ("/" if entry.is_dir() else "")
                for entry in itertools.islice(entries, LISTED)
                if entry.name.startswith(prefix) and not entry.name.startswith(".")
            )
    except OSError:
        return None
    return next((base + name for name in names if name != prefix), None)


class PathInput(Input):
    """An `Input` for a path, with completion from the file system."""

    def __init__(self, value: str = "", **kwargs: object) -> None:
        super().__init__(value, suggester=PathSuggester(), **kwargs)  # type: ignore[arg-type]

    @property
    def path(self) -> Path | None:
        """The path typed (None when the box is empty); `~` is the home directory."""
        text = self.value.strip()
        return Path(os.path.expanduser(text)) if text else None


def format_select(names: Sequence[str], value: str) -> Select[str]:
    """A one-line choice of a format among `names`."""
    return Select(
        [(name, name) for name in names], value=value, allow_blank=False, id="format", compact=True
    )
