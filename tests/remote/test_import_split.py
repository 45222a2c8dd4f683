"""An import and a sync push through a real `zeptui serve` whose body limit is smaller
than what they send: split into requests under the limit the server tells, counted
as one import, finished by running it again after a failure half-way. One server
serves the module: each test imports files and sessions of its own names, and
counts what it added."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage.capabilities import SummaryImport, offered
from storage.duckdb import DuckDBStore
from storage.models import Message, SessionImport, Summary, SummaryInfo
from tests.cli_helpers import fail, run
from tests.remote.proxy import Fault, proxying
from tests.server.conftest import Served
from tests.server.harness import serving
from zeptui.remote import open_remote
from zeptui.server import ServerOptions, create_app
from zeptui.server.extensions import PREFIX

LIMIT = 32 * 1024
"""The server's body limit here: the file below takes about three times as much."""
WORDS = "the weather in Lisbon was grey and then it rained on the river again " * 8


def write_history(path: Path, sessions: int = 10, messages: int = 6, long: int = 80) -> int:
    """OpenAI chat JSONL: `sessions` conversations and one of `long` messages (more
    than a request takes); returns how many messages."""
    lengths = [messages] * sessions + [long]
    with path.open("w") as out:
        for number, count in enumerate(lengths):
            turns = [
                {"role": "user" if n % 2 == 0 else "assistant", "content": f"{number}.{n} {WORDS}"}
                for n in range(count)
            ]
            out.write(json.dumps({"messages": turns}) + "\n")
    assert path.stat().st_size > 2 * LIMIT
    return sum(lengths)


