"""Benchmark of the terminal app: start-up as a user feels it, a huge session, memory.

    .venv/bin/python -m bench.bench_app                       # start-up on the bundled samples
    .venv/bin/python -m bench.bench_app --db STORE            # ... and on STORE, plus the rest

Start-up (always): `zeptui --db DEMO` is launched the way a user launches it, the
console script in a new pseudo-terminal of 80x24, and timed until the first
session's title is on its screen; a bare Textual app that paints one line is
timed the same way, until that line is on screen, in the same run, interleaved
(target: zeptui <= 2x bare, with the first page kept from the last start and
without it, when the page is read ahead from the file). DEMO is a store of the
bundled samples, made in a temporary folder. Also shown: zeptui until its first
frame (the pane titles), and, with `--db`, until STORE's sessions are on screen.

With `--db STORE`, a store made by `python -m bench.bench_store --keep` (1,000,000
messages in 10,000 sessions plus the 100,000-message session `sess-big`), also:

- the first screen with the session list, headless, on STORE against an empty
  store (target <= 1.3x);
- opening `sess-big`: from the request to its newest messages painted (target
  <= 200 ms), and each older page while scrolling up;
- resident memory of the app on STORE after all of that (target <= 300 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import re
import resource
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

BARE_APP = """
from textual.app import App
from textual.widgets import Static

class Bare(App[None]):
    def compose(self):
        yield Static("hello from a bare Textual app")

