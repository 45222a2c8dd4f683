"""End-to-end benchmark of `DuckDBStore` on seeded, Zep-shaped data.

    .venv/bin/python -m bench.bench_store                    # 1,000,000 msgs / 10,000 sessions
    .venv/bin/python -m bench.bench_store --messages 20000 --sessions 200      # quick check
    .venv/bin/python -m bench.bench_store --messages 100000 --sessions 1000 --profile import.prof

One run: generate a Zep JSONL file (one message per line) under `bench/data/`,
measure the baselines (DuckDB's own `read_json` of the file; tiktoken's own
batch encoding of every message's "role: content"), bulk-import the file into a
fresh store, then time the read paths (memory, session pages, search, one very
long session) and print a table against the targets. Everything is
deterministic for a given `--seed`. Generated files are deleted unless `--keep`.

With `--profile FILE` the run stops after the import, which runs under cProfile
(stats written to FILE), and prints the top functions and the time spent per
SQL statement of the store.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import math
import os
import platform
import pstats
import random
import re
import resource
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import duckdb

from storage.duckdb import DuckDBStore
from storage.duckdb.terms import STOPWORDS
from storage.models import (
    MemoryType,
    Message,
    RoleType,
    SearchQuery,
    SessionImport,
    SessionOrder,
    SessionQuery,
)
from storage.tokens import count_tokens_batch, encoding, message_text

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / "data"

BENCH_NAMESPACE = uuid.UUID("6f1d2b0e-3c1a-5e7b-9a4d-8c2e0f7b1a93")
YEAR_START = datetime(2024, 1, 1)
VOCABULARY_SIZE = 4_000
ZIPF_EXPONENT = 1.05

# Targets (see bench/README.md).
TARGET_MEMORY_MS = 5.0
TARGET_PAGE_MS = 20.0
TARGET_SEARCH_MS = 300.0
TARGET_IMPORT_RATIO = 2.0
TARGET_TOKENS_RATIO = 1.2

READ_JSON_COLUMNS = (
    "{session_id: 'VARCHAR', user_id: 'VARCHAR', uuid: 'UUID', created_at: 'TIMESTAMP', "
    "role: 'VARCHAR', role_type: 'VARCHAR', content: 'VARCHAR', metadata: 'JSON'}"
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# The head of the word distribution: everyday chat and support words (stopwords
# included, as in real text; the search index drops those).
COMMON_WORDS = _words(
    """
