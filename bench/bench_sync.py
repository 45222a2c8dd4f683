"""`zeptui sync pull` and `push` of a big store on loopback, next to the server's raw
paging throughput measured in the same run.

    .venv/bin/python -m bench.bench_sync                                  # 100,000 messages
    .venv/bin/python -m bench.bench_sync --messages 20000 --sessions 200  # quick

One run: bench_server's seeded store (or `--db`) served by `zeptui serve` in its own
process; first the raw paging throughput (every session's messages read with httpx,
`GET /api/v2/sessions/{id}/messages`, bytes only, one client), then a pull of the whole
store into a fresh local file, then a push of that file into a second server on an
empty store, each through `zeptui.services.sync` as `zeptui sync` runs it. It prints
messages per second for each, the ratio of each sync to the raw paging, and the
machine's load (`uptime`): the target (issue 13) is 10,000 messages/s each way.
"""

from __future__ import annotations

import argparse
import functools
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from bench.bench_server import build_store, cpu_seconds, start_server, store_parser
from bench.bench_store import remove
from storage.duckdb import DuckDBStore
from zeptui.remote import open_remote
from zeptui.remote.client import encode_id
from zeptui.services.sync import Sync, SyncReport
from zeptui.services.sync_rules import Direction
from zeptui.services.sync_state import SyncState, state_path

TARGET_MESSAGES_PER_SECOND = 10_000
Row = tuple[str, int, float, float, float]
"""A phase: its name, messages, seconds, and the CPU seconds of the server and of this
process (the client: every thread of it) meanwhile."""
PAGE = 10_000


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = store_parser("bench.bench_sync", 100_000, 1_000, 100)
    return parser.parse_args(argv)


def raw_paging(url: str, session_ids: list[str]) -> tuple[int, float]:
    """Every session's messages read as bytes: (messages, seconds)."""
    messages = 0
    start = time.perf_counter()
    with httpx.Client(base_url=url, timeout=60) as http:
        for session_id in session_ids:
            path = f"/api/v2/sessions/{encode_id(session_id, 'v2')}/messages"
            page = 1
            while True:
                answer = http.get(path, params={"limit": PAGE, "cursor": page})
                answer.raise_for_status()
                count = answer.json()["row_count"]
                messages += count
                if count < PAGE:
                    break
                page += 1
    return messages, time.perf_counter() - start


def sync_once(direction: Direction, url: str, local: Path) -> SyncReport:
    with (
        open_remote(url) as remote,
        DuckDBStore(local, summarizer=None, read_only=direction == "push") as store,
    ):
        state = SyncState(state_path(local), url)
        source, target = (remote, store) if direction == "pull" else (store, remote)
        try:
            return Sync(source, target, state, direction=direction).run()
        finally:
            state.close()


def measured(name: str, server: int, run: Callable[[], tuple[int, float]]) -> Row:
    """A phase's row: what `run` answers (messages, seconds), and the CPU seconds of
    the server and of the client meanwhile."""
    cpu, own = cpu_seconds(server), time.process_time()
    messages, seconds = run()
    return name, messages, seconds, cpu_seconds(server) - cpu, time.process_time() - own


def synced(direction: Direction, url: str, local: Path) -> Callable[[], tuple[int, float]]:
    def run() -> tuple[int, float]:
        report = sync_once(direction, url, local)
        return report.messages_copied, report.seconds

    return run


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    db_path, session_ids, _queries = build_store(args)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as scratch:
        local = Path(scratch) / "local.duckdb"
        process, url = start_server(db_path)
        try:
            paging = functools.partial(raw_paging, url, session_ids)
            rows.append(measured("raw paging (httpx, bytes)", process.pid, paging))
            rows.append(measured("sync pull", process.pid, synced("pull", url, local)))
            again = synced("pull", url, local)
            rows.append(measured("sync pull again (nothing)", process.pid, again))
        finally:
            process.terminate()
            process.wait(60)
        empty = Path(scratch) / "empty.duckdb"
        DuckDBStore(empty, summarizer=None).close()
        process, url = start_server(empty)
        try:
            rows.append(measured("sync push", process.pid, synced("push", url, local)))
        finally:
            process.terminate()
            process.wait(60)
    if not args.keep and args.db is None:
        remove(db_path)
    raw_rate = rows[0][1] / rows[0][2]
    print(f"\n{args.messages:,} messages in {args.sessions:,} sessions, loopback, one client")
    print(
        "| phase | messages | seconds | messages/s | x raw paging | server CPU s "
        "| client CPU s | CPU µs/message |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, count, spent, server_cpu, client_cpu in rows:
        rate = count / spent if spent else 0.0
        per = f"{(server_cpu + client_cpu) / count * 1e6:,.0f}" if count else ""
        print(
            f"| {name} | {count:,} | {spent:.2f} | {rate:,.0f} | {rate / raw_rate:.2f} "
            f"| {server_cpu:.1f} | {client_cpu:.1f} | {per} |"
        )
    for name, count, spent, _, _ in rows[1:]:
        if name in ("sync pull", "sync push"):
            rate = count / spent
            verdict = "met" if rate >= TARGET_MESSAGES_PER_SECOND else "missed"
            print(
                f"{name}: {rate:,.0f} messages/s (target {TARGET_MESSAGES_PER_SECOND:,}: {verdict})"
            )
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
