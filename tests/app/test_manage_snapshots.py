"""SVG snapshots of the dialogs that change the store, at 80x24 and at a wide size.

Regenerate after an intended change with `pytest tests/app/test_manage_snapshots.py
--snapshot-update`, and read the report before committing the new SVGs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.duckdb import DuckDBStore
from storage.models import CreateUserRequest
from tests.app.conftest import FIXED_NOW, HOSTILE, SIZE, build_store, make_app
from tests.app.test_snapshots import SnapCompare, keys

SIZES = [(80, 24), SIZE]
"""The smallest terminal the app supports, and a wide one."""


def size_id(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_delete_dialog(snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]) -> None:
    """From the transcript: the message first; ids, roles and users shown literally."""
    path = build_store(tmp_path / "hostile.duckdb", [HOSTILE], samples=())
    app = make_app(path)
    assert snap_compare(app, terminal_size=size, run_before=keys("tab", "d"))


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_summarize_dialog(
    snap_compare: SnapCompare, sample_db: Path, size: tuple[int, int]
) -> None:
    assert snap_compare(make_app(sample_db), terminal_size=size, run_before=keys("S"))


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_users_view(snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]) -> None:
    """With the samples' users, HOSTILE's `[red]mallory`, and names and an email that
    hold markup and escapes: all shown literally."""
    path = build_store(tmp_path / "users.duckdb", [HOSTILE])
    with DuckDBStore(path, clock=lambda: FIXED_NOW) as store:
        store.add_user(
            CreateUserRequest(
                user_id="ada",
                first_name="[b]Ada[/b]",
                last_name="\x1b[31mLovelace",
                email="ada@[example].com",
            )
        )
    assert snap_compare(make_app(path), terminal_size=size, run_before=keys("U"))


def test_deleted_sessions(snap_compare: SnapCompare, sample_db: Path) -> None:
    with DuckDBStore(sample_db, clock=lambda: FIXED_NOW) as store:
        store.delete_session("octavia-butler")
    assert snap_compare(make_app(sample_db), terminal_size=(80, 24), run_before=keys("D"))
