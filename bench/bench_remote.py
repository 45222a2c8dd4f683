"""RemoteStore.get_memory against `zeptui serve`, next to the server's own GET memory.

    .venv/bin/python -m bench.bench_remote                                   # 100,000 messages
    .venv/bin/python -m bench.bench_remote --messages 20000 --sessions 200   # quick

One run: bench_server's seeded store (or `--db`), the server in its own process, then
`--requests` sequential requests from one client over one keep-alive connection, in
pairs on the same random session: the raw `GET /api/v2/sessions/{id}/memory` with
httpx (bytes only), and `RemoteStore.get_memory(id)` (the same request, answered as
a `Memory`). It prints p50 and p99 of each and their ratio; the target (issue 13) is
RemoteStore within 2x of the raw request. Pairs alternate which goes first, so load
from elsewhere on the machine falls on both alike.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence

import httpx

from bench.bench_server import build_store, start_server, store_parser
from bench.bench_store import percentile, remove
from zeptui.remote import open_remote
from zeptui.remote.client import encode_id

TARGET_RATIO = 2.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = store_parser("bench.bench_remote", 100_000, 1_000, 100)
    parser.add_argument("--requests", type=int, default=1_000, help="pairs of requests")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    db_path, session_ids, _queries = build_store(args)
    process, url = start_server(db_path)
    raw: list[float] = []
    remote: list[float] = []
    try:
        rng = random.Random(args.seed)
        with httpx.Client(base_url=url) as http, open_remote(url) as store:
            for number in range(args.requests):
                session_id = rng.choice(session_ids)
                path = f"/api/v2/sessions/{encode_id(session_id, 'v2')}/memory"

                def by_hand(session_id: str = session_id, path: str = path) -> None:
                    start = time.perf_counter()
                    http.get(path).raise_for_status()
                    raw.append(time.perf_counter() - start)

                def through_store(session_id: str = session_id) -> None:
                    start = time.perf_counter()
                    store.get_memory(session_id)
                    remote.append(time.perf_counter() - start)

                first, second = (by_hand, through_store) if number % 2 else (through_store, by_hand)
                first()
                second()
    finally:
        process.terminate()
        process.wait(60)
        if not args.keep and args.db is None:
            remove(db_path)
    print(
        f"\n{args.requests:,} pairs, one client, {args.messages:,} messages in "
        f"{args.sessions:,} sessions"
    )
    print("| request | p50 ms | p99 ms |")
    print("|---|---:|---:|")
    for name, times in (("raw GET memory (httpx)", raw), ("RemoteStore.get_memory", remote)):
        print(
            f"| {name} | {percentile(times, 50) * 1000:.2f} | {percentile(times, 99) * 1000:.2f} |"
        )
    ratio = percentile(remote, 50) / percentile(raw, 50)
    verdict = "met" if ratio <= TARGET_RATIO else "missed"
    print(f"\nRemoteStore / raw, p50: {ratio:.2f}x (target {TARGET_RATIO:g}x: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
