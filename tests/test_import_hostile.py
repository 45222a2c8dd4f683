"""Hostile records through every importer and the real CLI, on a real store.

For each format, hypothesis writes a file of records with odd text (control
characters, markup, escapes, non-ASCII) and at most one hostile value: a wrong type,
a bad timestamp, a lone surrogate, metadata nested too deep, content over the size
limit, an odd id, or a file cut short. The property: either the file imports and
every stored message is what the format's rules say (a small model of them here),
or the CLI exits 1 with one `file:line` line and the store is exactly as before (a
zep-dump export compared); never a traceback. A file with nothing hostile in it
must import.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.duckdb import DuckDBStore
from storage.limits import MAX_CONTENT_BYTES
from storage.models import SessionQuery
from tests.examples import examples
from zeptui.cli import cli
from zeptui.config import sample_data_dir
from zeptui.importers.chatgpt import ROLE_TYPES as CHATGPT_ROLES  # noqa: F401  (registers)
from zeptui.importers.langchain import BASE_TYPES
from zeptui.importers.langchain import ROLE_TYPES as LANGCHAIN_ROLE_TYPES
from zeptui.importers.openai_jsonl import ROLE_TYPES as OPENAI_ROLE_TYPES
from zeptui.importers.sharegpt import ROLE_TYPES as SHAREGPT_ROLE_TYPES

EXAMPLES = examples(6)
"""Examples per format: enough to meet every kind of hostile value now and then (the
thorough profile meets each in every run)."""

Message = tuple[str, str, str, datetime | None]
"""(role, role_type, content, created_at or None when the import's time is expected)."""


@dataclass
class Case:
    """A generated file and what importing it must store."""

    name: str
    records: list[Any]
    expected: dict[str, list[Message]] = field(default_factory=dict)
    verdict: str = "valid"
    """valid: must import; invalid: must be refused; maybe: either (a store limit)."""
    jsonl: bool = False
    cut: bool = False

    def text(self) -> str:
        # ensure_ascii: a lone surrogate is written as the escape a hostile file has
        if self.jsonl:
            lines = [json.dumps(record) for record in self.records]
            text = "".join(line + "\n" for line in lines)
            last = len(lines[-1]) + 1 if lines else 0
        else:
            text = json.dumps(self.records, indent=1)
            last = len(json.dumps(self.records[-1], indent=1)) + 2 if self.records else 0
        if self.cut and last > 4:
            return text[: len(text) - last // 2]  # inside the last record: always broken
        return text

    def hostile(self, verdict: str) -> None:
        if self.verdict != "invalid":
            self.verdict = verdict


# --- hostile values ------------------------------------------------------------------

odd_text = st.text(
    st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs", "Cc"]), max_size=40
) | st.sampled_from(["[bold]markup[/]", "\x1b[31mred\x1b[0m", "\r\n", "  ", "日本語 🚀", "\x00"])
clean_text = odd_text.filter(lambda text: text.strip() != "")
odd_id = st.sampled_from(["   ", "a\x00b", "line\nbreak", "x" * 600, "ünï/cødé:1", "\t"])
wrong_type = st.sampled_from([1, 2.5, True, {"an": "object"}])
bad_iso = st.sampled_from(["yesterday", "9999-12-31T23:00:00-05:00", "2024-13-01T00:00:00Z", "0"])
SURROGATE = "\ud800"


def deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels):
        value = {"k": value}
    return value


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0))
HOSTILITIES = ["none", "none", "none", "type", "time", "surrogate", "deep", "huge", "id", "cut"]
HUGE = "x" * (MAX_CONTENT_BYTES + 1)
"""Content one byte over the store's limit."""


# --- the formats, each a file builder and a model of its rules -----------------------


@st.composite
def sharegpt(draw: st.DrawFn, stem: str) -> Case:
    case = Case(f"{stem}.json", [])
    for index in range(draw(st.integers(1, 3))):
        record_id = draw(st.sampled_from(["", None, f"{stem}-{index}"]))
        turns = [
            {
                "from": draw(st.sampled_from(["human", "gpt", "system", "observation", "Bard"])),
                "value": draw(odd_text),
            }
            for _ in range(draw(st.integers(0, 3)))
        ]
        record: dict[str, Any] = {"conversations": turns}
        if record_id is not None:
            record["id"] = record_id
        case.records.append(record)
        session = case.expected.setdefault(record_id or f"{stem}:{index}", [])
        for turn in turns:
            if turn["value"].strip():
                role_type = SHAREGPT_ROLE_TYPES.get(turn["from"].lower())
                session.append((turn["from"], _value(role_type), turn["value"], None))
    _spoil(draw, case, text_key="value", id_key="id", turns_key="conversations")
    return case