@pytest.fixture
def history(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Path, int]:
    """A history file named after the test (its sessions are the test's own), written,
    and how many messages it holds."""
    path = tmp_path / f"{request.node.name.removeprefix('test_')[:40]}.jsonl"
    return path, write_history(path)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A server of a small body limit whose store makes no summaries of its own."""
    path = tmp_path_factory.mktemp("small") / "served.duckdb"
    with (
        DuckDBStore(path, summarizer=None) as store,
        serving(create_app(store, ServerOptions(max_body=LIMIT))) as url,
    ):
        yield Served(url, store)


def messages(served: Served) -> int:
    return served.store.stats().messages


def imported(*args: str | Path, code: int = 0) -> dict[str, Any]:
    command = ("import", *args, "--format", "openai", "--no-summaries", "--json")
    report = json.loads(run(*command, code=code).stdout)
    return dict(report["totals"])


def test_the_server_tells_its_body_limit(small: Served) -> None:
    told = httpx.get(small.url + PREFIX + "/capabilities", timeout=10).json()
    assert told["max_body"] == LIMIT
    with open_remote(small.url) as remote:
        assert LIMIT - 2_000 < remote.room < LIMIT


def test_an_import_over_the_body_limit_goes_in_requests_under_it(
    small: Served, db: Path, history: tuple[Path, int]
) -> None:
    file, total = history
    before = messages(small)
    with proxying(small.url) as proxy:
        planned = imported(file, "--remote", proxy.url, "--dry-run")
        assert (planned["sessions_created"], planned["sessions_updated"]) == (11, 0)
        assert planned["messages_added"] == total and messages(small) == before
        requests = proxy.count("POST", "/zeptui/import")
        assert requests >= 3  # under the limit, and the long session in several

        first = imported(file, "--remote", proxy.url)
    assert (first["sessions_created"], first["sessions_updated"]) == (11, 0)
    assert first["messages_added"] == total == messages(small) - before
    store = small.store
    histories = [
        store.list_messages(s.session_id, limit=100).messages
        for s in store.list_sessions()
        if file.stem in s.session_id
    ]
    contents = [m.content.split()[0] for m in max(histories, key=len)]
    assert contents == [f"10.{n}" for n in range(80)]  # the long session, whole, in order

    again = imported(file, "--remote", small.url)
    assert (again["messages_added"], again["messages_skipped"]) == (0, total)


def test_an_import_failing_half_way_is_finished_by_running_it_again(
    small: Served, db: Path, history: tuple[Path, int]
) -> None:
    file, total = history
    before = messages(small)
    with proxying(small.url) as proxy:
        imported(file, "--remote", proxy.url, "--dry-run")
        requests = proxy.count("POST", "/zeptui/import")
        # Each request checked (a dry run), then written: the second write is refused.
        passed = Fault("delay", path="/zeptui/import", times=requests + 1)
        proxy.inject(passed, Fault("status", path="/zeptui/import", status=400))
        line = fail("import", file, "--format", "openai", "--no-summaries", "--remote", proxy.url)
    assert file.name in line
    stored = messages(small) - before
    assert 0 < stored < total  # the first request's sessions, whole
    finished = imported(file, "--remote", small.url)
    assert finished["messages_added"] == total - stored
    assert messages(small) - before == total


def test_a_sync_push_over_the_body_limit_goes_in_requests_under_it(small: Served, db: Path) -> None:
    before = messages(small)
    with DuckDBStore(db, summarizer=None) as local:
        local.import_sessions(
            SessionImport(
                session_id=f"pushed{n}",
                messages=[Message(role="user", content=f"{n}.{m} {WORDS}") for m in range(60)],
            )
            for n in range(4)
        )
    report = json.loads(run("sync", "push", "--remote", small.url, "--json").stdout)
    assert (report["messages_copied"], report["sessions_created"]) == (240, 4)
    assert messages(small) - before == 240
    again = json.loads(run("sync", "push", "--remote", small.url, "--json").stdout)
    assert again["messages_copied"] == 0


def long_summary(first: Message, last: Message, count: int) -> SummaryInfo:
    """A summary of `count` messages from `first` to `last`, of some 2 KB."""
    return SummaryInfo(
        summary=Summary(
            uuid=str(uuid.uuid4()),
            created_at=datetime.now(UTC),
            content=f"up to {last.uuid}: {WORDS * 4}",
            token_count=1,
            recent_message_uuid=last.uuid or "",
        ),
        first_message_uuid=first.uuid,
        message_count=count,
    )


def test_summaries_over_the_body_limit_go_in_requests_under_it(small: Served) -> None:
    small.store.add_memory("long", [Message(role="user", content=f"{n}") for n in range(30)])
    history = small.store.list_messages("long").messages
    summaries = [long_summary(history[0], message, n + 1) for n, message in enumerate(history)]
    with proxying(small.url) as proxy, open_remote(proxy.url) as remote:
        assert offered(remote, SummaryImport) is not None
        assert remote.import_summaries({"long": summaries}) == 30  # type: ignore[attr-defined]
        assert proxy.count("POST", "/zeptui/summaries") >= 3
    stored = small.store.list_summaries("long")
    assert [x.summary.uuid for x in stored] == [x.summary.uuid for x in summaries]


def test_a_sessions_summaries_go_after_its_last_messages_in_requests_under_the_limit(
    small: Served,
) -> None:
    history = [
        Message(uuid=str(uuid.uuid4()), role="user", content=f"{n} {WORDS}") for n in range(40)
    ]
    summaries = [long_summary(history[end - 9], history[end], 10) for end in (9, 19, 29, 39)]
    carried = SessionImport(session_id="carried", messages=history, summaries=summaries)
    with proxying(small.url) as proxy, open_remote(proxy.url) as remote:
        result = remote.import_sessions([carried], counted=True)  # type: ignore[attr-defined]
        assert proxy.count("POST", "/zeptui/import") >= 2
    assert (result.messages_added, result.summaries_imported) == (40, 4)
    stored = small.store.list_summaries("carried")
    assert [x.summary.uuid for x in stored] == [x.summary.uuid for x in summaries]


def test_a_file_with_a_bad_record_after_many_requests_adds_nothing(
    small: Served, db: Path, history: tuple[Path, int]
) -> None:
    file, _ = history
    with file.open("a") as out:
        out.write("{not json\n")
    before = messages(small)
    line = fail("import", file, "--format", "openai", "--no-summaries", "--remote", small.url)
    assert f"{file.name}:12" in line
    assert messages(small) == before
