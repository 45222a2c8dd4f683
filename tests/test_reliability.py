"""kill -9 at random moments never leaves a store inconsistent or half-written.

Bounded loops: each kills a real writer (the store in a child process, also with six
threads adding at once so that their adds share transactions, `zeptui import`,
`zeptui summarize`) at a seeded random moment, then checks every invariant of the
file (`tests/reliability.py`) and that the writes are all-or-nothing.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.reliability import counts, problems

_ADDER = """
import sys
from storage.duckdb import DuckDBStore
from storage.models import Message, RoleType
path, start = sys.argv[1], int(sys.argv[2])
with DuckDBStore(path, message_window=4) as store:
    for n in range(start, start + 100_000):
        session = f"r{start}-{n % 3}"
        if n % 97 == 96:
            store.delete_session(session)
        store.add_memory(session, [Message(role="u", role_type=RoleType.user,
                                           content=f"m{n}. A sentence to summarise here.")])
        print(n, flush=True)
"""


def kill_after(process: subprocess.Popen[str], lines: int, extra: float) -> list[str]:
    """Read `lines` progress lines (bounded in time), wait `extra` s, SIGKILL, reap;
    every whole line the process printed before it died (it goes on working, and
    printing, until the kill: a fast writer reports several more)."""
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while len(seen) < lines and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line.strip())
    time.sleep(extra)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    rest = process.stdout.read().split("\n")[:-1]  # (a line cut by the kill is no report)
    return seen + [line.strip() for line in rest]


def live_contents(path: Path) -> dict[str, list[int]]:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as conn:
        rows = conn.execute(
            "SELECT s.session_id, m.content FROM messages m "
            "JOIN sessions s ON s.id = m.session_key "
            "WHERE m.deleted_at IS NULL AND s.deleted_at IS NULL ORDER BY m.id"
        ).fetchall()
    found: dict[str, list[int]] = {}
    for session, content in rows:
        found.setdefault(session, []).append(int(content.split(".")[0][1:]))
    return found


def expected_sessions(start: int, printed: list[int]) -> dict[str, list[list[int]]]:
    """What each session of a killed adder may hold: every add it reported (after the
    session's last reported delete), plus perhaps the one it was killed in."""
    last = printed[-1] if printed else start - 1
    options: dict[str, list[list[int]]] = {}
    for k in range(3):
        mine = [n for n in printed if n % 3 == k]
        deletes = [i for i, n in enumerate(mine) if n % 97 == 96]
        expected = mine[deletes[-1] :] if deletes else mine
        choices = [expected]
        following = last + 1
        if following % 3 == k:
            choices += [[], [following]] if following % 97 == 96 else [[*expected, following]]
        options[f"r{start}-{k}"] = choices
    return options


def test_killed_adds_leave_consistent_stores_in_order(tmp_path: Path) -> None:
    rng = random.Random(11)
    path = tmp_path / "adds.duckdb"
    for start in range(0, 6_000, 1_000):
        process = subprocess.Popen(
            [sys.executable, "-c", _ADDER, str(path), str(start)],
            stdout=subprocess.PIPE,
            text=True,
        )
        printed = [int(n) for n in kill_after(process, rng.randint(3, 40), rng.uniform(0, 0.02))]
        assert problems(path) == []
        stored = live_contents(path)
        for session, choices in expected_sessions(start, printed).items():
            assert stored.get(session, []) in choices, (session, printed[-3:])


_CONCURRENT_ADDER = """
import sys, threading
from storage.duckdb import DuckDBStore
from storage.models import Message, RoleType
printing = threading.Lock()
with DuckDBStore(sys.argv[1], message_window=4) as store:
    def add(thread):
        for n in range(100_000):
            store.add_memory(f"c{thread % 2}", [
                Message(role="u", role_type=RoleType.user, content=f"{thread}.{n}.{part}")
                for part in range(2)
            ])
            with printing:
                print(thread, n, flush=True)
    threads = [threading.Thread(target=add, args=(t,), daemon=True) for t in range(6)]
    for thread in threads:
        thread.start()
    threads[0].join()
"""


def test_killed_concurrent_adds_keep_every_acknowledged_add_whole_and_in_order(
    tmp_path: Path,
) -> None:
    """Group commit (concurrent adds in one transaction) loses no add that returned,
    writes none by halves, and keeps each caller's order within its session."""
    import duckdb

    rng = random.Random(13)
    for round_number in range(2):
        path = tmp_path / f"concurrent{round_number}.duckdb"
        process = subprocess.Popen(
            [sys.executable, "-c", _CONCURRENT_ADDER, str(path)], stdout=subprocess.PIPE, text=True
        )
        printed = kill_after(process, rng.randint(10, 60), rng.uniform(0, 0.02))
        assert problems(path) == []
        with duckdb.connect(str(path), read_only=True) as conn:
            rows = conn.execute("SELECT content FROM messages ORDER BY id").fetchall()
        stored: dict[int, list[tuple[int, int]]] = {}
        for (content,) in rows:
            thread, n, part = (int(value) for value in content.split("."))
            stored.setdefault(thread, []).append((n, part))
        acknowledged: dict[int, int] = {}
        for line in printed:
            thread, n = (int(value) for value in line.split())
            acknowledged[thread] = max(acknowledged.get(thread, -1), n)
        for thread, adds in stored.items():
            done = len(adds) // 2
            assert adds == [(n, part) for n in range(done) for part in range(2)], thread
            assert acknowledged.get(thread, -1) + 1 <= done <= acknowledged.get(thread, -1) + 2
        assert set(acknowledged) <= set(stored)


CORPUS = 4_000
"""Messages per imported file: an import of it takes about as long as a process start."""


def write_corpus(path: Path, messages: int, seed: int) -> Path:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for n in range(messages):
            line = {
                "session_id": f"conv-{seed}-{rng.randrange(60)}",
                "role_type": rng.choice(["user", "assistant"]),
                "role": "Jane",
                "content": f"Message {n} about the weather. It rains a lot today.",
            }
            out.write(json.dumps(line) + "\n")
    return path


@pytest.mark.parametrize("fast_path", [True, False])
def test_killed_imports_are_all_or_nothing(tmp_path: Path, fast_path: bool) -> None:
    rng = random.Random(23 if fast_path else 29)
    db = tmp_path / "imports.duckdb"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "zeptui",
            "--db",
            str(db),
            "add",
            "first",
            "--role-type",
            "user",
            "--content",
            "before any import",
        ],
        check=True,
        capture_output=True,
    )
    for round_number in range(3):
        source = write_corpus(tmp_path / f"c{round_number}.jsonl", CORPUS, round_number)
        before = counts(db)
        command = [sys.executable, "-m", "zeptui", "--db", str(db), "import", str(source)]
        if not fast_path:
            command += ["--format", "zep", "--session-prefix", "p-"]  # the generic path
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.3, 1.6))  # from start-up to past the commit
        finished = process.poll() is not None
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert problems(db) == []
        after = counts(db)
        assert after["messages"] in {before["messages"], before["messages"] + CORPUS}, (
            before,
            after,
            finished,
        )


def test_killed_summaries_leave_contiguous_spans_and_finish_later(tmp_path: Path) -> None:
    rng = random.Random(31)
    db = tmp_path / "summaries.duckdb"
    source = write_corpus(tmp_path / "c.jsonl", 3_000, 5)
    zeptui = [sys.executable, "-m", "zeptui", "--db", str(db)]
    subprocess.run([*zeptui, "import", "--no-summaries", str(source)], check=True)
    sessions = json.loads(
        subprocess.run(
            [*zeptui, "sessions", "--limit", "0", "--json"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    for session in [s["session_id"] for s in sessions][:4]:
        process = subprocess.Popen(
            [*zeptui, "summarize", session], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        time.sleep(rng.uniform(0.2, 1.5))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert problems(db) == []
        subprocess.run([*zeptui, "summarize", session], check=True, capture_output=True)
        assert problems(db) == []