@st.composite
def openai(draw: st.DrawFn, stem: str) -> Case:
    case = Case(f"{stem}.jsonl", [], jsonl=True)
    for line in range(1, draw(st.integers(1, 3)) + 1):
        messages: list[dict[str, Any]] = []
        session = case.expected.setdefault(f"{stem}:{line}", [])
        for _ in range(draw(st.integers(1, 3))):
            role = draw(st.sampled_from(["user", "assistant", "system", "tool", "critic"]))
            content = draw(odd_text | st.none())
            messages.append({"role": role, "content": content})
            if content and content.strip():
                role_type = OPENAI_ROLE_TYPES.get(role)
                session.append((role, _value(role_type), content, None))
        case.records.append({"messages": messages})
    _spoil(draw, case, text_key="content", id_key=None, turns_key="messages")
    return case


@st.composite
def langchain(draw: st.DrawFn, stem: str) -> Case:
    case = Case(f"{stem}.json", [])
    session = case.expected.setdefault(stem, [])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["human", "ai", "system", "tool", "AIMessageChunk", "odd"]))
        content = draw(odd_text)
        case.records.append({"type": kind, "data": {"content": content}})
        base = BASE_TYPES.get(kind)
        if content.strip():
            role_type = LANGCHAIN_ROLE_TYPES.get(base or "")
            session.append((base or kind, _value(role_type), content, None))
    _spoil(draw, case, text_key="content", id_key=None, turns_key=None)
    return case


@st.composite
def zep_jsonl(draw: st.DrawFn, stem: str) -> Case:
    case = Case(f"{stem}.jsonl", [], jsonl=True)
    last: dict[str, datetime] = {}
    for _ in range(draw(st.integers(1, 5))):
        session_id = draw(st.sampled_from([f"{stem}-a", f"{stem}-b"]))
        role_type = draw(st.sampled_from(["user", "assistant", "norole", None]))
        record: dict[str, Any] = {
            "session_id": session_id,
            "role": draw(st.sampled_from(["Jane", "", "human", "narrator"])),
            "content": draw(odd_text),
            "metadata": draw(st.none() | st.just({"k": "v", "n": [1, 2]})),
        }
        if role_type is not None:
            record["role_type"] = role_type
        moment = draw(st.none() | times)
        if moment is not None:
            record["created_at"] = iso(moment)
            last[session_id] = moment
        case.records.append(record)
        stored_type = role_type or {"human": "user"}.get(record["role"].lower(), "norole")
        case.expected.setdefault(session_id, []).append(
            (record["role"], stored_type, record["content"], last.get(session_id))
        )
    _spoil(draw, case, text_key="content", id_key="session_id", turns_key=None, time_key=True)
    return case


@st.composite
def zep_json(draw: st.DrawFn, stem: str) -> Case:
    """A list of session objects (one of them possibly long: read lazily elsewhere)."""
    inner = draw(zep_jsonl(stem))
    sessions: dict[str, dict[str, Any]] = {}
    for record in inner.records:
        session = sessions.setdefault(
            str(record.get("session_id")), {"session_id": record.get("session_id"), "messages": []}
        )
        session["messages"].append({k: v for k, v in record.items() if k != "session_id"})
    case = Case(f"{stem}.json", list(sessions.values()), inner.expected, inner.verdict)
    case.cut = inner.cut
    return case


Turn = tuple[str, datetime | None, str]
"""(speaker: user or assistant, time or None, text)."""


def conversations(
    draw: st.DrawFn, stem: str, step: timedelta
) -> Iterator[tuple[str, datetime, list[Turn]]]:
    """One or two conversations: id, own time, and turns, some of them without a time."""
    for index in range(draw(st.integers(1, 2))):
        start = draw(times)
        turns = [
            (
                draw(st.sampled_from(["user", "assistant"])),
                draw(st.none() | st.just(start + step * (number + 1))),
                draw(odd_text),
            )
            for number in range(draw(st.integers(1, 4)))
        ]
        yield f"{stem}-{index}", start, turns


def stored_turns(
    start: datetime, turns: list[Turn], names: dict[str, str], strip: bool = False
) -> list[Message]:
    """What a conversation's turns become: empty ones left out, a missing time the
    nearest earlier time of the messages kept (else the conversation's)."""
    messages: list[Message] = []
    last = start
    for speaker, moment, text in turns:
        if text.strip():
            last = moment or last
            messages.append((names[speaker], speaker, text.strip() if strip else text, last))
    return messages


