"""Insertion order is the backbone of memory: every write path keeps the source's order.

Messages are ordered by a sequence `id`. How DuckDB parallelises a large insert (or
joins against a store that already has rows) must never decide which message gets
which id, so these tests write through every path (`add`, the generic import, the
Zep JSONL fast path, the CLI) into stores of many shapes and read the order back.
"""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.duckdb import DuckDBStore, zep_jsonl
from storage.models import Message, RoleType, SessionImport, SessionOrder, SessionQuery
from tests.examples import examples
from zeptui.cli import cli
from zeptui.importers.zep import ZepImporter


def message_line(session_id: str, content: str, second: int) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "uuid": str(uuid.uuid4()),
        "created_at": f"2024-01-01T00:{second // 60 % 60:02d}:{second % 60:02d}Z",
        "role": "u",
        "role_type": "user",
        "content": content,
        "metadata": {"n": second},
    }


def write_jsonl(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def contents(store: DuckDBStore, session_id: str) -> list[str]:
    return [m.content for m in store.list_messages(session_id, limit=0).messages]


def cli_ok(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def test_import_into_a_store_with_sessions_keeps_the_file_order(tmp_path: Path) -> None:
    """The issue's repro: two sessions added, then a three-line Zep JSONL file."""
    db = str(tmp_path / "x.duckdb")
    for session in ("a", "b"):
        cli_ok("--db", db, "add", session, "--role", "u", "--role-type", "user", "--content", "one")
    lines = [message_line("s1", text, n) for n, text in enumerate(["first", "second", "third"])]
    cli_ok("--db", db, "import", str(write_jsonl(tmp_path / "t.jsonl", lines)))
    listed = json.loads(cli_ok("--db", db, "messages", "s1", "--json"))
    assert [m["content"] for m in listed["messages"]] == ["first", "second", "third"]


# --- every write path, over stores and files of many shapes ----------------------------

PATHS = ("add", "import_sessions", "zep_jsonl")

store_ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 5), st.integers(1, 4)),
        st.tuples(st.just("delete"), st.integers(0, 5), st.just(0)),
        st.tuples(st.just("purge"), st.just(0), st.just(0)),
    ),
    max_size=8,
)
file_lines = st.lists(st.integers(0, 7), max_size=60)


class Model:
    """What each session's visible history must be, in order."""

    def __init__(self) -> None:
        self.visible: dict[str, list[str]] = {}
        self.counter = 0

    def text(self) -> str:
        self.counter += 1
        return f"m{self.counter}"


def apply_store_ops(store: DuckDBStore, model: Model, ops: list[tuple[str, int, int]]) -> None:
    for op, session_index, count in ops:
        session_id = f"s{session_index}"
        if op == "add":
            texts = [model.text() for _ in range(count)]
            store.add_memory(
                session_id, [Message(role="u", role_type=RoleType.user, content=t) for t in texts]
            )
            model.visible.setdefault(session_id, []).extend(texts)
        elif op == "delete" and session_id in model.visible:
            store.delete_session(session_id)
            del model.visible[session_id]
        elif op == "purge":
            store.purge()


def write_with(
    path_name: str, store: DuckDBStore, tmp_path: Path, lines: list[dict[str, Any]]
) -> None:
    if path_name == "zep_jsonl":
        store.import_zep_jsonl(write_jsonl(tmp_path / "f.jsonl", lines), "default")
    elif path_name == "import_sessions":
        file = write_jsonl(tmp_path / "f.jsonl", lines)
        store.import_sessions(ZepImporter().read(file))
    else:
        for line in lines:
            store.add_memory(
                line["session_id"],
                [
                    Message(
                        uuid=line["uuid"],
                        role="u",
                        role_type=RoleType.user,
                        content=line["content"],
                    )
                ],
            )


@pytest.mark.parametrize("path_name", PATHS)
@settings(
    max_examples=examples(10),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=store_ops, sessions_of_lines=file_lines)
def test_every_write_path_keeps_order_in_any_store(
    path_name: str,
    tmp_path_factory: pytest.TempPathFactory,
    ops: list[tuple[str, int, int]],
    sessions_of_lines: list[int],
) -> None:
    tmp_path = tmp_path_factory.mktemp("order")
    model = Model()
    with DuckDBStore(tmp_path / "s.duckdb", summarizer=None) as store:
        apply_store_ops(store, model, ops)
        lines = []
        for second, session_index in enumerate(sessions_of_lines):
            text = model.text()
            lines.append(message_line(f"s{session_index}", text, second))
            model.visible.setdefault(f"s{session_index}", []).append(text)
        write_with(path_name, store, tmp_path, lines)
        for session_id, expected in model.visible.items():
            assert contents(store, session_id) == expected, session_id


def large_corpus(rng: random.Random, sessions: int, messages: int) -> list[dict[str, Any]]:
    """Lines of many sessions interleaved, one of them long, as a real export has them."""
    lines = []
    for n in range(messages):
        session = 0 if rng.random() < 0.2 else rng.randrange(1, sessions)
        lines.append(message_line(f"conv-{session}", f"message {n} of the corpus", n))
    return lines


