"""The LangChain importer: shapes, types, content, metadata, ids, detection, errors."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

import zeptui.importers.langchain  # noqa: F401  (registers the importer until it is a builtin)
from storage.duckdb import DuckDBStore
from storage.import_rules import ZEP_IMPORT_NAMESPACE
from storage.models import RoleType, SessionImport
from zeptui.config import sample_data_dir
from zeptui.importers import (
    HEAD_BYTES,
    ImportFileError,
    ReadContext,
    detect_importer,
    get_importer,
    import_file,
)
from zeptui.importers.langchain import LangChainImporter

FIXTURES = Path(__file__).parent / "fixtures"
LANGCHAIN = FIXTURES / "langchain"
SOURCE = {"source": "langchain"}


def read(name: str | Path, context: ReadContext | None = None) -> list[SessionImport]:
    path = name if isinstance(name, Path) else LANGCHAIN / name
    return list(LangChainImporter().read(path, context))


def roles(session: SessionImport) -> list[tuple[str, RoleType | None]]:
    return [(m.role, m.role_type) for m in session.messages]


def error_for(path: Path) -> str:
    with pytest.raises(ImportFileError) as caught:
        read(path)
    return str(caught.value)


def write(tmp_path: Path, name: str, value: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    return path


def msg(kind: str, content: object, **data: object) -> dict[str, object]:
    return {"type": kind, "data": {"content": content, "type": kind, **data}}


# --- messages_to_dict: one list per file ------------------------------------------------


def test_history_roles_and_role_types() -> None:
    context = ReadContext()
    [session] = read("history.json", context)
    assert session.session_id == "history"  # one list per file: the file stem
    assert session.metadata == SOURCE
    assert roles(session) == [
        ("Jane", RoleType.user),  # data.name wins over the type
        ("ai", RoleType.assistant),
        ("tool", RoleType.tool),
        ("system", RoleType.system),
        ("moderator", RoleType.norole),  # chat: a role that is not a role type
        ("user", RoleType.user),  # chat: a role that is one
        # [6] remove: skipped
        ("ai", RoleType.assistant),  # AIMessageChunk like ai
        # [8] empty ai message: skipped
        ("human", RoleType.user),  # an old record (example: false, no id/name)
        ("ai", RoleType.assistant),
        ("get_time", RoleType.function),
        ("human", RoleType.user),
        ("calculator", RoleType.tool),
        ("critic", RoleType.norole),  # unknown type: norole, type kept
    ]
    assert all(m.created_at is None for m in session.messages)  # never invented
    assert [str(w) for w in context.warnings] == [
        f"{LANGCHAIN / 'history.json'}:8: [6]: remove message skipped",
        f"{LANGCHAIN / 'history.json'}:10: [8]: empty message skipped",
        f"{LANGCHAIN / 'history.json'}:16: [14]: unknown message type 'critic' imported as norole",
    ]
    assert context.skipped == []


def test_history_contents_and_metadata() -> None:
    [session] = read("history.json")
    contents = [m.content for m in session.messages]
    assert contents[0] == "Hi, I'm Jane — ¿qué tiempo hace en Kraków?"
    assert contents[2:7] == [
        "21 °C, sunny",
        "Answer briefly.",
        "Keep it civil, please.",
        "Понятно, спасибо.",
        "It is 21 °C and sunny in Kraków.",
    ]
    call = session.messages[1]
    assert call.content == (
        'tool_calls: [{"id":"call_1","name":"lookup","arguments":{"q":"Kraków weather"}}]'
    )
    assert call.metadata == {**SOURCE, "source_message_id": "run-1", "tool_call": True}
    assert session.messages[2].metadata == {**SOURCE, "tool_call_id": "call_1"}  # success
    assert session.messages[6].metadata == {**SOURCE, "source_message_id": "run-2"}
    legacy = session.messages[8]  # additional_kwargs.function_call of an old record
    assert legacy.content == 'tool_calls: [{"name":"get_time","arguments":{"tz":"UTC"}}]'
    assert legacy.metadata == {**SOURCE, "tool_call": True}
    assert session.messages[9].content == '{"time": "12:00"}'
    blocks = session.messages[10]
    assert blocks.content == "What is in this picture?\n[image]\n猫ですか？"
    assert "url" not in blocks.content  # never str() of a dict
    failed = session.messages[11]
    assert failed.metadata == {**SOURCE, "tool_call_id": "call_2", "status": "error"}
    assert all(m.metadata == SOURCE for m in (session.messages[0], session.messages[3]))


def test_uuids_are_deterministic_by_source_position() -> None:
    [session] = read("history.json")
    [again] = read("history.json")
    assert [m.uuid for m in session.messages] == [m.uuid for m in again.messages]
    first = session.messages[0]
    key = "\x1f".join(("langchain", "history", "0", "human", "Jane", first.content))
    assert first.uuid == str(uuid.uuid5(ZEP_IMPORT_NAMESPACE, key))
    chunk = session.messages[6]  # index 7 in the file: skipped messages keep their places
    key = "\x1f".join(("langchain", "history", "7", "AIMessageChunk", "ai", chunk.content))
    assert chunk.uuid == str(uuid.uuid5(ZEP_IMPORT_NAMESPACE, key))
    assert len({m.uuid for m in session.messages}) == len(session.messages)


def test_list_of_lists_is_one_session_each() -> None:
    first, second, empty = read("sessions.json")
    assert (first.session_id, second.session_id) == ("sessions:0", "sessions:1")
    assert [m.content for m in first.messages] == ["Bonjour !", "Salut, ça va ?"]
    assert roles(second) == [("system", RoleType.system), ("Ivan", RoleType.user)]
    assert second.messages[1].content == "Привет!"
    assert (empty.session_id, empty.messages) == ("sessions:2", [])


def test_single_message_object_is_a_session(tmp_path: Path) -> None:
    path = write(tmp_path, "one.json", msg("ai", "Só uma mensagem."))
    [session] = read(path)
    assert session.session_id == "one"
    assert roles(session) == [("ai", RoleType.assistant)]


# --- JSONL ------------------------------------------------------------------------------


def test_jsonl_message_lines_form_one_session() -> None:
    [session] = read("redis.jsonl")
    assert session.session_id == "redis"
    assert roles(session) == [
        ("human", RoleType.user),
        ("ai", RoleType.assistant),
        ("human", RoleType.user),
        ("ai", RoleType.assistant),
    ]
    assert [m.content for m in session.messages][1:3] == [
        "Okay — milk is on the list.",
        "Und Brot, bitte.",
    ]
    assert session.messages[3].metadata == {**SOURCE, "source_message_id": "run-7"}


def test_jsonl_list_lines_are_sessions() -> None:
    first, second = read("session-lines.jsonl")
    assert (first.session_id, second.session_id) == ("session-lines:1", "session-lines:3")
    assert [m.content for m in first.messages] == ["First chat", "Reply one"]
    assert [m.content for m in second.messages] == ["Second chat"]


# --- dumpd ------------------------------------------------------------------------------


def test_dumpd_messages() -> None:
    [session] = read("dumpd.json")
    assert session.session_id == "dumpd"
    assert roles(session) == [
        ("system", RoleType.system),  # no kwargs.type: from the class name
        ("Jane", RoleType.user),
        ("ai", RoleType.assistant),
        ("tool", RoleType.tool),
        ("ai", RoleType.assistant),  # AIMessageChunk, from the class name
    ]
    call = session.messages[2]
    assert json.loads(call.content.removeprefix("tool_calls: ")) == [
        {"id": "call_9", "name": "search", "arguments": {"query": "ñandú"}}
    ]
    assert call.metadata == {**SOURCE, "source_message_id": "run-3", "tool_call": True}
    assert session.messages[3].metadata == {**SOURCE, "tool_call_id": "call_9"}
    assert session.messages[1].content == "hi, 你好"
    assert session.messages[4].content == "A rhea, \nfrom South America."


def test_dumpd_inside_message_dicts_and_jsonl(tmp_path: Path) -> None:
    human = {
        "lc": 1,
        "type": "constructor",
        "id": ["langchain", "schema", "messages", "HumanMessageChunk"],
        "kwargs": {"content": "chunky"},
    }
    path = tmp_path / "mixed.jsonl"
    path.write_text(json.dumps(human) + "\n" + json.dumps(msg("ai", "ok")) + "\n")
    [session] = read(path)
    assert roles(session) == [("human", RoleType.user), ("ai", RoleType.assistant)]


# --- errors and --skip-invalid ----------------------------------------------------------


def test_errors_name_file_and_record() -> None:
    broken = LANGCHAIN / "broken.json"
    assert error_for(broken) == f"{broken}:5: [3]: data must be an object, got a string"
    line = LANGCHAIN / "broken-line3.jsonl"
    assert error_for(line) == f"{line}:3: message has no type"
    truncated = LANGCHAIN / "truncated.json"
    assert error_for(truncated).startswith(f"{truncated}:4: ")
    assert error_for(truncated).endswith("2 complete records before it recovered")


def test_skip_invalid_rejects_single_messages_and_keeps_the_rest() -> None:
    context = ReadContext(skip_invalid=True)
    [session] = read("broken.json", context)
    assert [m.content for m in session.messages] == ["one", "two", "three", "six"]
    broken = LANGCHAIN / "broken.json"
    assert [str(e) for e in context.skipped] == [
        f"{broken}:5: [3]: data must be an object, got a string",
        f"{broken}:6: [4]: message has no type",
    ]

    context = ReadContext(skip_invalid=True)
    [session] = read("broken-line3.jsonl", context)
    assert [m.content for m in session.messages] == ["fine", "also fine", "still read"]
    assert [str(e) for e in context.skipped] == [
        f"{LANGCHAIN / 'broken-line3.jsonl'}:3: message has no type"
    ]

    context = ReadContext(skip_invalid=True)
    [session] = read("truncated.json", context)
    assert [m.content for m in session.messages] == ["Is this file complete?", "Not quite…"]
    assert context.skipped_count == 1


def test_bad_message_in_a_list_of_sessions_rejects_that_session(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "many.json",
        [[msg("human", "kept")], [msg("human", "lost"), msg("ai", 42)], "not a list"],
    )
    assert error_for(path) == (
        f"{path}:1: [1][1].data.content: content must be a string, list or null, got a number"
    )
    context = ReadContext(skip_invalid=True)
    [session] = read(path, context)
    assert session.session_id == "many:0"
    assert [str(e) for e in context.skipped] == [
        f"{path}:1: [1][1].data.content: content must be a string, list or null, got a number",
        f"{path}:1: [2]: expected a list of messages, got a string",
    ]


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"type": "human"}, "data must be an object, got none"),
        ({"type": 3, "data": {}}, "type must be a string, got a number"),
        ({"type": "chat", "data": {"content": "x"}}, "data: chat message has no role"),
        ({"type": "human", "data": {"name": "Jo"}}, "data: message has no content"),
        (msg("human", [{"type": "text", "text": "a"}, 7]), "expected a content part"),
        (msg("ai", "x", tool_calls={"name": "f"}), "data.tool_calls: expected a list"),
        ({"lc": 1, "type": "secret", "id": ["OPENAI_API_KEY"]}, 'got type "secret"'),
        (
            {"lc": 1, "type": "constructor", "id": ["langchain", "schema", "Document"]},
            "not a LangChain message: langchain.schema.Document",
        ),
        (
            {"lc": 1, "type": "constructor", "id": ["x", "messages", "HumanMessage"]},
            "kwargs must be an object, got none",
        ),
        ({"messages": []}, 'a {"messages": [...]} wrapper is not a LangChain message dump'),
    ],
)
def test_bad_messages(tmp_path: Path, message: dict[str, object], reason: str) -> None:
    path = write(tmp_path, "bad.json", [msg("human", "ok"), message])
    error = error_for(path)
    assert error.startswith(f"{path}:1: [1]"), error
    assert reason in error


def test_wrapper_is_not_langchain(tmp_path: Path) -> None:
    wrapper = {"session_id": "s", "messages": [msg("human", "hi")]}
    path = write(tmp_path, "wrapper.json", wrapper)
    assert detect_importer(path).name == "zep"
    assert "wrapper is not a LangChain message dump" in error_for(path)


# --- detection ----------------------------------------------------------------------------


def test_detection_claims_own_files() -> None:
    assert get_importer("langchain").priority == 15
    for path in sorted(LANGCHAIN.iterdir()):
        assert detect_importer(path).name == "langchain", path


@pytest.mark.parametrize("directory", ["openai", "sharegpt", "zep"])
def test_detection_leaves_other_formats_alone(directory: str) -> None:
    for path in sorted((FIXTURES / directory).iterdir()):
        assert detect_importer(path).name == directory, path


def test_detect_declines_every_other_fixture_and_sample() -> None:
    """Whatever format they are (ChatGPT, Claude, ...), files not ours stay unclaimed."""
    others = [p for p in FIXTURES.glob("*/*") if p.parent.name != "langchain"]
    others += list(sample_data_dir().iterdir())
    importer = LangChainImporter()
    for path in sorted(others):
        if path.is_file():
            assert not importer.detect(path, path.read_bytes()[:HEAD_BYTES]), path


def test_detect_heads(tmp_path: Path) -> None:
    importer = LangChainImporter()
    path = tmp_path / "x.json"
    assert importer.detect(path, b'[{"type": "human", "data": {"content": "hi"}}]')
    assert importer.detect(path, b'\xef\xbb\xbf\n{"data": {"content": "x"}, "type": "ai"}')
    dumpd = b'[{"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", '
    assert importer.detect(path, dumpd + b'"HumanMessage"], "kwargs": {"content": "hi"}}]')
    chatgpt = b'[{"title": "t", "mapping": {"a": {"message": {"content": {"parts": []}}}}}]'
    claude = b'[{"uuid": "u", "chat_messages": [{"sender": "human", "content": []}]}]'
    openai = b'{"messages": [{"role": "user", "content": "hi"}]}'
    zep_wrapper = b'{"messages": [{"type": "human", "data": {"content": "hi"}}]}'
    for head in (chatgpt, claude, openai, zep_wrapper, b"", b"not json", b"\x00\xff", b"[]"):
        assert not importer.detect(path, head), head
    assert not importer.detect(path, b'[{"type": "text", "data": {"content": "x"}}]')
    assert not importer.detect(path, b'{"lc": 2, "kwargs": {}, "id": ["messages"]}')


# --- idempotent import ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["history.json", "sessions.json", "redis.jsonl", "session-lines.jsonl", "dumpd.json"]
)
def test_reimport_adds_nothing(tmp_path: Path, name: str) -> None:
    with DuckDBStore(tmp_path / "s.duckdb", summarizer=None) as store:
        first = import_file(store, LANGCHAIN / name)
        again = import_file(store, LANGCHAIN / name)
    assert first.format == "langchain"
    assert first.result.messages_added > 0
    assert again.result.messages_added == 0
