"""SVG snapshots of the forms (`n`, `a`, `e`) at 80x24 and at 160x48, on a session
whose ids, roles and metadata hold markup (shown literally).

Regenerate after an intended change with `pytest tests/app/test_form_snapshots.py
--snapshot-update`, and read the report before committing the new SVGs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from tests.app.conftest import HOSTILE, build_store, make_app, settle_screen
from zeptui.app.screens import new_session

SnapCompare = Callable[..., bool]
SIZES = [(80, 24), (160, 48)]


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample sessions and one with markup in its ids, role and metadata (the
    forms only read it: one file for every snapshot)."""
    return build_store(tmp_path_factory.mktemp("forms") / "hostile.duckdb", [HOSTILE])


def open_form(key: str, *typed: str) -> Callable[[Pilot[None]], object]:
    async def run_before(pilot: Pilot[None]) -> None:
        await settle_screen(pilot)
        pilot.app.open_session("hostile")  # type: ignore[attr-defined]
        await settle_screen(pilot)
        await pilot.press(key)
        await settle_screen(pilot)
        await pilot.press(*typed)
        await settle_screen(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize(
    ("key", "typed"),
    [("n", ()), ("a", tuple("**Hi** [b]there")), ("e", ())],
    ids=["new_session", "append", "edit_metadata"],
)
def test_form(
    snap_compare: SnapCompare,
    hostile_db: Path,
    monkeypatch: pytest.MonkeyPatch,
    key: str,
    typed: tuple[str, ...],
    size: tuple[int, int],
) -> None:
    monkeypatch.setattr(
        new_session, "fresh_session_id", lambda: "0b5e8d4a-7c1f-4e2a-9d3b-6f0a1c2e3d4f"
    )
    app = make_app(hostile_db)
    assert snap_compare(app, terminal_size=size, run_before=open_form(key, *typed))
