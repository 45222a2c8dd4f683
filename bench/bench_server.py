"""`zeptui serve` under load: concurrent clients on loopback against a big store.

    .venv/bin/python -m bench.bench_server                         # 1,000,000 messages
    .venv/bin/python -m bench.bench_server --messages 100000 --sessions 1000   # quick

One run: generate the seeded Zep JSONL of bench_store, import it into a store (or
reuse `--db`), start the server in its own process, then drive it with `--clients`
concurrent clients (one connection each) from this process: a trivial endpoint
(`/healthz`), GET memory, POST search and POST memory, each for `--requests`
requests. It prints p50 and p99 latency, throughput, and each endpoint's ratios
to the trivial endpoint measured in the same run (the load generator shares the
machine's cores with the server, so the ratios say more than the absolute times).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import selectors
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.bench_store import DATA_DIR, generate, make_queries, percentile, remove
from storage.duckdb import DuckDBStore

SERVE = """
import sys
from pathlib import Path
from storage.duckdb import DuckDBStore
from zeptui.server import ServerOptions
from zeptui.server.run import serve
path = Path(sys.argv[1])
with DuckDBStore(path) as store:
    serve(store, host="127.0.0.1", port=0, options=ServerOptions(), store_path=path,
          log_level="warning", on_start=lambda at: print(at.url, flush=True))
"""

TARGET_MEMORY_RATIO = 3.0
TARGET_POST_MESSAGES_PER_SECOND = 2_000
TARGET_SEARCH_P50_MS = 50.0

Request = Callable[[httpx.AsyncClient, random.Random], "asyncio.Future[httpx.Response]"]


@dataclass
class Phase:
    name: str
    latencies: list[float]
    seconds: float
    messages_per_request: int = 0

    def p(self, value: float) -> float:
        return percentile(self.latencies, value) * 1000

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds


async def run_phase(
    url: str, name: str, make: Request, clients: int, requests: int, seed: int, per: int = 0
) -> Phase:
    """`requests` requests from `clients` concurrent clients; every answer must be 2xx."""
    latencies: list[float] = []
    left = requests

    async def client(number: int) -> None:
        nonlocal left
        rng = random.Random(seed * 1000 + number)
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            while left > 0:
                left -= 1
                start = time.perf_counter()
                response = await make(http, rng)
                latencies.append(time.perf_counter() - start)
                if not response.is_success:
                    raise SystemExit(f"{name}: {response.status_code} {response.text[:200]}")

    started = time.perf_counter()
    await asyncio.gather(*(client(number) for number in range(clients)))
    return Phase(name, latencies, time.perf_counter() - started, per)


def start_server(db_path: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(db_path)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(120):
            process.kill()
            raise SystemExit("the server did not start")
    return process, process.stdout.readline().strip()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_server")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=3_000, help="requests per endpoint")
    parser.add_argument("--batch", type=int, default=5, help="messages per POST memory")
    parser.add_argument("--db", type=Path, default=None, help="reuse this store if it exists")
    parser.add_argument("--keep", action="store_true", help="keep the generated store")
    return parser.parse_args(argv)


def build_store(args: argparse.Namespace) -> tuple[Path, list[str], list[str]]:
    """The store (built from bench_store's seeded data unless `--db` exists), its
    session ids, and search queries from its vocabulary."""
    stem = f"zep-{args.messages}-{args.sessions}-seed{args.seed}"
    jsonl = DATA_DIR / f"{stem}.server.jsonl"
    data = generate(jsonl, args.messages, args.sessions, args.users, args.seed)
    db_path = args.db or DATA_DIR / f"{stem}.server.duckdb"
    if not db_path.exists():
        start = time.perf_counter()
        with DuckDBStore(db_path, summarizer=None) as store:
            store.import_zep_jsonl(jsonl, "bench")
        print(f"imported {data.messages:,} messages in {time.perf_counter() - start:.1f} s")
    remove(jsonl)
    data.sessions_path.unlink(missing_ok=True)
    queries = make_queries(random.Random(args.seed), data.vocabulary, 200)
    return db_path, [plan.session_id for plan in data.plans], queries


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    db_path, session_ids, queries = build_store(args)
    process, url = start_server(db_path)
    batch = args.batch

    def get(path: Callable[[random.Random], str]) -> Request:
        return lambda http, rng: http.get(path(rng))  # type: ignore[return-value]

    def post(
        path: Callable[[random.Random], str], body: Callable[[random.Random], object]
    ) -> Request:
        return lambda http, rng: http.post(path(rng), json=body(rng))  # type: ignore[return-value]

    def session(rng: random.Random) -> str:
        return "/api/v2/sessions/" + rng.choice(session_ids)

    def messages(rng: random.Random) -> object:
        return {
            "messages": [
                {"role": "bench", "role_type": "user", "content": f"load test {rng.random()}"}
                for _ in range(batch)
            ]
        }

    plan: list[tuple[str, Request, int]] = [
        ("trivial GET /healthz", get(lambda rng: "/healthz"), 0),
        ("GET memory", get(lambda rng: session(rng) + "/memory"), 0),
        (
            "POST search",
            post(lambda rng: session(rng) + "/search", lambda rng: {"text": rng.choice(queries)}),
            0,
        ),
        (
            f"POST memory ({batch} msgs)",
            post(lambda rng: session(rng) + "/memory", messages),
            batch,
        ),
    ]
    try:
        phases = [
            asyncio.run(run_phase(url, name, make, args.clients, args.requests, args.seed, per))
            for name, make, per in plan
        ]
    finally:
        process.terminate()
        process.wait(60)
        if not args.keep and args.db is None:
            remove(db_path)
    trivial = phases[0]
    print(
        f"\n{args.clients} concurrent clients, {args.requests:,} requests each, "
        f"{args.messages:,} messages in {args.sessions:,} sessions"
    )
    print(
        f"{'endpoint':28} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} "
        f"{'p50/triv':>9} {'p99/triv':>9} {'msgs/s':>8}"
    )
    for phase in phases:
        print(
            f"{phase.name:28} {phase.p(50):8.2f} {phase.p(99):8.2f} {phase.per_second:8.0f} "
            f"{phase.p(50) / trivial.p(50):9.2f} {phase.p(99) / trivial.p(99):9.2f} "
            f"{phase.per_second * phase.messages_per_request:8.0f}"
        )
    memory, search, add = phases[1], phases[2], phases[3]
    print("\ntargets:")
    print(
        f"  GET memory p50 {memory.p(50) / trivial.p(50):.2f}x, p99 "
        f"{memory.p(99) / trivial.p(99):.2f}x trivial (<= {TARGET_MEMORY_RATIO}x)"
    )
    print(
        f"  POST memory {add.per_second * batch:,.0f} messages/s "
        f"(>= {TARGET_POST_MESSAGES_PER_SECOND:,})"
    )
    print(f"  search p50 {search.p(50):.1f} ms (<= {TARGET_SEARCH_P50_MS:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
