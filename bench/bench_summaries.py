"""What summaries cost a `zeptui import`, against what reading the file costs.

    .venv/bin/python -m bench.bench_summaries                              # 258,112 messages
    .venv/bin/python -m bench.bench_summaries --messages 20000 --sessions 560   # quick check
    .venv/bin/python -m bench.bench_summaries --profile bench/data/summaries.prof

One run: generate a seeded Zep JSONL file shaped like a public corpus of short
chat turns (by default 258,112 messages in 7,168 conversations, 3-40 words each),
measure the baseline (DuckDB's `read_json` of the file, plus counting every
message's tokens with tiktoken's `encode_ordinary` in a plain loop), then run the
real `zeptui import` in fresh processes into fresh stores, with `--no-summaries`
and with summaries (the default, offline extractive summarizer), each import right
after a baseline of its own (a machine's speed drifts within a run), and print a
table: the import with summaries may take at most 3x the baseline (the median of
the imports' ratios). Generated files are deleted unless `--keep`.

With `--profile FILE` the run imports once in this process under cProfile (stats
to FILE) and prints the top functions instead.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import random
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from bench.bench_store import (
    BENCH_NAMESPACE,
    DATA_DIR,
    TextMaker,
    bench_read_json,
    build_vocabulary,
    format_time,
    load_texts,
    machine_description,
    plan_sessions,
    print_profile,
    remove,
)
from storage.duckdb import DuckDBStore
from storage.models import RoleType
from storage.summary_workers import MIN_SESSIONS, worker_count
from storage.tokens import encoding

TARGET_RATIO = 3.0
"""The import with summaries against read_json + a tiktoken loop."""


class ShortTurns(TextMaker):
    """Short chat turns: 3-40 words in sentences of 4-14, no order numbers."""

    USER_WORDS = (3, 25, 6)
    ASSISTANT_WORDS = (5, 41, 14)
    SENTENCE_WORDS = (4, 14)
    ORDER_NUMBERS = 0.0


def generate(path: Path, messages: int, sessions: int, seed: int) -> int:
    """Write the corpus as Zep v2 JSONL (one message per line); returns its size in bytes."""
    rng = random.Random(seed)
    vocabulary = build_vocabulary(rng)
    plans = plan_sessions(rng, messages, sessions, max(1, sessions // 7))
    turns = ShortTurns(rng, vocabulary)
    namespace = uuid.uuid5(BENCH_NAMESPACE, f"summaries-seed-{seed}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", buffering=1 << 20) as file:
        for plan in plans:
            for record in _records(plan.session_id, plan.messages, plan.start, turns, namespace):
                file.write(json.dumps(record, ensure_ascii=False))
                file.write("\n")
    return path.stat().st_size


def _records(
    session_id: str, count: int, start: datetime, turns: ShortTurns, namespace: uuid.UUID
) -> Iterator[dict[str, Any]]:
    """One conversation as Zep v2 JSONL records, user and assistant taking turns."""
    when = start
    for index in range(count):
        role_type = RoleType.user if index % 2 == 0 else RoleType.assistant
        when += timedelta(seconds=turns.rng.uniform(2.0, 120.0))
        yield {
            "session_id": session_id,
            "uuid": str(uuid.uuid5(namespace, f"{session_id}/{index}")),
            "created_at": format_time(when),
            "role": role_type.value,
            "role_type": role_type.value,
            "content": turns.content(role_type),
        }


def tiktoken_loop(texts: list[str]) -> int:
    """Every text's tokens, one `encode_ordinary` call after another."""
    encode = encoding().encode_ordinary
    return sum(len(encode(text)) for text in texts)


@dataclass(frozen=True)
class Timing:
    """Wall-clock and CPU seconds (CPU: every thread; less hurt by a busy machine)."""

    wall: float
    cpu: float


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli_import(jsonl: Path, db: Path, *extra: str) -> Timing:
    """`zeptui --db DB import JSONL ...` in a fresh process."""
    remove(db)
    command = [sys.executable, "-m", "zeptui", "--db", str(db), "import", str(jsonl), *extra]
    start, cpu = time.perf_counter(), children_cpu()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    timing = Timing(time.perf_counter() - start, children_cpu() - cpu)
    if done.returncode != 0 or done.stderr:
        raise SystemExit(f"zeptui import failed ({done.returncode}): {done.stderr.strip()}")
    return timing