the to and i you a it is that of for my in this can be have on with your not
do we me but was so what if just are at get need how please thanks know would
like about there help order account one when will now time they or could up
out all any did from want see here make sure again still also yes no then back
only email password reset login app update payment card refund invoice billing
plan subscription upgrade cancel shipping delivery address tracking package
error issue problem working phone number code verify settings support team
question answer today tomorrow week month days hours minutes change new old
free premium price charge charged money store product item size color return
exchange available stock message chat agent ticket status pending confirmed
"""
)

SYLLABLES = _words(
    "ka lo mi ren tor vel an is or un ex pro tra ber sion ment ly ing er ed qui "
    "zar nel dos fen gri hal jum kel mor nup pli ros sta tum vin wex yol zu bra "
    "cor dit emb fal gos hin ix jor lum mav nor oct pex rul sim tav ulm vor"
)

FIRST_NAMES = _words(
    "Maya Liam Noah Emma Olivia Ava Sophia Lucas Mia Ethan Amelia Mateo Aria Leo "
    "Chloe Omar Priya Kenji Fatima Lars Ines Tomas Zoe Ivan Hana Diego Nora Yusuf "
    "Elif Arjun Sara Felix Lena Hugo Alma Ravi Ana Jonas Mei Kofi"
)
ASSISTANTS = {
    "web": "Aria",
    "ios": "Aria",
    "android": "Aria",
    "slack": "HelpBot",
    "email": "Support",
}
CHANNELS = ("web", "web", "web", "ios", "android", "slack", "email")
TIERS = ("free", "free", "free", "pro", "pro", "enterprise")
REGIONS = ("eu", "us", "us", "apac", "latam")
LOCALES = ("en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "ja-JP")
MODELS = ("gpt-4o-mini", "gpt-4o", "claude-3-haiku", "llama-3-70b")


# --- data generation ----------------------------------------------------------------


def build_vocabulary(rng: random.Random, size: int = VOCABULARY_SIZE) -> list[str]:
    """COMMON_WORDS first (the Zipf head), then distinct pseudo-words."""
    words = list(dict.fromkeys(COMMON_WORDS))
    seen = set(words)
    while len(words) < size:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if len(word) > 3 and word not in seen:
            seen.add(word)
            words.append(word)
    return words


def zipf_cum_weights(size: int, exponent: float = ZIPF_EXPONENT) -> list[float]:
    total = 0.0
    cum: list[float] = []
    for rank in range(1, size + 1):
        total += 1.0 / rank**exponent
        cum.append(total)
    return cum


class TextMaker:
    """Message contents: Zipf-distributed words in sentences, 5-120 words."""

    USER_WORDS = (5, 60, 10)
    """Words in a user message: triangular (low, high, mode)."""
    ASSISTANT_WORDS = (10, 121, 40)
    SENTENCE_WORDS = (5, 16)
    ORDER_NUMBERS = 0.08
    """The share of messages with an order number: a unique, searchable term."""

    def __init__(self, rng: random.Random, vocabulary: list[str]) -> None:
        self.rng = rng
        self.vocabulary = vocabulary
        self.cum = zipf_cum_weights(len(vocabulary))

    def content(self, role_type: RoleType) -> str:
        rng = self.rng
        low, high, mode = self.USER_WORDS if role_type is RoleType.user else self.ASSISTANT_WORDS
        words = rng.choices(
            self.vocabulary, cum_weights=self.cum, k=int(rng.triangular(low, high, mode))
        )
        if rng.random() < self.ORDER_NUMBERS:
            words.insert(rng.randrange(len(words)), f"#{rng.randint(100_000, 999_999)}")
        sentences: list[str] = []
        start = 0
        while start < len(words):
            end = min(len(words), start + rng.randint(*self.SENTENCE_WORDS))
            mark = "?" if rng.random() < 0.2 else "."
            sentences.append(" ".join(words[start:end]).capitalize() + mark)
            start = end
        return " ".join(sentences)

    def metadata(self, role_type: RoleType, turn: int) -> dict[str, Any] | None:
        rng = self.rng
        if role_type is RoleType.user:
            if rng.random() < 0.35:
                return {
                    "client": rng.choice(("web", "ios", "android")),
                    "lang": rng.choice(("en", "en", "en", "de", "fr", "es")),
                    "turn": turn,
                }
            return None
        if rng.random() < 0.5:
            meta: dict[str, Any] = {
                "model": rng.choice(MODELS),
                "latency_ms": rng.randint(80, 4_000),
            }
            if rng.random() < 0.1:
                meta["feedback"] = {"rating": rng.randint(1, 5), "flagged": rng.random() < 0.1}
            return meta
        return None


@dataclass(frozen=True)
class SessionPlan:
    session_id: str
    user_id: str
    speaker: str
    assistant: str
    metadata: dict[str, Any]
    messages: int
    start: datetime


def plan_sessions(
    rng: random.Random, messages: int, sessions: int, users: int
) -> list[SessionPlan]:
    """Sessions with log-normally varied message counts summing to exactly `messages`."""
    if messages < sessions:
        raise SystemExit("--messages must be at least --sessions")
    weights = [rng.lognormvariate(0.0, 0.8) for _ in range(sessions)]
    scale = messages / sum(weights)
    counts = [max(1, int(weight * scale)) for weight in weights]
    missing = messages - sum(counts)
    while missing:
        index = rng.randrange(sessions)
        if missing > 0:
            counts[index] += 1
            missing -= 1
        elif counts[index] > 1:
            counts[index] -= 1
            missing += 1
    user_weights = [1.0 / (rank + 1) ** 0.7 for rank in range(users)]
    owners = rng.choices(range(users), weights=user_weights, k=sessions)
    plans: list[SessionPlan] = []
    for index in range(sessions):
        channel = rng.choice(CHANNELS)
        owner = owners[index]
        metadata = {
            "channel": channel,
            "tier": rng.choice(TIERS),
            "locale": rng.choice(LOCALES),
            "account": {"region": rng.choice(REGIONS), "seats": rng.randint(1, 500)},
        }
        plans.append(
            SessionPlan(
                session_id=f"sess-{index:06d}",
                user_id=f"user-{owner:05d}",
                speaker=FIRST_NAMES[owner % len(FIRST_NAMES)],
                assistant=ASSISTANTS[channel],
                metadata=metadata,
                messages=counts[index],
                start=YEAR_START + timedelta(seconds=rng.uniform(0, 355 * 86_400)),
            )
        )
    return plans


def format_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def session_messages(
    plan: SessionPlan, maker: TextMaker, namespace: uuid.UUID
) -> Iterator[dict[str, Any]]:
    """A session's messages as Zep v2 JSONL records, alternating user / assistant."""
    rng = maker.rng
    when = plan.start
    for index in range(plan.messages):
        role_type = RoleType.user if index % 2 == 0 else RoleType.assistant
        when += timedelta(seconds=rng.uniform(2.0, 240.0))
        if rng.random() < 0.01:  # the user comes back later
            when += timedelta(hours=rng.uniform(1.0, 72.0))
        yield {
            "session_id": plan.session_id,
            "user_id": plan.user_id,
            "uuid": str(uuid.uuid5(namespace, f"{plan.session_id}/{index}")),
            "created_at": format_time(when),
            "role": plan.speaker if role_type is RoleType.user else plan.assistant,
            "role_type": role_type.value,
            "content": maker.content(role_type),
            "metadata": maker.metadata(role_type, index // 2),
        }


@dataclass
class Dataset:
    path: Path
    sessions_path: Path
    plans: list[SessionPlan]
    vocabulary: list[str]
    maker: TextMaker
    namespace: uuid.UUID
    messages: int
    bytes: int


def generate(path: Path, messages: int, sessions: int, users: int, seed: int) -> Dataset:
    """Write the JSONL (streamed) and a sidecar with each session's metadata."""
    rng = random.Random(seed)
    vocabulary = build_vocabulary(rng)
    plans = plan_sessions(rng, messages, sessions, users)
    maker = TextMaker(rng, vocabulary)
    namespace = uuid.uuid5(BENCH_NAMESPACE, f"seed-{seed}")
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("w", encoding="utf-8", buffering=1 << 20) as file:
        for plan in plans:
            for record in session_messages(plan, maker, namespace):
                file.write(json.dumps(record, ensure_ascii=False))
                file.write("\n")
                written += 1
    sessions_path = path.with_suffix(".sessions.jsonl")
    with sessions_path.open("w", encoding="utf-8") as file:
        for plan in plans:
            record = {
                "session_id": plan.session_id,
                "user_id": plan.user_id,
                "metadata": plan.metadata,
            }
            file.write(json.dumps(record) + "\n")
    return Dataset(
        path, sessions_path, plans, vocabulary, maker, namespace, written, path.stat().st_size
    )


# --- reading the JSONL into SessionImports ------------------------------------------


def read_zep_jsonl_minimal(path: Path) -> Iterator[SessionImport]:
    """A minimal Zep v2 JSONL reader (consecutive lines of a session form one session)."""
    pending: SessionImport | None = None
    with path.open("rb") as file:
        for raw in file:
            if not raw.strip():
                continue
            record = json.loads(raw)
            session_id = record["session_id"]
            if pending is not None and pending.session_id != session_id:
                yield pending
                pending = None
            if pending is None:
                pending = SessionImport(session_id=session_id, user_id=record.get("user_id"))
            created = record.get("created_at")
            pending.messages.append(
                Message(
                    uuid=record.get("uuid"),
                    created_at=datetime.fromisoformat(created) if created else None,
                    role=record.get("role") or "",
                    role_type=record.get("role_type") or None,
                    content=record["content"],
                    metadata=record.get("metadata"),
                )
            )
    if pending is not None:
        yield pending


def session_reader(kind: str) -> tuple[str, Callable[[Path], Iterator[SessionImport]]]:
    """The Zep JSONL reader: zeptui's importer when available (kind "auto"/"zeptui")."""
    if kind in ("auto", "zeptui"):
        try:
            from zeptui.importers import get_importer

            importer = get_importer("zep")
        except (ImportError, ValueError):
            if kind == "zeptui":
                raise
        else:
            return "zeptui.importers.zep", importer.read
    return "bench minimal reader", read_zep_jsonl_minimal


def with_session_metadata(
    sessions: Iterable[SessionImport], metadata: dict[str, dict[str, Any]]
) -> Iterator[SessionImport]:
    """Attach the sidecar's session metadata (message-per-line JSONL cannot carry it)."""
    for item in sessions:
        item.metadata = metadata.get(item.session_id)
        yield item


# --- measuring ------------------------------------------------------------------------


@dataclass
class Row:
    metric: str
    value: str
    target: str = ""
    verdict: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)

    def section(self, title: str) -> None:
        self.rows.append(Row(f"[{title}]", ""))

    def info(self, metric: str, value: str) -> None:
        self.rows.append(Row(metric, value))
        print(f"  {metric}: {value}", flush=True)

    def ms(self, metric: str, value: float, target: float | None = None) -> None:
        if target is None:
            self.info(metric, f"{value:.2f} ms")
            return
        self.check(metric, f"{value:.2f} ms", value / target, f"<= {target:g} ms")

    def check(self, metric: str, value: str, ratio: float, target: str) -> None:
        passed = ratio <= 1.0
        verdict = f"{'PASS' if passed else 'FAIL'} ({ratio:.2f}x target)"
        if not passed:
            self.misses.append(metric)
        self.rows.append(Row(metric, value, target, verdict))
        print(f"  {metric}: {value} (target {target}) {verdict}", flush=True)

    def render(self) -> str:
        headers = ("metric", "value", "target", "ratio/pass")
        table = [headers, *((r.metric, r.value, r.target, r.verdict) for r in self.rows)]
        widths = [max(len(row[i]) for row in table) for i in range(4)]
        lines = []
        for number, row in enumerate(table):
            lines.append(
                "  ".join(
                    cell.ljust(width) for cell, width in zip(row, widths, strict=True)
                ).rstrip()
            )
            if number == 0:
                lines.append("  ".join("-" * width for width in widths))
        return "\n".join(lines)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def time_calls(calls: Sequence[Callable[[], object]], warmup: int = 3) -> list[float]:
    """Milliseconds per call (after running the first `warmup` calls untimed)."""
    for call in calls[:warmup]:
        call()
    samples: list[float] = []
    for call in calls:
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def machine_description() -> list[str]:
    cpu = platform.processor() or "unknown CPU"
    memory = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
                break
    except OSError:
        pass
    import tiktoken  # only for its version

    return [
        f"date      {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"cpu       {cpu}, {os.cpu_count()} cores",
        f"ram       {memory}",
        f"os        {platform.system()} {platform.release()}",
        f"python    {platform.python_version()} ({sys.executable})",
        f"duckdb    {duckdb.__version__}, tiktoken {tiktoken.__version__}",
        f"code      {code_fingerprint()}",
    ]


