"""Another process that holds a DuckDB file, as `zeptui import` or a second app would."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_HOLDER = (
    "import sys, time, duckdb\n"
    "conn = duckdb.connect(sys.argv[1], read_only=sys.argv[3] == 'read-only')\n"
    "print('ready', flush=True)\n"
    "time.sleep(float(sys.argv[2]))\n"
)


@contextmanager
def held_database(
    path: Path, seconds: float = 30, *, read_only: bool = False
) -> Iterator[subprocess.Popen[str]]:
    """A process holding `path` (read-write, or as a reader) for up to `seconds`; killed
    on exit."""
    mode = "read-only" if read_only else "read-write"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path), str(seconds), mode],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        yield holder
    finally:
        holder.kill()
        holder.wait(timeout=10)