Bare().run()
"""
BARE_MARKER = "hello from a bare Textual app"

TERMINAL = (80, 24)
"""Columns and lines of the pseudo-terminal."""

START_RUNS = 9
"""Launches of each program (interleaved): single launches vary by a third."""

FIRST_SCREEN_RUNS = 15
"""Runs of each headless first-screen case: thread scheduling makes single runs vary by 2x."""

_ESCAPES = re.compile(
    rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|[@-Z\\-_])"
)


def until_on_screen(
    argv: Sequence[str],
    marker: str,
    size: tuple[int, int] = TERMINAL,
    timeout: float = 60,
    linger: Callable[[], bool] | None = None,
) -> float:
    """Seconds from launching `argv` in a new pseudo-terminal of `size` until `marker`
    is in what it wrote (escape sequences removed). The process is killed after,
    or, with `linger`, once `linger()` is true (bounded by `timeout`)."""
    columns, lines = size
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(lines)}
    # A user's Python keeps compiled bytecode (__pycache__); a development shell
    # may turn that off, which would time compiling zeptui's sources at each start.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.perf_counter()
    process = subprocess.Popen(
        list(argv),
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        start_new_session=True,  # its own process group, killed as one below
    )
    os.close(follower)
    written = b""
    wanted = marker.encode()
    try:
        while time.perf_counter() - started < timeout:
            ready, _, _ = select.select([leader], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(leader, 1 << 16)
            except OSError:  # the program exited
                break
            written += chunk
            if wanted in _ESCAPES.sub(b"", written):
                elapsed = time.perf_counter() - started
                while linger is not None and not linger():
                    if time.perf_counter() - started > timeout:
                        break
                    if select.select([leader], [], [], 0.05)[0]:
                        with contextlib.suppress(OSError):  # keep its output flowing
                            os.read(leader, 1 << 16)
                return elapsed
        screen = _ESCAPES.sub(b"", written).decode(errors="replace")[-1500:]
        raise SystemExit(f"{argv[0]}: {marker!r} not on screen within {timeout:g} s:\n{screen}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        os.close(leader)


def zeptui_command(store: Path) -> list[str]:
    """`zeptui --db STORE`, the console script next to this Python (as a user runs it)."""
    script = Path(sys.executable).with_name("zeptui")
    if not script.exists():
        raise SystemExit(f"{script}: not installed; run pip install -e . first")
    return [str(script), "--db", str(store)]


def first_row_marker(store: Path) -> str:
    """The start of the first session's label in the app's list (most recent first)."""
    from storage.duckdb import DuckDBStore
    from storage.models import SessionOrder, SessionQuery
    from zeptui.render import sanitize, session_label

    query = SessionQuery(limit=1, order_by=SessionOrder.activity, descending=True)
    with DuckDBStore(store, read_only=True, summarizer=None) as opened:
        page = opened.session_page(query)
    if not page.sessions:
        raise SystemExit(f"{store}: no sessions")
    return sanitize(session_label(page.sessions[0].session))[:12]


def demo_store(folder: Path) -> Path:
    """A store of the bundled samples, as `zeptui demo` makes it."""
    from storage.duckdb import DuckDBStore
    from zeptui.config import sample_files
    from zeptui.importers import import_file

    path = folder / "demo.duckdb"
    with DuckDBStore(path, background_summaries=False) as store:
        for sample in sample_files():
            import_file(store, sample)
    return path


def start_up(stores: Sequence[tuple[str, Path]], runs: int) -> list[tuple[str, float]]:
    """Median seconds until on screen, the cases launched interleaved `runs` times:
    the bare app; zeptui's first frame; zeptui's sessions on each store, with the
    first page kept from the last start (the usual start) and without it (the first
    start after the file changed: the page is read ahead from the file)."""
    from zeptui.app import first_page

    bare = [sys.executable, "-c", BARE_APP]
    cases: list[tuple[str, Callable[[], float]]] = [
        ("bare Textual app: its line", partial(until_on_screen, bare, BARE_MARKER))
    ]
    name, first = stores[0]
    frame = partial(until_on_screen, zeptui_command(first), "Sessions · recent")
    cases.append((f"zeptui: first frame ({name})", frame))
    for name, store in stores:
        command, marker = zeptui_command(store), first_row_marker(store)
        kept = first_page.cache_file(store)
        listed = partial(until_on_screen, command, marker)

        def warm(listed: Callable[..., float] = listed, kept: Path = kept) -> float:
            listed(linger=kept.exists)  # a start that stays until it has kept its page
            return listed()

        def cold(listed: Callable[..., float] = listed, kept: Path = kept) -> float:
            kept.unlink(missing_ok=True)
            return listed()

        cases.append((f"zeptui: sessions listed ({name})", warm))
        cases.append((f"zeptui: sessions listed, none kept ({name})", cold))
    samples: dict[str, list[float]] = {label: [] for label, _ in cases}
    for _, measure in cases:  # once unmeasured: bytecode written, files in the page cache
        measure()
    for _ in range(runs):
        for label, measure in cases:
            samples[label].append(measure())
    return [(label, statistics.median(times)) for label, times in samples.items()]


async def first_screen(path: Path) -> tuple[float, float]:
    """Seconds from app start to (the first page of sessions in the list, the whole
    first screen including the newest session's transcript).

    The list's time is taken when the sessions pane posts `Loaded`, right after the
    rows are in the table (they paint on the next frame, in both cases alike); a
    polling loop would also count whatever work the app does after it.
    """
    from zeptui.app.app import ZeptuiApp
    from zeptui.app.widgets.sessions import SessionsPane

    loaded: list[float] = []

    def seen(message: object) -> None:
        if isinstance(message, SessionsPane.Loaded) and not loaded:
            loaded.append(time.perf_counter())

    app = ZeptuiApp.for_database(path)
    started = time.perf_counter()
    async with app.run_test(size=(150, 42), message_hook=seen) as pilot:
        for _ in range(5000):
            if loaded:
                break
            await pilot.pause(0.001)
        await idle(app)
        await pilot.pause()
        whole = time.perf_counter() - started
        return (loaded[0] - started) if loaded else whole, whole


class FrameProbe:
    """Times Textual's layout and render passes on the main thread (private hooks:
    if a Textual release renames them, the probe reports nothing)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._undo: list[tuple[object, str, object]] = []

    def __enter__(self) -> FrameProbe:
        from textual import _compositor
        from textual.screen import Screen

        for owner, name in ((Screen, "_refresh_layout"), (_compositor.Compositor, "render_update")):
            original = getattr(owner, name, None)
            if original is None:
                continue

            def timed(*args: object, _original: Any = original, **kwargs: object) -> object:
                started = time.perf_counter()
                try:
                    return _original(*args, **kwargs)
                finally:
                    self.samples.append(time.perf_counter() - started)

            setattr(owner, name, timed)
            self._undo.append((owner, name, original))
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in self._undo:
            setattr(owner, name, original)


