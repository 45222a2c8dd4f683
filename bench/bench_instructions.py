"""A fixed store workload whose CPU instructions valgrind counts: refactors compared
on a busy machine.

Wall-clock numbers move with the machine's load; instruction counts do not (the same
total twice, with other work on the cores). To compare two commits, check the older one
out beside this one and run, for each checkout (DIR), both phases against one store:

    .venv/bin/python -c "from pathlib import Path; from bench.bench_store import generate; \\
        generate(Path('/tmp/ab/data.jsonl'), 20000, 200, 50, 7)"
    cd DIR && PYTHONPATH=DIR valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python -m bench.bench_instructions import /tmp/ab/DIR.duckdb /tmp/ab/data.jsonl
    (the same with `read` instead of `import`)

and compare the `Collected` totals valgrind prints. `import` imports the file with the
Zep importer (the bulk JSONL path) without summaries; `summaries` the same with the
default summarizer, its summaries made before the store closes (in this process: a file
of fewer than 1,024 sessions, e.g. `bench_summaries.generate(path, 20000, 560, 11)`,
starts no workers); `read` opens the store read-only
and runs 200 perpetual and 100 message-window memories, 30 session pages, 30 searches
and 100 message pages, seeded. Each phase takes a few minutes under valgrind.
`search DB COUNT` warms the store as a server does, then searches COUNT random sessions
(seeded): the difference of two counts (e.g. 0 and 300) divided by the difference of
searches is the instructions of one search.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from storage.duckdb import DEFAULT_SUMMARIZER, DuckDBStore
from storage.models import MemoryType, SearchQuery, SessionOrder, SessionQuery

WORDS = ("time", "order", "memory", "store", "session", "user")


def main(argv: list[str]) -> int:
    phase, db, data = argv[0], Path(argv[1]), Path(argv[2])
    if phase in ("import", "summaries"):
        from zeptui.importers import import_file

        summaries = phase == "summaries"
        summarizer = DEFAULT_SUMMARIZER if summaries else None
        with DuckDBStore(db, summarizer=summarizer, defer_summaries=summaries) as store:
            import_file(store, data)
            store.wait_for_summaries()
        return 0
    rng = random.Random(3)
    if phase == "search":  # `search DB COUNT`: a server's warm-up, then COUNT searches
        with DuckDBStore(db, summarizer=None) as store:
            store.warm_memory()
            ids = [session.session_id for session in store.list_sessions(limit=1000)]
            for _ in range(int(argv[2])):
                words = " ".join(rng.sample(WORDS, rng.randint(1, 3)))
                store.search(SearchQuery(text=words, session_id=rng.choice(ids), limit=10))
        return 0
    rng = random.Random(3)
    with DuckDBStore(db, read_only=True, summarizer=None) as store:
        ids = [session.session_id for session in store.list_sessions(limit=1000)]
        for _ in range(200):
            store.get_memory(rng.choice(ids), MemoryType.perpetual)
        for _ in range(100):
            store.get_memory(rng.choice(ids), MemoryType.message_window, 6)
        for page in range(30):
            query = SessionQuery(
                limit=50, cursor=page * 5, order_by=SessionOrder.activity, descending=True
            )
            store.session_page(query)
        for _ in range(30):
            store.search(SearchQuery(text=" ".join(rng.sample(WORDS, 2)), limit=10))
        for _ in range(100):
            store.list_messages(rng.choice(ids), limit=50)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
