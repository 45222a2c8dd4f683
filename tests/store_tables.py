"""Everything a store file holds, read straight from DuckDB: every table's rows (what
"the store is as it was" compares). The id sequences are left out: DuckDB's
`nextval` is not transactional, so a rolled-back write moves them on (ids are never
reused; nothing shows the gap but the ids of later rows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb


def every_table(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Each table's rows, sorted, by table name."""
    with duckdb.connect(str(path), read_only=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM duckdb_tables() WHERE NOT temporary ORDER BY table_name"
            ).fetchall()
        ]
        return {
            table: conn.execute(f'SELECT * FROM "{table}" ORDER BY ALL').fetchall()
            for table in tables
        }
