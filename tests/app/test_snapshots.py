"""SVG snapshots of the main screens, on the bundled sample data.

Regenerate after an intended change with `pytest tests/app/test_snapshots.py
--snapshot-update`, and read the report before committing the new SVGs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tests.app.conftest import HOSTILE, SIZE, build_store, make_app, settle_screen

SnapCompare = Callable[..., bool]
CHATGPT_SAMPLE_SESSION = "2b9c5a72-4e78-5856-983d-7cc128a88332"  # "Kyoto trip in late October"


def keys(*presses: str) -> Callable[[Pilot[None]], object]:
    async def run_before(pilot: Pilot[None]) -> None:
        await settle_screen(pilot)
        for press in presses:
            await pilot.press(press)
            await settle_screen(pilot)

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (250, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_first_screen(snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]) -> None:
    """What `zeptui demo` opens on, from a small terminal to a very wide one."""
    app = make_app(build_store(tmp_path / "demo.duckdb", samples=None))
    assert snap_compare(app, terminal_size=size, run_before=keys())


def test_inspector_under_the_transcript(snap_compare: SnapCompare, sample_db: Path) -> None:
    assert snap_compare(make_app(sample_db), terminal_size=(80, 24), run_before=keys("tab", "I"))


def test_zoomed_transcript(snap_compare: SnapCompare, sample_db: Path) -> None:
    assert snap_compare(make_app(sample_db), terminal_size=(80, 24), run_before=keys("tab", "z"))


def test_message_window(snap_compare: SnapCompare, sample_db: Path) -> None:
    assert snap_compare(make_app(sample_db), terminal_size=SIZE, run_before=keys("tab", "v"))


def test_perpetual(snap_compare: SnapCompare, sample_db: Path) -> None:
    assert snap_compare(make_app(sample_db), terminal_size=SIZE, run_before=keys("tab", "v", "v"))


def test_raw_text_of_the_other_session(snap_compare: SnapCompare, sample_db: Path) -> None:
    assert snap_compare(
        make_app(sample_db), terminal_size=SIZE, run_before=keys("down", "tab", "m")
    )


def test_empty_state(snap_compare: SnapCompare, tmp_path: Path) -> None:
    app = make_app(tmp_path / "missing.duckdb", location="missing.duckdb")
    assert snap_compare(app, terminal_size=SIZE, run_before=keys())


def test_search_results(snap_compare: SnapCompare, sample_db: Path) -> None:
    async def search(pilot: Pilot[None]) -> None:
        await settle_screen(pilot)
        await pilot.press("slash")
        await settle_screen(pilot)
        pilot.app.screen.query_one(Input).value = "refund charge"
        await pilot.press("enter")
        await settle_screen(pilot)

    assert snap_compare(make_app(sample_db), terminal_size=SIZE, run_before=search)


def test_help(snap_compare: SnapCompare, sample_db: Path) -> None:
    assert snap_compare(make_app(sample_db), terminal_size=SIZE, run_before=keys("question_mark"))


def test_hostile_content_is_literal(snap_compare: SnapCompare, tmp_path: Path) -> None:
    path = build_store(tmp_path / "hostile.duckdb", [HOSTILE])

    async def open_hostile(pilot: Pilot[None]) -> None:
        await settle_screen(pilot)
        pilot.app.open_session("hostile")  # type: ignore[attr-defined]
        await settle_screen(pilot)

    assert snap_compare(make_app(path), terminal_size=SIZE, run_before=open_hostile)


def test_demo_data_chatgpt_export(snap_compare: SnapCompare, tmp_path: Path) -> None:
    """Every sample, as `zeptui demo` loads them: the ChatGPT export's active branch
    (the edited prompt's first version is not there) with its image placeholder."""
    path = build_store(tmp_path / "demo.duckdb", samples=None)

    async def open_chatgpt(pilot: Pilot[None]) -> None:
        await settle_screen(pilot)
        pilot.app.open_session(CHATGPT_SAMPLE_SESSION)  # type: ignore[attr-defined]
        await settle_screen(pilot)

    assert snap_compare(make_app(path), terminal_size=SIZE, run_before=open_chatgpt)