def phases(jsonl: Path, db: Path) -> tuple[Timing, Timing]:
    """The two phases of an import with summaries, in this process: the file's
    import, then the summaries (what `zeptui import` does, phase by phase)."""
    from zeptui.compose import StoreTarget, open_store
    from zeptui.importers import detect_importer, import_file
    from zeptui.services.imports import IMPORT_MEMORY_LIMIT
    from zeptui.settings import Settings

    remove(db)
    target = StoreTarget.file(db)
    with open_store(target, Settings(), summaries=True, memory_limit=IMPORT_MEMORY_LIMIT) as store:
        assert isinstance(store, DuckDBStore)
        start, cpu = time.perf_counter(), time.process_time()
        import_file(store, jsonl, detect_importer(jsonl))
        imported, imported_cpu = time.perf_counter(), time.process_time()
        store.wait_for_summaries()
        summarised, summarised_cpu = time.perf_counter(), time.process_time()
    return (
        Timing(imported - start, imported_cpu - cpu),
        Timing(summarised - imported, summarised_cpu - imported_cpu),
    )


def load() -> str:
    """The machine's load averages (1, 5, 15 minutes): other work shares the cores; and
    how many worker processes an import's summaries would get under this load (the
    rule of storage/summary_workers.py: none on a busy machine, which then drafts in
    the import's process, after the import)."""
    averages = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{averages} (1, 5, 15 min; summary workers now: {worker_count(MIN_SESSIONS)})"


@dataclass(frozen=True)
class Baseline:
    """The baseline measured once: DuckDB's `read_json` of the file (best of 3, a
    tenth of a second) and one tiktoken loop over every message's text."""

    read_json: float
    loop: Timing
    tokens: int

    @property
    def timing(self) -> Timing:
        return Timing(self.read_json + self.loop.wall, self.read_json + self.loop.cpu)


def baseline_now(jsonl: Path, texts: list[str]) -> Baseline:
    read_json, _ = bench_read_json(jsonl)
    start, cpu = time.perf_counter(), time.process_time()
    tokens = tiktoken_loop(texts)
    loop = Timing(time.perf_counter() - start, time.process_time() - cpu)
    return Baseline(read_json, loop, tokens)


def versus(baseline: Baseline, timing: Timing) -> float:
    """An import's wall time against its baseline's."""
    return timing.wall / baseline.timing.wall


def median_pair(pairs: list[tuple[Baseline, Timing]]) -> tuple[float, Timing, Baseline]:
    """The pair of median ratio: the ratio, the import, its baseline."""
    ranked = sorted(pairs, key=lambda pair: versus(*pair))
    base, timing = ranked[len(ranked) // 2]
    return versus(base, timing), timing, base


def summary_shares(db: Path) -> tuple[int, float, float]:
    """How many summaries the store holds, and their mean and largest share of the
    tokens of the messages they cover."""
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(
            """
            SELECT count(*), avg(x.token_count / c.tokens), max(x.token_count / c.tokens)
            FROM summaries x JOIN (
                SELECT s.id, sum(m.token_count) AS tokens
                FROM summaries s JOIN messages f ON f.uuid = s.first_message_uuid
                JOIN messages m ON m.session_key = s.session_key
                 AND m.id BETWEEN f.id AND s.recent_message_id
                GROUP BY s.id) c ON c.id = x.id
            """
        ).fetchone()
    assert row is not None
    return int(row[0]), float(row[1] or 0.0), float(row[2] or 0.0)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_summaries", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--messages", type=int, default=258_112)
    parser.add_argument("--sessions", type=int, default=7_168)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--repeat", type=int, default=3, help="imports of each kind, each after a baseline"
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated JSONL")
    parser.add_argument(
        "--profile", type=Path, default=None, metavar="FILE", help="profile one import instead"
    )
    args = parser.parse_args(argv)
    if args.messages < args.sessions or args.sessions < 1:
        parser.error("need at least one message per session")
    return args


