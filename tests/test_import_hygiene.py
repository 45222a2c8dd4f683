"""The boundaries between the layers, checked two ways.

The import-linter contracts in pyproject.toml read the static import graph: any import
statement, also one inside a function. The run-time checks import each module in a
fresh interpreter and look at `sys.modules`, which is what a deferred import really
defers (and what arrives sideways, through a third-party package).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold() -> None:
    """`lint-imports` with the contracts of pyproject.toml (what CI runs through pytest)."""
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


_LOADS = """
import importlib, json, pkgutil, sys
package, forbidden = sys.argv[1], tuple(sys.argv[2:])
root = importlib.import_module(package)
names = [package] + sorted(
    info.name for info in pkgutil.walk_packages(getattr(root, "__path__", []), package + ".")
)
loaded = {}
for name in names:
    importlib.import_module(name)
    loaded[name] = sorted(
        m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in forbidden)
    )
print(json.dumps(loaded))
"""


def loads(package: str, *forbidden: str) -> dict[str, list[str]]:
    """For `package` and each module under it, imported in turn in a fresh interpreter:
    which of the `forbidden` modules were loaded by then."""
    done = subprocess.run(
        [sys.executable, "-c", _LOADS, package, *forbidden],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded: dict[str, list[str]] = json.loads(done.stdout)
    assert len(loaded) >= 1
    return loaded


def first_leak(loaded: dict[str, list[str]]) -> str | None:
    """The first module whose import loaded a forbidden one, with what it loaded."""
    return next((f"{name}: {found}" for name, found in loaded.items() if found), None)


def test_storage_loads_no_front_end() -> None:
    loaded = loads("storage", "zeptui", "textual", "rich", "click", "click_default_group")
    assert "storage.duckdb.store" in loaded, "every storage module was imported"
    assert first_leak(loaded) is None


def test_the_widgets_load_no_database() -> None:
    loaded = loads("zeptui.app.widgets", "duckdb", "storage.duckdb")
    assert len(loaded) >= 4
    assert first_leak(loaded) is None


def test_the_cli_loads_no_widgets_at_import_time() -> None:
    """`zeptui` and its commands start without the app (which `zeptui` alone runs)."""
    loaded = loads("zeptui.cli", "zeptui.app.widgets", "textual")
    assert first_leak(loaded) is None


def test_the_remote_store_loads_no_web_server_and_no_front_end() -> None:
    """A command with --remote loads httpx and the store, not FastAPI or uvicorn (nor
    Textual; Rich and click, httpx loads itself for its command line when present)."""
    loaded = loads("zeptui.remote", "fastapi", "starlette", "uvicorn", "zeptui.server", "textual")
    assert "zeptui.remote.client" in loaded, "every remote module was imported"
    assert first_leak(loaded) is None
