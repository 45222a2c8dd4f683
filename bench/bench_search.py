"""One search at a time, on a big store: where the time of each kind of search goes.

    .venv/bin/python -m bench.bench_search --db STORE.duckdb     # a store bench_store made

Runs each kind of search the API and the CLI ask for (one session's messages, its
summaries, with MMR, with a metadata filter, metadata only, and across every session)
`--searches` times with bench_store's seeded queries, and prints wall-clock and
process-CPU milliseconds per search (p50 and p95). CPU is what decides latency under
load: with 32 concurrent clients on 2 cores, a search's p50 is about 16 times its CPU
time (bench_server measures that). The first pass fills the store's caches of document
frequencies and is not counted.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.bench_store import build_vocabulary, make_queries, percentile
from storage.duckdb import DuckDBStore
from storage.metadata_filter import parse_jsonpath
from storage.models import SearchQuery, SearchScope


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_search")
    parser.add_argument("--db", type=Path, required=True, help="a store bench_store made")
    parser.add_argument("--searches", type=int, default=200, help="searches of each kind")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


def kinds(
    sessions: list[str], queries: list[str]
) -> list[tuple[str, Callable[[random.Random], SearchQuery]]]:
    """(name, make a query) for each kind of search."""

    def session(rng: random.Random, **options: object) -> SearchQuery:
        text = rng.choice(queries)
        return SearchQuery(text=text, session_id=rng.choice(sessions), **options)  # type: ignore[arg-type]

    tagged = parse_jsonpath('$ ? (@.channel == "web" || @.sentiment != null)')
    return [
        ("one session's messages", session),
        ("one session's summaries", lambda rng: session(rng, scope=SearchScope.summary)),
        ("one session, MMR 0.5", lambda rng: session(rng, mmr_lambda=0.5)),
        ("one session, where filter", lambda rng: session(rng, where=tagged)),
        (
            "one session, metadata only",
            lambda rng: SearchQuery(where=tagged, session_id=rng.choice(sessions)),
        ),
        ("every session", lambda rng: SearchQuery(text=rng.choice(queries))),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.db.exists():
        raise SystemExit(f"{args.db} does not exist: make one with bench.bench_store --keep")
    queries = make_queries(
        random.Random(args.seed), build_vocabulary(random.Random(args.seed)), 200
    )
    with DuckDBStore(args.db, summarizer=None) as store:
        sessions = [info.session.session_id for info in store.session_page().sessions]
        print(f"{args.db}: {store.stats().messages:,} messages, {args.searches} searches each")
        print(f"{'search':28} {'wall p50':>9} {'p95':>7} {'CPU p50':>8} {'p95':>7}  (ms)")
        for name, make in kinds(sessions, queries):
            warm = random.Random(args.seed)  # the same searches, to fill the caches
            for _ in range(args.searches):
                store.search(make(warm))
            rng = random.Random(args.seed)
            wall: list[float] = []
            cpu: list[float] = []
            for _ in range(args.searches):
                query = make(rng)
                started, used = time.perf_counter(), time.process_time()
                store.search(query)
                wall.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - used) * 1000)
            print(
                f"{name:28} {percentile(wall, 50):9.2f} {percentile(wall, 95):7.2f} "
                f"{percentile(cpu, 50):8.2f} {percentile(cpu, 95):7.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