@st.composite
def chatgpt(draw: st.DrawFn, stem: str) -> Case:
    case = Case(f"{stem}.json", [])
    for conversation_id, start, turns in conversations(draw, stem, timedelta(seconds=1)):
        mapping: dict[str, Any] = {}
        parent = None
        for number, (speaker, moment, text) in enumerate(turns):
            node_id = f"n{number}"
            mapping[node_id] = {
                "id": node_id,
                "parent": parent,
                "children": [],
                "message": {
                    "id": node_id,
                    "author": {"role": speaker},
                    "create_time": None if moment is None else moment.timestamp(),
                    "content": {"content_type": "text", "parts": [text]},
                    "recipient": "all",
                },
            }
            if parent is not None:
                mapping[parent]["children"].append(node_id)
            parent = node_id
        case.records.append(
            {
                "id": conversation_id,
                "create_time": start.timestamp(),
                "current_node": parent,
                "mapping": mapping,
            }
        )
        names = {"user": "user", "assistant": "ChatGPT"}
        case.expected[conversation_id] = stored_turns(start, turns, names)
    _spoil_chatgpt(draw, case)
    return case


@st.composite
def claude(draw: st.DrawFn, stem: str) -> Case:
    case = Case(f"{stem}.json", [])
    for conversation_id, start, turns in conversations(draw, stem, timedelta(minutes=1)):
        items = []
        for number, (speaker, moment, text) in enumerate(turns):
            sender = "human" if speaker == "user" else speaker
            item: dict[str, Any] = {"uuid": f"m{number}", "sender": sender, "text": text}
            if moment is not None:
                item["created_at"] = iso(moment)
            items.append(item)
        case.records.append(
            {"uuid": conversation_id, "created_at": iso(start), "chat_messages": items}
        )
        names = {"user": "human", "assistant": "Claude"}
        case.expected[conversation_id] = stored_turns(start, turns, names, strip=True)
    _spoil(draw, case, text_key="text", id_key="uuid", turns_key="chat_messages", time_key=True)
    return case


def _value(role_type: Any) -> str:
    return "norole" if role_type is None else str(role_type.value)


def _turns(case: Case, turns_key: str | None) -> list[dict[str, Any]]:
    """The message objects of the file, whatever the nesting."""
    if turns_key is None:
        return [record.get("data", record) for record in case.records]
    return [turn for record in case.records for turn in record[turns_key]]


def _spoil(
    draw: st.DrawFn,
    case: Case,
    *,
    text_key: str,
    id_key: str | None,
    turns_key: str | None,
    time_key: bool = False,
) -> None:
    """Put at most one hostile value in the file."""
    hostility = draw(st.sampled_from(HOSTILITIES))
    turns = _turns(case, turns_key)
    if hostility == "type" and turns:
        draw(st.sampled_from(turns))[text_key] = draw(wrong_type)
        case.hostile("invalid")
    elif hostility == "surrogate" and turns:
        turn = draw(st.sampled_from(turns))
        turn[text_key] = f"x{SURROGATE}y"
        case.hostile("invalid")
    elif hostility == "time" and time_key and turns:
        draw(st.sampled_from(turns))["created_at"] = draw(bad_iso)
        case.hostile("invalid")
    elif hostility == "huge" and turns:
        draw(st.sampled_from(turns))[text_key] = HUGE
        case.hostile("invalid")
    elif hostility == "deep" and turns and "metadata" in turns[0]:
        turns[0]["metadata"] = deep(40)
        case.hostile("invalid")
    elif hostility == "id" and id_key is not None:
        named = [record for record in case.records if record.get(id_key)]
        if named:
            record = draw(st.sampled_from(named))
            old = record[id_key]
            record[id_key] = draw(odd_id)
            _rename(case, old, record[id_key], per_message=id_key == "session_id")
            case.hostile("maybe")
    elif hostility == "cut":
        case.cut = True
        case.hostile("invalid")


def _rename(case: Case, old: Any, new: str, per_message: bool) -> None:
    """The model after a record's id changed (a Zep line moves one message)."""
    if per_message:
        case.hostile("maybe")  # the line's message moves to another session: no model
        case.expected = {}
        return
    if old in case.expected:
        case.expected[new] = case.expected.pop(old) + case.expected.pop(new, [])