def bench_read_json(path: Path, repeat: int = 3) -> tuple[float, float]:
    """Seconds for DuckDB to read the file with every column materialised (best of
    `repeat`, each on a fresh in-memory connection), and for a CREATE TABLE AS."""
    literal = "'" + str(path).replace("'", "''") + "'"
    source = f"read_json({literal}, format='newline_delimited', columns={READ_JSON_COLUMNS})"
    aggregate = (
        "SELECT count(*), sum(length(content)), sum(length(role)), sum(length(session_id)), "
        "sum(length(user_id)), count(DISTINCT role_type), count(uuid), min(created_at), "
        f"max(created_at), sum(length(metadata::VARCHAR)) FROM {source}"
    )
    best = math.inf
    for _ in range(repeat):
        con = duckdb.connect(":memory:")
        start = time.perf_counter()
        con.execute(aggregate).fetchall()
        best = min(best, time.perf_counter() - start)
        con.close()
    con = duckdb.connect(":memory:")
    start = time.perf_counter()
    con.execute(f"CREATE TABLE messages AS SELECT * FROM {source}")
    ctas = time.perf_counter() - start
    con.close()
    return best, ctas


@dataclass
class FileImport:
    name: str
    seconds: float
    messages: int
    laps: dict[str, float]


def bench_import_file(path: Path, db_path: Path) -> FileImport | None:
    """`zeptui.importers.import_file` into a fresh store: what `zeptui import` does
    (the importer's bulk path when it offers one, DuckDB's memory capped as the CLI
    caps it). Session metadata is not in the file, so this store is only timed,
    then deleted."""
    try:
        from zeptui.importers import detect_importer, import_file
        from zeptui.services.imports import IMPORT_MEMORY_LIMIT
    except ImportError:
        return None
    remove(db_path)
    store = DuckDBStore(db_path, summarizer=None, memory_limit=IMPORT_MEMORY_LIMIT)
    try:
        importer = detect_importer(path)
        start = time.perf_counter()
        result = import_file(store, path, importer).result
        seconds = time.perf_counter() - start
        laps: dict[str, float] = dict(getattr(store, "last_import_timings", None) or {})
    finally:
        store.close()
        remove(db_path)
    used = "bulk path" if laps else "no bulk path: import_sessions"
    print(f"  import_file: {seconds:.2f} s ({used}); {result}")
    return FileImport(f"import_file ({used})", seconds, result.messages_added, laps)