@pytest.mark.parametrize("path_name", ["import_sessions", "zep_jsonl"])
def test_large_imports_keep_order_after_deletes_and_purges(path_name: str, tmp_path: Path) -> None:
    """Large enough for DuckDB to run the insert on every thread."""
    rng = random.Random(9)
    model = Model()
    with DuckDBStore(tmp_path / "s.duckdb", summarizer=None) as store:
        apply_store_ops(
            store,
            model,
            [("add", i, 3) for i in range(6)] + [("delete", 1, 0), ("purge", 0, 0), ("add", 1, 2)],
        )
        lines = large_corpus(rng, 200, 12_000)
        for line in lines:
            if rng.random() < 0.01:  # a few lines go to the sessions already in the store
                line["session_id"] = line["session_id"].replace("conv-", "s")
            model.visible.setdefault(line["session_id"], []).append(line["content"])
        write_with(path_name, store, tmp_path, lines)
        for session_id, expected in model.visible.items():
            assert contents(store, session_id) == expected, session_id
        ids = [
            info.session.session_id
            for info in store.session_page(SessionQuery(order_by=SessionOrder.id)).sessions
        ]
        new_ids = [s for s in dict.fromkeys(line["session_id"] for line in lines) if s in ids]
        assert [s for s in ids if s in set(new_ids) and s.startswith("conv-")] == [
            s for s in new_ids if s.startswith("conv-")
        ], "sessions are created in the order the file names them"


def test_export_import_export_round_trips_a_large_corpus_byte_for_byte(tmp_path: Path) -> None:
    rng = random.Random(3)
    lines = large_corpus(rng, 150, 10_000)
    source = write_jsonl(tmp_path / "corpus.jsonl", lines)
    first, second = tmp_path / "first.duckdb", tmp_path / "second.duckdb"
    # A store that already holds sessions, so joins meet existing rows.
    cli_ok("--db", str(second), "add", "zz", "--role", "u", "--role-type", "user", "--content", "x")
    cli_ok("--db", str(second), "delete", "zz", "--purge")
    cli_ok("--db", str(first), "import", "--no-summaries", str(source))
    export1 = tmp_path / "export1.jsonl"
    cli_ok("--db", str(first), "export", "--format", "zep-jsonl", "-o", str(export1))
    cli_ok("--db", str(second), "import", "--no-summaries", str(export1))
    export2 = tmp_path / "export2.jsonl"
    cli_ok("--db", str(second), "export", "--format", "zep-jsonl", "-o", str(export2))
    assert export1.read_bytes() == export2.read_bytes()
    exported = [json.loads(line) for line in export1.read_text().splitlines()]
    by_session: dict[str, list[str]] = {}
    for line in lines:
        by_session.setdefault(line["session_id"], []).append(line["content"])
    exported_by_session: dict[str, list[str]] = {}
    for line in exported:
        exported_by_session.setdefault(line["session_id"], []).append(line["content"])
    assert exported_by_session == by_session


def test_generic_import_of_many_sessions_keeps_session_and_message_order(tmp_path: Path) -> None:
    """Chunks of thousands of sessions: sessions get ids in the order they arrive."""
    sessions = [
        SessionImport(
            session_id=f"chat-{n:05d}-{rng_word}",
            messages=[
                Message(role="u", role_type=RoleType.user, content=f"{n}/{i}") for i in range(3)
            ],
        )
        for n, rng_word in enumerate(random.Random(5).choices(["x", "y", "z"], k=5_000))
    ]
    with DuckDBStore(tmp_path / "s.duckdb", summarizer=None) as store:
        store.add_memory("existing", [Message(role="u", content="hi")])
        store.import_sessions(iter(sessions))
        listed = store.session_page(SessionQuery(order_by=SessionOrder.id))
        assert [info.session.session_id for info in listed.sessions] == ["existing"] + [
            s.session_id for s in sessions
        ]
        assert contents(store, "chat-04999-" + sessions[-1].session_id[-1]) == [
            "4999/0",
            "4999/1",
            "4999/2",
        ]


def test_a_file_checked_on_every_thread_keeps_its_order(tmp_path: Path) -> None:
    """The fast path checks a file's records on every thread before it numbers them
    (`zep_jsonl.stage`): however DuckDB splits a big file between its threads, the
    rows are numbered in the file's order."""
    path = tmp_path / "big.jsonl"
    padding = "x" * 300
    with path.open("w") as file:  # 40 MB: DuckDB reads it on several threads
        for n in range(120_000):
            file.write(
                f'{{"session_id": "s{n % 97}", "uuid": "{uuid.UUID(int=n + 1)}", '
                f'"role": "u", "content": "{n} {padding}"}}\n'
            )
    with duckdb.connect(config={"memory_limit": "256MB"}) as connection:
        zep_jsonl.stage(connection, path, "big")
        numbered = connection.execute("SELECT content FROM zep_rows ORDER BY seq").fetchall()
    assert [int(content.split()[0]) for (content,) in numbered] == list(range(120_000))
