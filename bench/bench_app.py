"""Benchmark of the terminal app: cold start, first screen, a huge session, memory.

Run as `python -m bench.bench_app --db STORE`, where STORE is a store made by
`python -m bench.bench_store --keep` (1,000,000 messages in 10,000 sessions plus
the 100,000-message session `sess-big`). Every figure is measured in this run,
headless, against its baseline where the target is a ratio:

- cold start: process start to the first painted screen, `zeptui` against a bare
  Textual app that paints one line (target <= 2x);
- first screen with the session list painted: on STORE against an empty store
  (target <= 1.3x);
- opening `sess-big`: from the request to its newest messages painted (target
  <= 200 ms), and each older page while scrolling to the top;
- resident memory of the app on STORE after all of that (target <= 300 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BARE_APP = """
import time
start = time.perf_counter()
from textual.app import App
from textual.widgets import Static

class Bare(App[None]):
    def compose(self):
        yield Static("hello")
    def on_ready(self) -> None:
        print(f"READY {time.perf_counter() - start:.6f}", flush=True)
        self.exit()

Bare().run(headless=True, size=(150, 42))
"""

ZEPTUI_APP = """
import sys, time
start = time.perf_counter()
from pathlib import Path
from zeptui.app.app import ZeptuiApp

class Timed(ZeptuiApp):
    def on_ready(self) -> None:
        print(f"READY {time.perf_counter() - start:.6f}", flush=True)
        self.exit()

Timed.for_database(Path(sys.argv[1])).run(headless=True, size=(150, 42))
"""


FIRST_SCREEN_RUNS = 15
"""Runs of each first-screen case: thread scheduling makes single runs vary by 2x."""


def cold_start(code: str, *args: str, runs: int = 7) -> float:
    """Median seconds from launching a new process to its first painted screen."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "ZEPTUI_CONFIG_DIR": tempfile.gettempdir()},
        )
        assert process.stdout is not None
        line = process.stdout.readline()  # the app prints READY from on_ready
        elapsed = time.perf_counter() - started
        _, errors = process.communicate(timeout=120)
        if not line.startswith("READY"):
            raise SystemExit(f"the app did not start:\n{errors[-2000:]}")
        samples.append(elapsed)
    return statistics.median(samples)


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
        await idle(app)
        await pilot.pause()
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
            await pilot.press("home")
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


def row(name: str, value: str, target: str = "", verdict: str = "") -> None:
    print(f"{name:<52} {value:>14}  {target:<22} {verdict}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", type=Path, required=True, help="a store from bench_store --keep")
    parser.add_argument("--session", default="sess-big", help="the long session to open")
    parser.add_argument("--pages", type=int, default=10, help="older pages to scroll through")
    args = parser.parse_args(argv)
    if not args.db.exists():
        raise SystemExit(f"{args.db}: no such store; make one with bench.bench_store --keep")
    os.environ.setdefault("ZEPTUI_CONFIG_DIR", tempfile.mkdtemp(prefix="zeptui-bench-"))
    with tempfile.TemporaryDirectory() as folder:
        empty = Path(folder) / "empty.duckdb"
        from storage.duckdb_store import DuckDBStore

        DuckDBStore(empty).close()
        print(f"store  {args.db} ({args.db.stat().st_size / 2**20:,.0f} MiB)")
        print(f"{'metric':<52} {'value':>14}  {'target':<22} verdict")
        bare = cold_start(BARE_APP)
        zeptui = cold_start(ZEPTUI_APP, str(args.db))
        row("cold start: bare Textual app (median of 7)", f"{bare * 1000:.0f} ms")
        ratio = zeptui / bare
        row(
            "cold start: zeptui on the store (median of 7)",
            f"{zeptui * 1000:.0f} ms",
            "<= 2x bare",
            f"{ratio:.2f}x {'PASS' if ratio <= 2 else 'FAIL'}",
        )
        empty_runs, full_runs = [], []
        for _ in range(FIRST_SCREEN_RUNS):  # interleaved, so both see the same machine
            empty_runs.append(asyncio.run(first_screen(empty)))
            full_runs.append(asyncio.run(first_screen(args.db)))
        empty_s = statistics.median(run[0] for run in empty_runs)
        full_s = statistics.median(run[0] for run in full_runs)
        row(
            f"first screen, empty store (median of {FIRST_SCREEN_RUNS})", f"{empty_s * 1000:.0f} ms"
        )
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
                opened, pages, blocks = asyncio.run(
                    big_session(args.db, args.session, args.pages, probe)
                )
                opens.append(opened)
        opened = statistics.median(opens)
        row(
            f"open {args.session}: newest messages shown (median of 3)",
            f"{opened * 1000:.0f} ms",
            "<= 200 ms",
            "PASS" if opened <= 0.2 else "FAIL",
        )
        if pages:
            row(
                "older page while scrolling up, via Pilot: median",
                f"{statistics.median(pages) * 1000:.0f} ms",
            )
        if probe.samples:
            ordered = sorted(probe.samples)
            row(
                "  main-thread layout/render pass while scrolling: p95",
                f"{ordered[int(0.95 * (len(ordered) - 1))] * 1000:.0f} ms",
            )
            row(
                "  main-thread layout/render pass while scrolling: max",
                f"{ordered[-1] * 1000:.0f} ms",
            )
        row("message widgets mounted after scrolling", f"{blocks:,}")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        row(
            "peak resident memory of the app process",
            f"{rss:,.0f} MiB",
            "<= 300 MB",
            "PASS" if rss * 2**20 <= 300e6 else "FAIL",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