def code_fingerprint() -> str:
    """A short hash of the code under test (the store and the importers)."""
    root = BENCH_DIR.parent
    files = sorted([*root.glob("storage/*.py"), *root.glob("zeptui/importers/*.py")])
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    newest = max(file.stat().st_mtime for file in files)
    changed = datetime.fromtimestamp(newest, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"storage/ + zeptui/importers/ sha256 {digest.hexdigest()[:12]} (newest edit {changed})"


def load_texts(path: Path) -> list[str]:
    texts: list[str] = []
    with path.open("rb") as file:
        for raw in file:
            record = json.loads(raw)
            texts.append(message_text(record["role"], record["content"]))
    return texts


def tiktoken_batch(texts: list[str]) -> int:
    threads = os.cpu_count() or 1
    encoded: list[list[int]] = encoding().encode_ordinary_batch(texts, num_threads=threads)
    return sum(len(tokens) for tokens in encoded)


def tiktoken_chunked(texts: list[str]) -> int:
    """One slice of the texts per core, each encoded in a plain loop (tiktoken's
    Rust core releases the GIL): what the store could do instead of one task per text."""
    threads = os.cpu_count() or 1
    encode: Callable[[str], list[int]] = encoding().encode_ordinary
    size = math.ceil(len(texts) / threads)

    def count(part: list[str]) -> int:
        return sum(len(encode(text)) for text in part)

    with ThreadPoolExecutor(threads) as pool:
        parts = [texts[i : i + size] for i in range(0, len(texts), size)]
        return sum(pool.map(count, parts))


def bench_tokens(path: Path, repeat: int = 2) -> tuple[float, int, float, float]:
    """Seconds (best of `repeat`) for tiktoken's batch, the store's batch and the
    slice-per-core variant over every message's "role: content"; and the token total."""
    texts = load_texts(path)
    tiktoken_batch(texts[:1_000])  # warm up
    tik, tik_total = best_time(lambda: tiktoken_batch(texts), repeat)
    ours, ours_total = best_time(lambda: sum(count_tokens_batch(texts)), repeat)
    chunked, chunked_total = best_time(lambda: tiktoken_chunked(texts), repeat)
    assert tik_total == ours_total == chunked_total, (tik_total, ours_total, chunked_total)
    return tik, tik_total, ours, chunked


def best_time(function: Callable[[], int], repeat: int) -> tuple[float, int]:
    best, value = math.inf, 0
    for _ in range(repeat):
        start = time.perf_counter()
        value = function()
        best = min(best, time.perf_counter() - start)
    return best, value


def query_words(vocabulary: list[str]) -> tuple[list[str], list[str], list[str]]:
    """Search terms by frequency band: common, middling, rare (stopwords left out)."""
    stop = set(STOPWORDS)
    usable = [(rank, word) for rank, word in enumerate(vocabulary) if word not in stop]
    common = [word for rank, word in usable if rank < 150]
    middle = [word for rank, word in usable if 150 <= rank < 1_000]
    rare = [word for rank, word in usable if rank >= 1_000]
    return common, middle, rare


def make_queries(rng: random.Random, vocabulary: list[str], count: int) -> list[str]:
    common, middle, rare = query_words(vocabulary)
    queries: list[str] = []
    for _ in range(count):
        words = []
        for _ in range(rng.randint(1, 3)):
            band = rng.choices((common, middle, rare), weights=(4, 3, 3))[0]
            words.append(rng.choice(band))
        queries.append(" ".join(words))
    return queries


# --- SQL statement timing for --profile ----------------------------------------------


class TimedCursor:
    """Wraps a DuckDB cursor and adds each statement's time (execute + fetch) to `stats`."""

    def __init__(self, inner: duckdb.DuckDBPyConnection, stats: dict[str, list[float]]) -> None:
        self._inner = inner
        self._stats = stats
        self._last = "?"

    def _add(self, key: str, seconds: float) -> None:
        entry = self._stats[key]
        entry[0] += 1
        entry[1] += seconds

    def execute(self, sql: str, parameters: object = None) -> TimedCursor:
        key = re.sub(r"\s+", " ", sql).strip()[:110]
        self._last = key
        start = time.perf_counter()
        if parameters is None:
            self._inner.execute(sql)
        else:
            self._inner.execute(sql, parameters)
        self._add(key, time.perf_counter() - start)
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        start = time.perf_counter()
        row = self._inner.fetchone()
        self._stats[self._last][1] += time.perf_counter() - start
        return row

    def fetchall(self) -> list[tuple[Any, ...]]:
        start = time.perf_counter()
        rows = self._inner.fetchall()
        self._stats[self._last][1] += time.perf_counter() - start
        return rows

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def install_sql_timer(store: DuckDBStore) -> dict[str, list[float]]:
    """Route the store's (main-thread) cursor through TimedCursor. Benchmark-only."""
    stats: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    timed = TimedCursor(store._db.cursor(), stats)
    vars(store._db)["cursor"] = lambda: timed
    return stats


def print_profile(profile: cProfile.Profile, stats_path: Path, wall: float) -> None:
    profile.dump_stats(str(stats_path))
    for order, limit in (("tottime", 25), ("cumulative", 30)):
        buffer = io.StringIO()
        pstats.Stats(profile, stream=buffer).strip_dirs().sort_stats(order).print_stats(limit)
        print(f"\n== cProfile: top {limit} by {order} (import wall {wall:.1f} s) ==")
        print(buffer.getvalue())


def print_sql_stats(stats: dict[str, list[float]], wall: float) -> None:
    print(f"\n== SQL statements during the import (wall {wall:.1f} s) ==")
    print(f"{'calls':>8} {'seconds':>9} {'share':>6}  statement")
    for key, (calls, seconds) in sorted(stats.items(), key=lambda item: -item[1][1])[:20]:
        print(f"{int(calls):>8} {seconds:>9.2f} {seconds / wall:>6.1%}  {key}")
    total = sum(seconds for _, seconds in stats.values())
    print(f"{'':>8} {total:>9.2f} {total / wall:>6.1%}  (all SQL)")


# --- the run ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_store", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--big-messages",
        type=int,
        default=None,
        help="messages in the one extra long session (default: min(100000, --messages))",
    )
    parser.add_argument("--db", type=Path, default=None, help="store file (default bench/data/)")
    parser.add_argument("--keep", action="store_true", help="keep the JSONL and the store")
    parser.add_argument(
        "--reader",
        choices=("auto", "zeptui", "bench"),
        default="auto",
        help="JSONL reader: zeptui's Zep importer (auto, when present) or the bench's own",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="FILE",
        help="profile the import with cProfile (stats to FILE) and stop after it",
    )
    args = parser.parse_args(argv)
    if args.messages < 1 or args.sessions < 1:
        parser.error("--messages and --sessions must be positive")
    if args.big_messages is None:
        args.big_messages = min(100_000, args.messages)
    return args