def _spoil_chatgpt(draw: st.DrawFn, case: Case) -> None:
    hostility = draw(st.sampled_from(HOSTILITIES))
    conversation = draw(st.sampled_from(case.records))
    node = conversation["mapping"][draw(st.sampled_from(sorted(conversation["mapping"])))]
    if hostility == "type":
        node["message"]["content"]["parts"] = draw(wrong_type)
        case.hostile("invalid")
    elif hostility in ("surrogate", "huge"):
        node["message"]["content"]["parts"] = [
            f"x{SURROGATE}" if hostility == "surrogate" else HUGE
        ]
        case.hostile("invalid")
    elif hostility == "time":
        node["message"]["create_time"] = draw(st.sampled_from(["soon", 1e20, -1e14]))
        case.hostile("invalid")
    elif hostility == "id":
        old = conversation["id"]
        conversation["id"] = draw(odd_id)
        _rename(case, old, conversation["id"], per_message=False)
        case.hostile("maybe")
    elif hostility == "cut":
        case.cut = True
        case.hostile("invalid")


FORMATS: dict[str, tuple[str, Callable[[str], st.SearchStrategy[Case]]]] = {
    "zep-jsonl": ("zep", zep_jsonl),
    "zep-json": ("zep", zep_json),
    "sharegpt": ("sharegpt", sharegpt),
    "openai": ("openai", openai),
    "langchain": ("langchain", langchain),
    "chatgpt": ("chatgpt", chatgpt),
    "claude": ("claude", claude),
}
"""Test name → (the importer, forced: detection is not under test; the file builder)."""


# --- the property --------------------------------------------------------------------


class Template:
    """A store with sessions and users in it, and its zep-dump."""

    def __init__(self, path: Path, dump: str) -> None:
        self.path = path
        self.dump = dump

    def __repr__(self) -> str:
        return f"Template({self.path.name})"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    path = tmp_path_factory.mktemp("template") / "template.duckdb"
    run = CliRunner().invoke(
        cli, ["--db", str(path), "import", "--no-summaries", str(sample_data_dir())]
    )
    assert run.exit_code == 0, run.output
    return Template(path, dump(path))


def dump(db: Path) -> str:
    result = CliRunner().invoke(cli, ["--db", str(db), "export", "--format", "zep-dump"])
    assert result.exit_code == 0, result.output
    return result.stdout


def stored(db: Path, before: set[str]) -> dict[str, list[tuple[str, str, str, datetime | None]]]:
    with DuckDBStore(db, read_only=True, summarizer=None) as store:
        sessions = store.session_page(SessionQuery(limit=0)).sessions
        return {
            info.session.session_id: [
                (
                    m.role,
                    str(m.role_type.value if m.role_type else "norole"),
                    m.content,
                    m.created_at,
                )
                for m in store.list_messages(info.session.session_id, limit=1000).messages
            ]
            for info in sessions
            if info.session.session_id not in before
        }


NUMBERS = count()


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_hostile_records_import_exactly_or_are_refused_in_one_line(
    fmt: str,
    data: st.DataObject,
    template: Template,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    source, before = template.path, template.dump
    work = tmp_path_factory.mktemp(fmt)
    importer, build = FORMATS[fmt]
    case = data.draw(build(f"f{next(NUMBERS)}"), label="case")
    db = work / "store.duckdb"
    shutil.copy(source, db)
    (work / case.name).write_text(case.text(), encoding="utf-8")
    started = datetime.now(UTC)
    with working_directory(work):  # ids made from the file name: its name
        result = CliRunner().invoke(
            cli, ["--db", str(db), "import", "--no-summaries", "--format", importer, case.name]
        )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    if result.exit_code != 0:
        assert result.exit_code == 1, result.output
        assert case.verdict != "valid", result.stderr
        [line] = result.stderr.splitlines()
        assert re.match(rf"zeptui: error: {re.escape(case.name)}:\d+: \S", line), line
        assert dump(db) == before
        return
    assert case.verdict != "invalid", result.stdout
    if not case.expected:
        return  # an id moved a message elsewhere: only "no traceback" is checked
    seed = {session["session_id"] for session in json.loads(before)["sessions"]}
    now = stored(db, seed)
    assert set(now) == set(case.expected)
    for session_id, messages in case.expected.items():
        got = now[session_id]
        assert [m[:3] for m in got] == [m[:3] for m in messages], session_id
        for (_, _, _, stored_at), (_, _, _, expected_at) in zip(got, messages, strict=True):
            if expected_at is None:  # no time in the source: the import's
                assert stored_at is not None and stored_at >= started - timedelta(seconds=1)
            else:
                assert stored_at == expected_at


@contextmanager
def working_directory(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)