async def big_session(
    path: Path, session_id: str, pages: int, probe: FrameProbe | None = None
) -> tuple[float, list[float], int]:
    """(seconds to the newest messages, seconds per older page, blocks mounted at the end).

    With `probe`, the main thread's layout and render passes while scrolling are timed.
    """
    from zeptui.app.app import ZeptuiApp
    from zeptui.app.widgets.transcript import TranscriptPane

    selected: list[float] = []

    def seen(message: object) -> None:
        # The transcript selects the newest message once its page is mounted.
        if isinstance(message, TranscriptPane.Selected) and message.item is not None:
            selected.append(time.perf_counter())

    app = ZeptuiApp.for_database(path)
    async with app.run_test(size=(150, 42), message_hook=seen) as pilot:
        for _ in range(5000):  # the store's answer reaches the list after its worker ends
            await idle(app)
            await pilot.pause(0.001)
            if app.sessions.sessions:
                break
        # Start from another session, so opening this one really loads it.
        others = [i.session.session_id for i in app.sessions.sessions]
        app.open_session(next(s for s in others if s != session_id))
        for _ in range(20):
            await idle(app)
            await pilot.pause(0.01)
        selected.clear()
        started = time.perf_counter()
        app.open_session(session_id)
        for _ in range(5000):
            if selected:
                break
            await pilot.pause(0.001)
        await pilot.pause()
        opened = (selected[0] if selected else time.perf_counter()) - started
        app.transcript.focus()
        if probe is not None:
            probe.samples.clear()
        page_times = []
        for _ in range(pages):
            before = list(app.transcript.pages)
            started = time.perf_counter()
            # Up ten messages at a time until an older page is asked for (`home`
            # would jump to the session's first page instead).
            for _ in range(100):
                await pilot.press("pageup")
                if app.transcript.pages != before or app.transcript.fetching:
                    break
            for _ in range(5000):
                if app.transcript.pages != before:
                    break
                await pilot.pause(0.001)
            await pilot.pause()
            page_times.append(time.perf_counter() - started)
        return opened, page_times, len(app.transcript.blocks)


async def idle(app: object) -> None:
    """Wait for the app's workers; a worker replaced by a newer one is fine."""
    from textual.worker import WorkerCancelled

    with contextlib.suppress(WorkerCancelled):
        await app.workers.wait_for_complete()  # type: ignore[attr-defined]


NAME_WIDTH = 66


def row(name: str, value: str, target: str = "", verdict: str = "") -> None:
    print(f"{name:<{NAME_WIDTH}} {value:>9}  {target:<14} {verdict}".rstrip())


