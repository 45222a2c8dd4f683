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
Each phase's requests are planned (seeded) and encoded before its clock starts; the
clients are bench/raw_http.py's lean keep-alive connections (`--client raw`, the
default) or httpx's (`--client httpx`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import selectors
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.bench_store import (
    DATA_DIR,
    build_vocabulary,
    generate,
    make_queries,
    percentile,
    plan_sessions,
    remove,
)
from bench.raw_http import Answer, Connection, encode_request
from storage.duckdb import DuckDBStore
from storage.duckdb.memory_cache import MAX_ANSWERS, MAX_ROWS_BYTES

SERVE = """
import sys
from pathlib import Path
from storage.duckdb import DuckDBStore
from zeptui.server import ServerOptions
from zeptui.server.run import serve
path = Path(sys.argv[1])
with DuckDBStore(path, memory_cache=int(sys.argv[2]), search_cache=int(sys.argv[3])) as store:
    serve(store, host="127.0.0.1", port=0, options=ServerOptions(), store_path=path,
          log_level="warning", on_start=lambda at: print(at.url, flush=True))
"""

TARGET_MEMORY_RATIO = 3.0
TARGET_POST_MESSAGES_PER_SECOND = 2_000
TARGET_SEARCH_P50_MS = 50.0

Planned = tuple[str, str, object]
"""A request: method, path and JSON body (None: no body)."""
Plan = Callable[[random.Random], Planned]
CLIENTS = ("raw", "httpx")


