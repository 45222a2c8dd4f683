"""What the front-end-free parts of zeptui may import: the services, the settings and
the composition root serve the CLI, the app and the API server alike, so none of
them loads click, Rich, Textual or a front end; the CLI reaches the app only through
`zeptui.app.app.run`. Checked on every import statement, those inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ZEPTUI = Path(__file__).resolve().parents[1] / "zeptui"
UI_FREE = [
    *sorted((ZEPTUI / "services").glob("*.py")),
    ZEPTUI / "compose.py",
    ZEPTUI / "settings.py",
    ZEPTUI / "config.py",
    ZEPTUI / "text.py",
]
FORBIDDEN = (
    "click",
    "click_default_group",
    "rich",
    "textual",
    "zeptui.cli",
    "zeptui.app",
    "zeptui.render",
)


def imported(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in it."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@pytest.mark.parametrize("path", UI_FREE, ids=lambda path: path.name)
def test_services_settings_and_composition_import_no_front_end(path: Path) -> None:
    found = {name for name in imported(path) for package in FORBIDDEN if within(name, package)}
    assert not found, f"{path.name} imports {sorted(found)}"


def test_the_cli_reaches_the_app_only_through_run() -> None:
    """... and `first_page.begin`, which starts reading the first page of sessions
    before the app is imported (start-up time)."""
    for path in sorted((ZEPTUI / "cli").glob("*.py")):
        app = {name for name in imported(path) if within(name, "zeptui.app")}
        allowed = {"zeptui.app.app", "zeptui.app.first_page"}
        assert app <= allowed, f"{path.name} imports {sorted(app)}"


STORE_SIDE = ("duckdb", "_duckdb", "storage.duckdb", "storage.store", "zeptui.app.leases")
"""The database, the store classes and the leases: the app's data layer's business."""


def test_widgets_and_screens_reach_the_store_only_through_the_data_layer() -> None:
    app = ZEPTUI / "app"
    files = sorted([*app.glob("widgets/*.py"), *app.glob("screens/*.py")])
    assert len(files) >= 6
    offences = [
        f"{path.relative_to(app)} imports {name}"
        for path in files
        for name in sorted(imported(path))
        if any(within(name, package) for package in STORE_SIDE)
    ]
    assert offences == []