def machine() -> list[str]:
    """The machine and versions, and how busy it was (the start-up is CPU-bound)."""
    import textual

    from bench.bench_store import machine_description

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return [*machine_description(), f"textual   {textual.__version__}", f"load      {load}"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", type=Path, help="a store from bench_store --keep")
    parser.add_argument("--session", default="sess-big", help="the long session to open")
    parser.add_argument("--pages", type=int, default=10, help="older pages to scroll through")
    parser.add_argument("--runs", type=int, default=START_RUNS, help="launches of each program")
    args = parser.parse_args(argv)
    if args.db is not None and not args.db.exists():
        raise SystemExit(f"{args.db}: no such store; make one with bench.bench_store --keep")
    # The app's settings go to a folder of the bench's own, never the user's.
    os.environ.setdefault("ZEPTUI_CONFIG_DIR", tempfile.mkdtemp(prefix="zeptui-bench-"))
    print("\n".join(machine()))
    with tempfile.TemporaryDirectory() as folder:
        stores = [("samples", demo_store(Path(folder)))]
        if args.db is not None:
            stores.append(("--db", args.db))
        print(f"start-up in an {TERMINAL[0]}x{TERMINAL[1]} pseudo-terminal, median of {args.runs}")
        row("metric", "value", "target", "verdict")
        results = start_up(stores, args.runs)
        bare = results[0][1]
        for label, seconds in results:
            ratio = seconds / bare
            target = verdict = ""
            if "sessions listed" in label:  # with the first page kept or read ahead
                target, verdict = "<= 2x bare", f"{ratio:.2f}x {'PASS' if ratio <= 2 else 'FAIL'}"
            elif seconds is not bare:
                verdict = f"{ratio:.2f}x"
            row(label, f"{seconds * 1000:.0f} ms", target, verdict)
        if args.db is not None:
            the_rest(args.db, args.session, args.pages, Path(folder))
    return 0


def the_rest(store: Path, session: str, pages: int, folder: Path) -> None:
    """First screen, the long session and memory, on a store from bench_store."""
    from storage.duckdb import DuckDBStore

    empty = folder / "empty.duckdb"
    DuckDBStore(empty).close()
    empty_runs, full_runs = [], []
    for _ in range(FIRST_SCREEN_RUNS):  # interleaved, so both see the same machine
        empty_runs.append(asyncio.run(first_screen(empty)))
        full_runs.append(asyncio.run(first_screen(store)))
    empty_s = statistics.median(run[0] for run in empty_runs)
    full_s = statistics.median(run[0] for run in full_runs)
    row(f"first screen, empty store (median of {FIRST_SCREEN_RUNS})", f"{empty_s * 1000:.0f} ms")
    ratio = full_s / empty_s
    row(
        f"first screen with the session list (median of {FIRST_SCREEN_RUNS})",
        f"{full_s * 1000:.0f} ms",
        "<= 1.3x empty",
        f"{ratio:.2f}x {'PASS' if ratio <= 1.3 else 'FAIL'}",
    )
    whole = statistics.median(run[1] for run in full_runs)
    row("  ... and the newest session's transcript (info)", f"{whole * 1000:.0f} ms")
    opens = []
    with FrameProbe() as probe:
        for _ in range(3):  # the probe keeps the passes of the last run's scrolling
            opened, page_times, blocks = asyncio.run(big_session(store, session, pages, probe))
            opens.append(opened)
    opened = statistics.median(opens)
    row(
        f"open {session}: newest messages shown (median of 3)",
        f"{opened * 1000:.0f} ms",
        "<= 200 ms",
        "PASS" if opened <= 0.2 else "FAIL",
    )
    if page_times:
        row(
            "older page while scrolling up, via Pilot: median",
            f"{statistics.median(page_times) * 1000:.0f} ms",
        )
    if probe.samples:
        ordered = sorted(probe.samples)
        row(
            "  main-thread layout/render pass while scrolling: p95",
            f"{ordered[int(0.95 * (len(ordered) - 1))] * 1000:.0f} ms",
        )
        row("  main-thread layout/render pass while scrolling: max", f"{ordered[-1] * 1000:.0f} ms")
    row("message widgets mounted after scrolling", f"{blocks:,}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row(
        "peak resident memory of the app process",
        f"{rss:,.0f} MiB",
        "<= 300 MB",
        "PASS" if rss * 2**20 <= 300e6 else "FAIL",
    )


if __name__ == "__main__":
    raise SystemExit(main())