@dataclass
class Phase:
    name: str
    latencies: list[float]
    seconds: float
    messages_per_request: int = 0
    server_cpu: float = 0.0
    """CPU seconds the server process used during the phase (0 where unknown)."""
    client_cpu: float = 0.0
    """CPU seconds this process (the clients) used during the phase."""

    def p(self, value: float) -> float:
        return percentile(self.latencies, value) * 1000

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def cpu_ms(self) -> float:
        """Server CPU per request: what the load on other cores does not change much."""
        return self.server_cpu / len(self.latencies) * 1000


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process so far (Linux; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_phase(
    url: str,
    name: str,
    requests: Sequence[Planned],
    clients: int,
    per: int = 0,
    server: int = 0,
    client_kind: str = "raw",
) -> Phase:
    """`requests` sent by `clients` concurrent clients, each taking the next one when
    its previous answer is read; every answer must be 2xx."""
    host = url.split("://", 1)[1]
    encoded = [encode_request(method, path, host, body) for method, path, body in requests]
    queue = iter(encoded)
    latencies: list[float] = []

    def check(status: int, text: str) -> None:
        if not 200 <= status < 300:
            raise SystemExit(f"{name}: {status} {text[:200]}")

    async def raw_client() -> None:
        connection = await Connection.open(url)
        try:
            for request in queue:
                start = time.perf_counter()
                answer: Answer = await connection.send(request)
                latencies.append(time.perf_counter() - start)
                check(answer.status, answer.text)
        finally:
            await connection.close()

    async def httpx_client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            for request in queue:
                head, _, body = request.partition(b"\r\n\r\n")
                method, path = head.split(b" ", 2)[:2]
                headers = {"content-type": "application/json"} if body else {}
                start = time.perf_counter()
                response = await http.request(
                    method.decode(), path.decode(), content=body or None, headers=headers
                )
                latencies.append(time.perf_counter() - start)
                check(response.status_code, response.text)

    client = raw_client if client_kind == "raw" else httpx_client
    started, cpu, own = time.perf_counter(), cpu_seconds(server), time.process_time()
    await asyncio.gather(*(client() for _ in range(clients)))
    seconds = time.perf_counter() - started
    return Phase(
        name, latencies, seconds, per, cpu_seconds(server) - cpu, time.process_time() - own
    )


def start_server(
    db_path: Path, memory_cache: int = MAX_ANSWERS, search_cache: int = MAX_ROWS_BYTES
) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(db_path), str(memory_cache), str(search_cache)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 600  # opening an older store migrates it first
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        # DuckDB may draw a progress bar (a migration) before the URL line.
        while selector.select(max(deadline - time.monotonic(), 0)):
            line = process.stdout.readline()
            if "http://" in line:
                return process, line[line.index("http://") :].strip()
            if not line:
                break
    process.kill()
    raise SystemExit("the server did not start")


def store_parser(prog: str, messages: int, sessions: int, users: int) -> argparse.ArgumentParser:
    """A bench's parser with the options `build_store` reads: the seeded store's shape
    (these defaults), its seed, `--db` to reuse one and `--keep`."""
    parser = argparse.ArgumentParser(prog=f"python -m {prog}")
    parser.add_argument("--messages", type=int, default=messages)
    parser.add_argument("--sessions", type=int, default=sessions)
    parser.add_argument("--users", type=int, default=users)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", type=Path, default=None, help="reuse this store if it exists")
    parser.add_argument("--keep", action="store_true", help="keep the generated store")
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = store_parser("bench.bench_server", 1_000_000, 10_000, 1_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=3_000, help="requests per endpoint")
    parser.add_argument("--batch", type=int, default=5, help="messages per POST memory")
    parser.add_argument(
        "--client",
        choices=CLIENTS,
        default="raw",
        help="the load generator: lean keep-alive connections (raw, the default) or httpx",
    )
    parser.add_argument(
        "--active",
        type=int,
        default=0,
        help="sessions the requests go to, chosen at random (default 0: all, uniformly)",
    )
    parser.add_argument(
        "--memory-cache",
        type=int,
        default=MAX_ANSWERS,
        help=f"the store's memory cache, in answers (default {MAX_ANSWERS}; 0: off)",
    )
    parser.add_argument(
        "--search-cache",
        type=int,
        default=MAX_ROWS_BYTES // 2**20,
        help="the search rows the memory cache keeps, in MiB "
        f"(default {MAX_ROWS_BYTES // 2**20}; 0: none)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        choices=("memory", "search", "add"),
        default=[],
        help="leave out GET memory, POST search or POST memory (repeatable)",
    )
    return parser.parse_args(argv)


def build_store(args: argparse.Namespace) -> tuple[Path, list[str], list[str]]:
    """The store (built from bench_store's seeded data unless `--db` exists), its
    session ids, and search queries from its vocabulary."""
    stem = f"zep-{args.messages}-{args.sessions}-seed{args.seed}"
    db_path = args.db or DATA_DIR / f"{stem}.server.duckdb"
    if db_path.exists():  # the same plan as `generate`, without writing the data again
        rng = random.Random(args.seed)
        vocabulary = build_vocabulary(rng)
        plans = plan_sessions(rng, args.messages, args.sessions, args.users)
    else:
        jsonl = DATA_DIR / f"{stem}.server.jsonl"
        data = generate(jsonl, args.messages, args.sessions, args.users, args.seed)
        start = time.perf_counter()
        # Summarised as `zeptui import` leaves a store: otherwise the first POST to
        # each session would make the server summarise its whole history.
        with DuckDBStore(db_path, defer_summaries=True) as store:
            store.import_zep_jsonl(jsonl, "bench")
            imported = time.perf_counter() - start
        print(
            f"imported {data.messages:,} messages in {imported:.1f} s, summarised in "
            f"{time.perf_counter() - start - imported:.1f} s"
        )
        remove(jsonl)
        data.sessions_path.unlink(missing_ok=True)
        vocabulary, plans = data.vocabulary, data.plans
    queries = make_queries(random.Random(args.seed), vocabulary, 200)
    return db_path, [plan.session_id for plan in plans], queries


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    db_path, session_ids, queries = build_store(args)
    started = time.perf_counter()
    process, url = start_server(db_path, args.memory_cache, args.search_cache * 2**20)
    started = time.perf_counter() - started
    if args.active:  # the sessions in use: one conversation per client, say
        session_ids = random.Random(args.seed).sample(session_ids, args.active)
    batch = args.batch

    def session(rng: random.Random) -> str:
        return "/api/v2/sessions/" + rng.choice(session_ids)

    def messages(rng: random.Random) -> object:
        return {
            "messages": [
                {"role": "bench", "role_type": "user", "content": f"load test {rng.random()}"}
                for _ in range(batch)
            ]
        }

    plan: list[tuple[str, Plan, int]] = [
        ("trivial GET /healthz", lambda rng: ("GET", "/healthz", None), 0),
        ("GET memory", lambda rng: ("GET", session(rng) + "/memory", None), 0),
        (
            "POST search",
            lambda rng: ("POST", session(rng) + "/search", {"text": rng.choice(queries)}),
            0,
        ),
        (
            f"POST memory ({batch} msgs)",
            lambda rng: ("POST", session(rng) + "/memory", messages(rng)),
            batch,
        ),
    ]
    skipped = {"memory": "GET memory", "search": "POST search", "add": plan[3][0]}
    plan = [step for step in plan if step[0] not in {skipped[name] for name in args.skip}]
    load_before = os.getloadavg()[0]
    try:
        phases = {
            name: asyncio.run(
                run_phase(
                    url,
                    name,
                    planned(make, args.requests, args.seed),
                    args.clients,
                    per,
                    process.pid,
                    args.client,
                )
            )
            for name, make, per in plan
        }
    finally:
        process.terminate()
        process.wait(60)
        if not args.keep and args.db is None:
            remove(db_path)
    print(
        f"\n{args.clients} concurrent {args.client} clients, {args.requests:,} requests each, "
        f"{args.messages:,} messages in {args.sessions:,} sessions, requests to "
        f"{len(session_ids):,} of them, memory cache {args.memory_cache:,} answers and "
        f"{args.search_cache:,} MiB of search rows (server ready in {started:.1f} s); load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after (2 cores: over 2 means "
        "other work shared them)"
    )
    print_results(list(phases.values()), batch)
    return 0


def planned(make: Plan, requests: int, seed: int) -> list[Planned]:
    """A phase's `requests` requests, the same for a seed whichever client sends them."""
    rng = random.Random(seed)
    return [make(rng) for _ in range(requests)]


def print_results(phases: list[Phase], batch: int) -> None:
    """The table (ratios to the trivial endpoint, the first phase) and each target."""
    trivial = phases[0]
    print(
        f"{'endpoint':28} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} "
        f"{'p50/triv':>9} {'p99/triv':>9} {'msgs/s':>8} {'cpu ms':>7} {'cpu/triv':>9} "
        f"{'client ms':>9}"
    )
    for phase in phases:
        print(
            f"{phase.name:28} {phase.p(50):8.2f} {phase.p(99):8.2f} {phase.per_second:8.0f} "
            f"{phase.p(50) / trivial.p(50):9.2f} {phase.p(99) / trivial.p(99):9.2f} "
            f"{phase.per_second * phase.messages_per_request:8.0f} {phase.cpu_ms:7.2f} "
            f"{phase.cpu_ms / max(trivial.cpu_ms, 1e-9):9.2f} "
            f"{phase.client_cpu / len(phase.latencies) * 1000:9.2f}"
        )
    by_name = {phase.name.split(" (")[0]: phase for phase in phases}
    print("\ntargets:")
    if "GET memory" in by_name:
        memory = by_name["GET memory"]
        p50, p99 = memory.p(50) / trivial.p(50), memory.p(99) / trivial.p(99)
        print(
            f"  {verdict(p50 <= TARGET_MEMORY_RATIO and p99 <= TARGET_MEMORY_RATIO)} GET memory "
            f"p50 {p50:.2f}x, p99 {p99:.2f}x trivial (<= {TARGET_MEMORY_RATIO}x)"
        )
    if "POST memory" in by_name:
        rate = by_name["POST memory"].per_second * batch
        print(
            f"  {verdict(rate >= TARGET_POST_MESSAGES_PER_SECOND)} POST memory "
            f"{rate:,.0f} messages/s (>= {TARGET_POST_MESSAGES_PER_SECOND:,})"
        )
    if "POST search" in by_name:
        search = by_name["POST search"].p(50)
        print(
            f"  {verdict(search <= TARGET_SEARCH_P50_MS)} search p50 {search:.1f} ms "
            f"(<= {TARGET_SEARCH_P50_MS:.0f} ms)"
        )


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


if __name__ == "__main__":
    sys.exit(main())