def prepare_db_path(db: Path | None, stem: str) -> Path:
    path = db or DATA_DIR / f"{stem}.duckdb"
    if path.exists():
        if DATA_DIR.resolve() not in path.resolve().parents:
            raise SystemExit(f"{path} exists; remove it or choose another --db")
        remove(path)
    return path


def remove(*paths: Path) -> None:
    for path in paths:
        for candidate in (path, path.with_name(path.name + ".wal")):
            candidate.unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = Report()
    machine = machine_description()  # at the start: the code may change while this runs
    print("\n".join(machine))
    stem = f"zep-{args.messages}-{args.sessions}-seed{args.seed}"
    jsonl = DATA_DIR / f"{stem}.jsonl"
    db_path = prepare_db_path(args.db, stem)
    rss: list[tuple[str, float]] = []
    print(f"\ndata: {args.messages:,} messages, {args.sessions:,} sessions, seed {args.seed}")

    start = time.perf_counter()
    data = generate(jsonl, args.messages, args.sessions, args.users, args.seed)
    generated = time.perf_counter() - start
    counts = [plan.messages for plan in data.plans]
    print(
        f"generated {jsonl} ({data.bytes / 1024**2:,.0f} MiB) in {generated:.1f} s; "
        f"messages per session min {min(counts)}, median {percentile(counts, 50):.0f}, "
        f"max {max(counts)}"
    )
    rss.append(("generate", peak_rss_mib()))
    try:
        if args.profile is not None:
            profile_import(args, data, db_path)
            return 0
        run(args, data, db_path, report, rss)
    finally:
        if not args.keep:
            remove(jsonl, data.sessions_path, db_path)
    print("\n" + "\n".join(machine))
    print(
        f"data      {args.messages:,} messages in {args.sessions:,} sessions "
        f"(+1 session of {args.big_messages:,}), seed {args.seed}"
    )
    print()
    print(report.render())
    print("\npeak RSS after each phase: " + ", ".join(f"{k} {v:,.0f} MiB" for k, v in rss))
    print(f"peak RSS (whole process): {peak_rss_mib():,.0f} MiB")
    if report.misses:
        print("targets missed: " + "; ".join(report.misses))
    return 0


