"""What drafting a big import's summaries costs in CPU, with nothing else around it.

    .venv/bin/python -m bench.bench_drafting                     # the corpus bench_summaries keeps
    .venv/bin/python -m bench.bench_drafting --profile bench/data/drafting.prof

Loads a Zep JSONL corpus (by default the one `bench.bench_summaries --keep` leaves
in bench/data), counts every message's tokens once, builds each session's
`StoredMessage` list as the store hands it to the scheduler, and times (process CPU,
best of `--repeat`) drafting every session's due spans with the extractive
summarizer and the store's default message window, through
`storage.summary_scheduler.draft_spans`. Prints a table and an md5 of every draft
(content, metadata, token count, positions covered): a change that makes drafting
cheaper must leave that md5 as it was.

With `--profile FILE` one more pass runs under cProfile (stats to FILE) and the top
functions are printed.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from bench.bench_store import DATA_DIR, machine_description, print_profile
from storage.duckdb.summaries import backlog_messages
from storage.store import DEFAULT_MESSAGE_WINDOW
from storage.summarizers import ExtractiveSummarizer
from storage.summary_scheduler import Backlog, draft_spans
from storage.tokens import count_tokens_batch, message_text

DEFAULT_CORPUS = DATA_DIR / "summaries-258112-7168-seed11.jsonl"
"""What `python -m bench.bench_summaries --keep` leaves with its defaults."""


class Corpus(NamedTuple):
    """A Zep JSONL file's messages as columns, grouped by session in file order."""

    keys: list[int]
    uuids: list[str]
    roles: list[str]
    role_types: list[str | None]
    contents: list[str]
    tokens: list[int]

    def backlogs(self) -> list[Backlog]:
        """Every session as a backlog with no summary yet, its messages as an import
        hands them over (`storage.duckdb.summaries.backlog_messages`: columns, each
        message made when a summary needs it). Fresh for each pass: a worker makes a
        session's messages once."""
        ids = list(range(1, len(self.keys) + 1))
        sessions = backlog_messages(
            self.keys, ids, self.uuids, self.roles, self.role_types, self.contents, self.tokens
        )
        return [Backlog(key, 0, None, messages) for key, messages in sessions.items()]


def load_corpus(path: Path) -> Corpus:
    """The file's messages, their tokens counted once."""
    records = []
    with path.open(encoding="utf-8") as file:
        for line in file:
            if line.strip():
                records.append(json.loads(line))
    keys: dict[str, int] = {}
    for record in records:
        keys.setdefault(record["session_id"], len(keys))
    records.sort(key=lambda record: keys[record["session_id"]])  # stable: file order within
    return Corpus(
        [keys[record["session_id"]] for record in records],
        [record["uuid"] for record in records],
        [record["role"] for record in records],
        [record.get("role_type") for record in records],
        [record["content"] for record in records],
        count_tokens_batch([message_text(record["role"], record["content"]) for record in records]),
    )


Kept = tuple[list[int], str, dict[str, Any], int]
"""What is kept of a draft: the positions it covers, content, metadata, tokens (as a
worker process keeps it, `storage.summary_workers`, not the whole `Draft`)."""


def draft_all(backlogs: Sequence[Backlog], window: int) -> list[Kept]:
    """Every backlog's due spans drafted, in order."""
    summarizer = ExtractiveSummarizer()
    return [
        (span, draft.content, draft.metadata, draft.token_count)
        for backlog in backlogs
        for span, draft in draft_spans(summarizer, window, backlog)
    ]


def fingerprint(drafts: Sequence[Kept]) -> str:
    """An md5 of the drafts' positions covered, content, metadata and token counts."""
    digest = hashlib.md5()
    for kept in drafts:
        digest.update(json.dumps(list(kept), sort_keys=True).encode())
    return digest.hexdigest()


class GarbageCollections:
    """Within a `with` block: how long the cyclic garbage collector ran (wall time, in
    this process: it only computes). Drafting allocates many small containers, and
    a full collection walks every live one, the corpus included."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def _note(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started

    def __enter__(self) -> GarbageCollections:
        gc.callbacks.append(self._note)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self._note)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_drafting", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="Zep JSONL file")
    parser.add_argument("--window", type=int, default=DEFAULT_MESSAGE_WINDOW)
    parser.add_argument("--repeat", type=int, default=3, help="passes timed (best counts)")
    parser.add_argument("--profile", type=Path, help="also profile one pass (stats to FILE)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.corpus.exists():
        print(
            f"bench_drafting: {args.corpus} is missing: make it with "
            "`python -m bench.bench_summaries --keep`",
            file=sys.stderr,
        )
        return 1
    corpus = load_corpus(args.corpus)
    sessions = len(set(corpus.keys))
    drafts: list[Kept] = []
    times: list[tuple[float, float]] = []
    results: set[tuple[int, str]] = set()
    for _ in range(args.repeat):
        del drafts  # each pass starts from the same heap, with fresh backlogs
        backlogs = corpus.backlogs()
        gc.collect()
        gc.freeze()  # as a worker process starts (storage/processes.py)
        with GarbageCollections() as collections:
            start = time.process_time()
            drafts = draft_all(backlogs, args.window)
            times.append((time.process_time() - start, collections.seconds))
        gc.unfreeze()
        results.add((len(drafts), fingerprint(drafts)))  # not timed
    if len(results) != 1:
        print(f"bench_drafting: passes disagree: {sorted(results)}", file=sys.stderr)
        return 1
    ((made, md5),) = results
    for line in machine_description():
        print(line)
    print()
    print(f"{'corpus':<22} {args.corpus.name}")
    print(f"{'sessions / messages':<22} {sessions:,} / {len(corpus.keys):,}")
    print(f"{'window':<22} {args.window}")
    print(f"{'drafts':<22} {made:,}")
    print(f"{'md5 of the drafts':<22} {md5}")
    print()
    print(f"{'pass':<6} {'CPU s':>8} {'µs / draft':>11} {'of it GC s':>11}")
    for number, (seconds, collecting) in enumerate(times, start=1):
        print(f"{number:<6} {seconds:>8.3f} {seconds / made * 1e6:>11.1f} {collecting:>11.3f}")
    best, collecting = min(times)
    print(f"{'best':<6} {best:>8.3f} {best / made * 1e6:>11.1f} {collecting:>11.3f}")
    if args.profile:
        profile = cProfile.Profile()
        start = time.perf_counter()
        profile.runcall(draft_all, corpus.backlogs(), args.window)
        print_profile(profile, args.profile, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
