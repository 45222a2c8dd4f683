"""Widgets and screens reach the store only through the data layer."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).parents[2] / "zeptui" / "app"
FORBIDDEN = ("duckdb", "_duckdb", "storage.duckdb", "storage.store", "zeptui.app.leases")
"""The database, the store classes and the leases: the data layer's business."""


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at any level (also under TYPE_CHECKING)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module)
    return modules


def test_widgets_and_screens_do_not_import_the_store_or_the_database() -> None:
    files = sorted([*APP.glob("widgets/*.py"), *APP.glob("screens/*.py")])
    assert len(files) >= 6
    offences = [
        f"{path.relative_to(APP)} imports {module}"
        for path in files
        for module in sorted(imported_modules(path))
        if any(module == name or module.startswith(name + ".") for name in FORBIDDEN)
    ]
    assert offences == []