def open_store(path: Path) -> DuckDBStore:
    return DuckDBStore(path, summarizer=None, background_summaries=False)


def profile_import(args: argparse.Namespace, data: Dataset, db_path: Path) -> None:
    reader_name, reader = session_reader(args.reader)
    metadata = {plan.session_id: plan.metadata for plan in data.plans}
    store = open_store(db_path)
    encoding()  # load the vocabulary outside the profile
    stats = install_sql_timer(store)
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.enable()
    result = store.import_sessions(with_session_metadata(reader(data.path), metadata))
    profile.disable()
    wall = time.perf_counter() - start
    store.close()
    print(f"\nimport with {reader_name} under cProfile: {wall:.1f} s; {result}")
    print_sql_stats(stats, wall)
    assert args.profile is not None
    print_profile(profile, args.profile, wall)


def run(
    args: argparse.Namespace,
    data: Dataset,
    db_path: Path,
    report: Report,
    rss: list[tuple[str, float]],
) -> None:
    rng = random.Random(args.seed * 1_000 + 1)
    reader_name, reader = session_reader(args.reader)
    metadata = {plan.session_id: plan.metadata for plan in data.plans}

    print("\n(a) DuckDB read_json baseline")
    report.section("baselines")
    read_json, ctas = bench_read_json(data.path)
    report.info("read_json, all columns (best of 3)", f"{read_json:.2f} s")
    report.info("read_json -> CREATE TABLE (info)", f"{ctas:.2f} s")
    rss.append(("read_json", peak_rss_mib()))

    print(f"\n(c) import with {reader_name}")
    start = time.perf_counter()
    parsed = sum(len(item.messages) for item in reader(data.path))
    reader_only = time.perf_counter() - start
    store = open_store(db_path)
    encoding()  # the one-off vocabulary load (~0.2 s) is not the import's
    start = time.perf_counter()
    result = store.import_sessions(with_session_metadata(reader(data.path), metadata))
    imported = time.perf_counter() - start
    assert result.messages_added == data.messages, result
    assert parsed == data.messages
    start = time.perf_counter()
    store.optimize()
    optimized = time.perf_counter() - start
    rss.append(("import", peak_rss_mib()))
    print("\n(c2) zeptui's own file import (import_file)")
    file_import = bench_import_file(data.path, db_path.with_name(db_path.stem + "-file.duckdb"))
    rss.append(("import_file", peak_rss_mib()))

    print("\n(b) token counting")
    tik, tik_total, ours, chunked = bench_tokens(data.path)
    rss.append(("tokens", peak_rss_mib()))

    report.info(
        f"tiktoken encode_ordinary_batch, {os.cpu_count()} threads",
        f"{tik:.2f} s ({tik_total / tik / 1e6:.1f} M tokens/s, {tik_total:,} tokens)",
    )
    report.info("tiktoken, one slice per core (info)", f"{chunked:.2f} s")
    report.check(
        "store count_tokens_batch",
        f"{ours:.2f} s",
        ours / tik / TARGET_TOKENS_RATIO,
        f"<= {TARGET_TOKENS_RATIO}x tiktoken",
    )

    print("\n(c) import results")
    report.section(f"import ({data.messages:,} msgs, {data.bytes / 1024**2:,.0f} MiB JSONL)")
    report.info(f"JSONL -> SessionImport only ({reader_name})", f"{reader_only:.2f} s")
    report.check(
        "import_sessions end to end",
        f"{imported:.2f} s ({data.messages / imported:,.0f} msg/s)",
        imported / read_json / TARGET_IMPORT_RATIO,
        f"<= {TARGET_IMPORT_RATIO}x read_json",
    )
    report.info("  import / read_json", f"{imported / read_json:.1f}x")
    report.info("  import / (read_json + tiktoken)", f"{imported / (read_json + tik):.1f}x")
    report.info(
        "  import / (read_json + store token count)", f"{imported / (read_json + ours):.1f}x"
    )
    report.info("optimize()", f"{optimized:.2f} s")
    if file_import is not None:
        rate = file_import.messages / file_import.seconds
        report.check(
            file_import.name,
            f"{file_import.seconds:.2f} s ({rate:,.0f} msg/s)",
            file_import.seconds / read_json / TARGET_IMPORT_RATIO,
            f"<= {TARGET_IMPORT_RATIO}x read_json",
        )
        report.info("  import_file / read_json", f"{file_import.seconds / read_json:.1f}x")
        report.info(
            "  import_file / (read_json + store token count)",
            f"{file_import.seconds / (read_json + ours):.1f}x",
        )
        for phase, seconds in file_import.laps.items():
            report.info(f"  phase {phase!r} (store.last_import_timings)", f"{seconds:.2f} s")
    report.info("store file size", f"{db_path.stat().st_size / 1024**2:,.0f} MiB")

    # Reads are measured on the store opened afresh, as the CLI and the app open it.
    store.close()
    store = open_store(db_path)

    print("\n(d) get_memory")
    report.section("get_memory, 500 random sessions")
    sample = rng.sample(data.plans, min(500, len(data.plans)))
    ids = [plan.session_id for plan in sample]
    cases: list[tuple[str, Callable[[str], object]]] = [
        ("perpetual", lambda sid: store.get_memory(sid)),
        ("message_window", lambda sid: store.get_memory(sid, MemoryType.message_window)),
        ("lastn=6", lambda sid: store.get_memory(sid, lastn=6)),
    ]
    for name, memory_call in cases:
        samples = time_calls([partial(memory_call, sid) for sid in ids])
        report.ms(f"get_memory {name} p50", percentile(samples, 50), TARGET_MEMORY_MS)
        report.ms(f"get_memory {name} p95", percentile(samples, 95))

    print("\n(e) list_sessions")
    report.section("list_sessions, limit=50, random pages")
    busy_user = Counter(plan.user_id for plan in data.plans).most_common(1)[0][0]
    page_cases: list[tuple[str, dict[str, Any]]] = [
        ("id asc", {}),
        ("activity desc", {"order_by": SessionOrder.activity, "descending": True}),
        ("message_count desc", {"order_by": SessionOrder.message_count, "descending": True}),
        ("user filter (busiest user)", {"user_id": busy_user}),
        ("metadata channel=slack", {"metadata": {"channel": "slack"}}),
        (
            "metadata account.region=eu, activity desc",
            {
                "metadata": {"account.region": "eu"},
                "order_by": SessionOrder.activity,
                "descending": True,
            },
        ),
    ]
    for name, options in page_cases:
        total = store.session_page(SessionQuery(limit=1, **options)).total_count
        pages = max(1, math.ceil(total / 50))
        cursors = [0] + [rng.randrange(pages) * 50 for _ in range(29)]
        page_queries = [SessionQuery(limit=50, cursor=c, **options) for c in cursors]
        samples = time_calls([partial(store.session_page, q) for q in page_queries])
        report.ms(f"{name} ({total:,} sessions) p50", percentile(samples, 50), TARGET_PAGE_MS)
        report.ms(f"{name} p95", percentile(samples, 95))

    print("\n(f) search")
    report.section("search, limit 10, 1-3 word queries")
    queries = make_queries(rng, data.vocabulary, 50)
    search_cases: list[tuple[str, Callable[[str], SearchQuery]]] = [
        ("all messages", lambda text: SearchQuery(text=text)),
        (
            "session filter",
            lambda text: SearchQuery(text=text, session_id=rng.choice(data.plans).session_id),
        ),
        (
            "role_type=assistant",
            lambda text: SearchQuery(text=text, role_types=[RoleType.assistant]),
        ),
    ]
    for name, build in search_cases:
        built = [build(text) for text in queries]
        hits: list[int] = []
        samples = time_calls([partial(counted_search, store, hits, q) for q in built])
        report.ms(f"search {name} p50", percentile(samples, 50), TARGET_SEARCH_MS)
        report.ms(f"search {name} p95", percentile(samples, 95), TARGET_SEARCH_MS)
        worst = max(range(len(built)), key=lambda i: samples[i])
        report.info(f"  slowest: {built[worst].text!r}", f"{samples[worst]:.0f} ms")
        if name == "all messages":
            report.info("  queries with hits", f"{sum(1 for h in hits[3:] if h)}/{len(built)}")

    print(f"\n(g) one session of {args.big_messages:,} messages")
    report.section(f"one session of {args.big_messages:,} messages")
    big = big_session(data, args.big_messages, args.seed)
    start = time.perf_counter()
    store.import_sessions([big])
    report.info("import_sessions of it", f"{time.perf_counter() - start:.2f} s")
    del big
    rss.append(("big session", peak_rss_mib()))
    store.close()
    store = open_store(db_path)
    big_cases: list[tuple[str, Callable[[], object]]] = [
        ("get_memory perpetual", lambda: store.get_memory("sess-big")),
        ("get_memory lastn=6", lambda: store.get_memory("sess-big", lastn=6)),
    ]
    for name, big_call in big_cases:
        samples = time_calls([big_call] * 50)
        report.ms(f"big session: {name} p50", percentile(samples, 50), TARGET_MEMORY_MS)
        report.ms(f"big session: {name} p95", percentile(samples, 95))
    last_page = math.ceil(args.big_messages / 200)
    page_calls: list[tuple[str, Callable[[], object]]] = [
        ("list_messages(200) first page", lambda: store.list_messages("sess-big", 200, 1)),
        (
            f"list_messages(200) last page ({last_page})",
            lambda: store.list_messages("sess-big", 200, last_page),
        ),
    ]
    for name, page_call in page_calls:
        samples = time_calls([page_call] * 20)
        report.ms(f"big session: {name} p50", percentile(samples, 50), TARGET_PAGE_MS)
    store.close()
    rss.append(("end", peak_rss_mib()))


def counted_search(store: DuckDBStore, hits: list[int], query: SearchQuery) -> None:
    hits.append(len(store.search(query)))


def big_session(data: Dataset, count: int, seed: int) -> SessionImport:
    rng = random.Random(seed * 1_000 + 2)
    maker = TextMaker(rng, data.vocabulary)
    plan = SessionPlan(
        session_id="sess-big",
        user_id="user-00000",
        speaker=FIRST_NAMES[0],
        assistant="Aria",
        metadata={"channel": "web", "tier": "enterprise", "locale": "en-US"},
        messages=count,
        start=YEAR_START,
    )
    messages = [
        Message(
            uuid=record["uuid"],
            created_at=datetime.fromisoformat(record["created_at"]),
            role=record["role"],
            role_type=RoleType(record["role_type"]),
            content=record["content"],
            metadata=record["metadata"],
        )
        for record in session_messages(plan, maker, data.namespace)
    ]
    return SessionImport(
        session_id=plan.session_id,
        user_id=plan.user_id,
        metadata=plan.metadata,
        messages=messages,
    )


if __name__ == "__main__":
    raise SystemExit(main())
