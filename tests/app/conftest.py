"""Fixtures for the app tests: real DuckDB files built from the bundled sample data."""

from __future__ import annotations

import contextlib
import html
import re
import shutil
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input
from textual.worker import WorkerCancelled

from storage.duckdb import DuckDBStore
from storage.models import Message, RoleType, SessionImport
from zeptui.app.app import ZeptuiApp
from zeptui.app.leases import StoreLeases
from zeptui.config import sample_files
from zeptui.importers import import_file

FIXED_NOW = datetime(2024, 10, 1, 12, 0, tzinfo=UTC)
SIZE = (150, 42)


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings go to a temporary folder, never the developer's home."""
    config = tmp_path / "config"
    monkeypatch.setenv("ZEPTUI_CONFIG_DIR", str(config))
    return config


@pytest.fixture(autouse=True)
def lasting_notifications(monkeypatch: pytest.MonkeyPatch) -> None:
    """Toasts stay a minute, not Textual's 5 s: on a loaded machine a test's steps
    can take longer than that, and a toast it checks for was gone by then."""
    monkeypatch.setattr(App, "NOTIFICATION_TIMEOUT", 60.0)


APP_SAMPLES = ("octavia-butler.json", "customer-support.json")


def build_store(
    path: Path,
    sessions: list[SessionImport] | None = None,
    samples: tuple[str, ...] | None = APP_SAMPLES,
) -> Path:
    """A store with sample data (and `sessions`), on a fixed clock.

    Most app tests are written against `APP_SAMPLES` (their sessions, order and
    counts); `samples=None` loads every bundled sample, as `zeptui demo` does. The
    samples are imported once per process and copied (a copy costs a millisecond, an
    import a few hundred).
    """
    if samples != ():
        shutil.copyfile(_samples_template(samples), path)
    if samples == () or sessions:
        with _fixed_clock_store(path) as store:
            if sessions:
                store.import_sessions(sessions)
    return path


def _fixed_clock_store(path: Path) -> DuckDBStore:
    return DuckDBStore(path, clock=lambda: FIXED_NOW, background_summaries=False)


_TEMPLATES: dict[tuple[str, ...] | None, Path] = {}
"""Stores of sample data already imported in this process, by `samples`."""
_TEMPLATE_FOLDERS: list[Path] = []
"""Where they are (pytest's temporary folder, set for the session)."""


@pytest.fixture(scope="session", autouse=True)
def _template_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    _TEMPLATE_FOLDERS.append(tmp_path_factory.mktemp("samples"))


def _samples_template(samples: tuple[str, ...] | None) -> Path:
    if samples not in _TEMPLATES:
        path = _TEMPLATE_FOLDERS[-1] / f"samples{len(_TEMPLATES)}.duckdb"
        with _fixed_clock_store(path) as store:
            for sample in sample_files():
                if samples is None or sample.name in samples:
                    import_file(store, sample)
        _TEMPLATES[samples] = path
    return _TEMPLATES[samples]


@pytest.fixture(scope="session")
def sample_template() -> Path:
    """The store of `APP_SAMPLES`, built once per test session (per worker)."""
    return _samples_template(APP_SAMPLES)


@pytest.fixture
def sample_db(tmp_path: Path) -> Path:
    """A fresh store of `APP_SAMPLES` for one test."""
    return build_store(tmp_path / "sample.duckdb")


def make_app(path: Path, location: str = "sample.duckdb") -> ZeptuiApp:
    """The app on `path`, showing a fixed location (snapshots must not see tmp paths)."""
    return ZeptuiApp(StoreLeases.for_file(path), location=location)


@pytest.fixture
def app(sample_db: Path) -> Iterator[ZeptuiApp]:
    yield make_app(sample_db)


async def wait_for_workers(app: App[object]) -> None:
    """Wait for every worker the app has now. A worker replaced by a newer one of its
    group (exclusive workers) ends cancelled, which is normal, not a failure. A
    directory tree's loader (the import dialog's) lives as long as the tree: not waited."""
    for worker in list(app.workers):
        if worker.group == "_loader":
            continue
        with contextlib.suppress(WorkerCancelled):
            await worker.wait()


async def settle(pilot: Pilot[None]) -> None:
    """Let workers finish and the screen catch up (bounded)."""
    for _ in range(4):
        await wait_for_workers(pilot.app)
        await pilot.pause()
        await pilot.pause(0.05)  # scrolls scheduled after a refresh land too
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False


async def quiet(pilot: Pilot[None], rounds: int = 40) -> None:
    """Wait (bounded) until the app has no worker running and no message pending, two
    rounds in a row: `settle` without its sleeps, for tests that check state, not
    pixels."""
    calm = 0
    for _ in range(rounds):
        busy = any(worker.is_running for worker in pilot.app.workers)
        await wait_for_workers(pilot.app)
        await pilot.pause()
        calm = 0 if busy else calm + 1
        if calm >= 2:
            return