def profile(jsonl: Path, db: Path, stats_path: Path) -> None:
    """One import with summaries, in this process, under cProfile."""
    encoding()
    prof = cProfile.Profile()
    start = time.perf_counter()
    prof.enable()
    phases(jsonl, db)
    prof.disable()
    print_profile(prof, stats_path, time.perf_counter() - start)
    remove(db)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_description()
    print("\n".join(machine))
    stem = f"summaries-{args.messages}-{args.sessions}-seed{args.seed}"
    jsonl = DATA_DIR / f"{stem}.jsonl"
    db = DATA_DIR / f"{stem}.duckdb"
    size = generate(jsonl, args.messages, args.sessions, args.seed)
    print(f"load      {load()} at the start")
    print(f"\ngenerated {jsonl.name}: {args.messages:,} messages, {size / 1024**2:,.1f} MiB")
    try:
        if args.profile is not None:
            profile(jsonl, db, args.profile)
            return 0
        texts = load_texts(jsonl)
        tiktoken_loop(texts[:1_000])
        # Each import is paired with a baseline measured just before it: a shared or
        # virtual machine's speed drifts within a run, and a baseline taken once
        # would set one moment's speed against another's.
        plain_pairs = [
            (baseline_now(jsonl, texts), cli_import(jsonl, db, "--no-summaries"))
            for _ in range(args.repeat)
        ]
        full_pairs = [
            (baseline_now(jsonl, texts), cli_import(jsonl, db)) for _ in range(args.repeat)
        ]
        made, mean_share, max_share = summary_shares(db)
        importing, summarising = phases(jsonl, db)
    finally:
        remove(db)
        if not args.keep:
            jsonl.unlink(missing_ok=True)
    _, plain, plain_base = median_pair(plain_pairs)
    full_ratio, full, baseline = median_pair(full_pairs)
    repeat = f"median of {args.repeat}"
    rows = [
        (f"baseline before the median import ({baseline.tokens:,} tokens)", baseline.timing, None),
        ("  read_json of the file", Timing(baseline.read_json, baseline.read_json), None),
        ("  tiktoken encode_ordinary loop", baseline.loop, None),
        (f"zeptui import --no-summaries ({repeat})", plain, plain_base.timing),
        (f"zeptui import, with summaries ({repeat})", full, baseline.timing),
        ("  in process: the file's import", importing, None),
        ("  in process: its summaries", summarising, None),
    ]
    width = max(len(row[0]) for row in rows)
    print("\n" + "\n".join(machine))
    print(f"data      {args.messages:,} messages in {args.sessions:,} sessions, seed {args.seed}")
    print(f"load      {load()} at the end, on {os.cpu_count()} cores")
    print(f"\n{'what':<{width}}  {'wall':>8}  {'cpu':>8}  {'wall vs baseline':>16}")
    for what, timing, against in rows:
        times = f"{timing.wall / against.wall:.2f}x" if against else ""
        print(f"{what:<{width}}  {timing.wall:>7.2f}s  {timing.cpu:>7.2f}s  {times:>16}")
    print(f"\nsummaries made: {made:,}; their share of the tokens of the messages they cover:")
    print(f"mean {mean_share:.0%}, largest {max_share:.0%}")
    each = ", ".join(f"{versus(base, timing):.2f}x" for base, timing in full_pairs)
    print(f"with summaries, each import against the baseline just before it: {each}")
    without = ", ".join(f"{versus(base, timing):.2f}x" for base, timing in plain_pairs)
    print(f"without summaries: {without}")
    verdict = "PASS" if full_ratio <= TARGET_RATIO else "FAIL"
    print(
        f"target: zeptui import with summaries <= {TARGET_RATIO:g}x the baseline: "
        f"{full_ratio:.2f}x (median), {verdict} (CPU: {full.cpu / baseline.timing.cpu:.2f}x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
