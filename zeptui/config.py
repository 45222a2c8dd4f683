"""Where zeptui keeps its data: the database path and the bundled sample data.

Cheap to import: only `os`, `pathlib` and `platformdirs`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import platformdirs

APP_NAME = "zeptui"
DB_ENV_VAR = "ZEPTUI_DB"
"""Environment variable naming the database file when `--db` is not given."""
DB_FILENAME = "zeptui.duckdb"
DEMO_DB_FILENAME = "demo.duckdb"


def data_dir() -> Path:
    """zeptui's per-user data directory (not created)."""
    return platformdirs.user_data_path(APP_NAME)


def resolve_db_path(option: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The database file: `--db`, else `$ZEPTUI_DB`, else `<user data dir>/zeptui.duckdb`.

    Nothing is created here: a store that writes creates the file and its directory.
    """
    env = os.environ if env is None else env
    if option is not None and str(option) != "":
        path = Path(option)
    elif env.get(DB_ENV_VAR):
        path = Path(env[DB_ENV_VAR])
    else:
        path = data_dir() / DB_FILENAME
    return path.expanduser()


def demo_db_path(option: str | Path | None = None) -> Path:
    """The demo database: `--db` if given, else `<user data dir>/demo.duckdb`."""
    if option is not None and str(option) != "":
        return Path(option).expanduser()
    return data_dir() / DEMO_DB_FILENAME


def sample_data_dir() -> Path:
    """The bundled demo data.

    `zeptui/sample_data` inside an installed wheel, `<repo>/sample_data` in a checkout.
    """
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "sample_data", package_dir.parent / "sample_data"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"zeptui's sample data is missing (looked in {package_dir})")


def sample_files() -> list[Path]:
    """The bundled demo files, sorted by name."""
    directory = sample_data_dir()
    return sorted(
        path
        for path in directory.iterdir()
        if path.is_file() and path.suffix.lower() in {".json", ".jsonl", ".ndjson"}
    )