async def settle_screen(pilot: Pilot[None], rounds: int = 40, same: int = 3) -> None:
    """`settle`, then wait (bounded) until `same` screenshots in a row are the same: on
    a busy machine the chain list → transcript → scroll can outlast `settle`'s rounds,
    and a table's columns can be laid out again after two alike (a users view's, under
    a suite on two loaded cores)."""
    await settle(pilot)
    previous = pilot.app.export_screenshot()
    alike = 1
    for _ in range(rounds):
        await settle(pilot)
        current = pilot.app.export_screenshot()
        alike = alike + 1 if current == previous else 1
        if alike >= same:
            return
        previous = current


async def palette_shows(pilot: Pilot[None], typed: str, wanted: str) -> bool:
    """Open the command palette, type `typed`, and wait (bounded: the palette searches
    in the background) until the screen shows `wanted`."""
    await pilot.press("ctrl+p")
    await settle(pilot)
    await pilot.press(*typed)
    for _ in range(50):
        await pilot.pause(0.05)
        if wanted in screen_text(pilot.app):
            return True
    return False


def screen_text(app: App[object]) -> str:
    """The visible screen as plain text."""
    svg = app.export_screenshot()
    texts = re.findall(r"<text[^>]*>(.*?)</text>", svg, flags=re.S)
    return html.unescape("".join(texts)).replace("\xa0", " ")


def screen_lines(app: App[object]) -> list[str]:
    """The visible screen, line by line (text in the order it appears on each line)."""
    rows: dict[float, list[tuple[float, str]]] = defaultdict(list)
    svg = app.export_screenshot()
    for x, y, text in re.findall(r'<text[^>]*?x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', svg):
        rows[float(y)].append((float(x), html.unescape(text).replace("\xa0", " ")))
    return ["".join(text for _, text in sorted(rows[y])) for y in sorted(rows)]


def notices(app: App[object]) -> str:
    """The notifications on screen (run the app with `notifications=True`), one string."""
    return " | ".join(" ".join(str(toast.render()).split()) for toast in app.screen.query("Toast"))


def session_ids(app: ZeptuiApp) -> list[str]:
    return [info.session.session_id for info in app.sessions.sessions]


def shown_uuids(app: ZeptuiApp) -> list[str]:
    return [
        block.item.uuid or "" for block in app.transcript.blocks if isinstance(block.item, Message)
    ]


def long_session(count: int, session_id: str = "long") -> SessionImport:
    return SessionImport(
        session_id=session_id,
        messages=[
            Message(
                uuid=f"00000000-0000-4000-8000-{n:012d}",
                created_at=datetime(2024, 1, 1, tzinfo=UTC).replace(
                    minute=n % 60, hour=n // 60 % 24
                ),
                role="Ana" if n % 2 else "Bot",
                role_type=RoleType.user if n % 2 else RoleType.assistant,
                content=f"message number {n}",
            )
            for n in range(count)
        ],
    )


def tall_before_newest(count: int = 27, session_id: str = "tall") -> SessionImport:
    """A session whose newest message comes right after a message taller than any
    screen, on the page before the last (pages hold 25 messages)."""
    tall = "\n\n".join(f"## Part {n}\n\n- item **bold** " + "words " * 30 for n in range(40))
    start = datetime(2030, 1, 1, tzinfo=UTC)
    return SessionImport(
        session_id=session_id,
        messages=[
            Message(
                uuid=f"33333333-3333-4333-8333-{n:012d}",
                created_at=start + timedelta(minutes=n),
                role="Ana" if n % 2 else "Bot",
                role_type=RoleType.user if n % 2 else RoleType.assistant,
                content="THE NEWEST MESSAGE"
                if n == count - 1
                else (tall if n == count - 3 else f"short message {n}"),
            )
            for n in range(count)
        ],
    )


HOSTILE = SessionImport(
    session_id="hostile",
    user_id="[red]mallory",
    metadata={"[bold]key": "\x1b[31mred\x1b[0m"},
    messages=[
        Message(
            uuid="11111111-1111-4111-8111-111111111111",
            created_at=datetime(2024, 2, 2, tzinfo=UTC),
            role="[bold]Mallory[/]",
            role_type=RoleType.user,
            content=(
                "[bold]not bold[/] [link=https://example.com]x[/link] "
                "\x1b[31mred\x1b[0m bell\x07 nul\x00 [/]"
            ),
            metadata={"[i]": "[/]"},
        )
    ],
)
