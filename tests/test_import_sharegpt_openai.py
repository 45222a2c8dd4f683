"""The ShareGPT and OpenAI chat importers: shapes, roles, content, ids, detection, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storage.duckdb import DuckDBStore
from storage.models import RoleType, SessionImport
from zeptui.config import sample_data_dir
from zeptui.importers import ImportFileError, detect_importer, get_importer, import_file
from zeptui.importers.openai_jsonl import OpenAIChatImporter
from zeptui.importers.sharegpt import ShareGPTImporter

FIXTURES = Path(__file__).parent / "fixtures"
SHAREGPT = FIXTURES / "sharegpt"
OPENAI = FIXTURES / "openai"


def sharegpt(name: str) -> list[SessionImport]:
    return list(ShareGPTImporter().read(SHAREGPT / name))


def openai(name: str) -> list[SessionImport]:
    return list(OpenAIChatImporter().read(OPENAI / name))


def roles(session: SessionImport) -> list[tuple[str, RoleType | None]]:
    return [(m.role, m.role_type) for m in session.messages]


def error_for(importer: ShareGPTImporter | OpenAIChatImporter, path: Path) -> str:
    with pytest.raises(ImportFileError) as caught:
        list(importer.read(path))
    return str(caught.value)


# --- ShareGPT --------------------------------------------------------------------------


def test_sharegpt_array_roles_system_and_empty_turns() -> None:
    first, second, empty = sharegpt("array.json")
    assert first.session_id == "fastchat-001"
    assert first.metadata == {"source": "sharegpt"}
    assert roles(first) == [
        ("system", RoleType.system),  # the top-level system prompt comes first
        ("human", RoleType.user),
        ("gpt", RoleType.assistant),
        ("narrator", RoleType.norole),  # unknown: norole, label kept
        ("Bing", RoleType.assistant),
    ]
    assert first.messages[0].content == "You are a patient tutor."
    assert all(m.created_at is None for m in first.messages)  # never invented
    assert all(m.metadata == {"source": "sharegpt"} for m in first.messages)

    assert second.session_id == "array:1"  # no id: <stem>:<index>
    assert second.metadata is not None and second.metadata["title"] == "Weather tool"
    assert "get_weather" in second.metadata["tools"]
    assert roles(second) == [
        ("user", RoleType.user),
        ("function_call", RoleType.assistant),
        ("observation", RoleType.tool),
        ("model", RoleType.assistant),
    ]
    assert second.messages[1].metadata == {"source": "sharegpt", "tool_call": True}
    assert second.messages[3].content == "It is 21 °C in Kraków."
    assert (empty.session_id, empty.messages) == ("empty", [])


def test_sharegpt_single_object_keeps_non_ascii() -> None:
    [session] = sharegpt("single.json")
    assert session.session_id == "single"
    assert [m.content for m in session.messages] == [
        "「こんにちは」を英語で？",
        '"Hello" — или по-русски «Привет». 👋',
    ]


def test_sharegpt_jsonl_ids_by_line() -> None:
    first, second = sharegpt("lines.jsonl")
    assert first.session_id == "line-a"
    assert second.session_id == "lines:3"  # line 2 is blank
    assert roles(second) == [
        ("system", RoleType.system),
        ("tool", RoleType.tool),
        ("chatgpt", RoleType.assistant),
    ]


def test_sharegpt_errors_name_the_line_or_record() -> None:
    importer = ShareGPTImporter()
    bad_line = SHAREGPT / "bad-line2.jsonl"
    assert error_for(importer, bad_line).startswith(f"{bad_line}:2: invalid JSON")
    bad_turn = SHAREGPT / "bad-turn.json"
    assert error_for(importer, bad_turn) == (
        f"{bad_turn}:3: [1].conversations[0]: value must be a string, got a number"
    )
    missing = SHAREGPT / "no-conversations.jsonl"
    assert error_for(importer, missing) == (
        f"{missing}:2: expected a conversations list, got no conversations"
    )


# --- OpenAI ----------------------------------------------------------------------------


def test_openai_jsonl_roles_names_and_sessions() -> None:
    first, second = openai("chat.jsonl")
    assert (first.session_id, second.session_id) == ("chat:1", "chat:3")
    assert first.metadata == {"source": "openai"}
    assert roles(first) == [
        ("system", RoleType.system),
        ("Jane", RoleType.user),  # name wins over the role
        ("assistant", RoleType.assistant),
    ]
    assert roles(second) == [
        ("developer", RoleType.system),
        ("user", RoleType.user),
        ("assistant", RoleType.assistant),
        ("tool", RoleType.tool),
        # the empty assistant turn is skipped
        ("critic", RoleType.norole),
        ("legacy_fn", RoleType.function),
    ]
    assert all(m.created_at is None for m in second.messages)


def test_openai_content_parts_and_tool_calls() -> None:
    _, session = openai("chat.jsonl")
    parts, call, tool = session.messages[1:4]
    assert parts.content == "What is in this picture?\n[image]\n[audio]"
    assert "{" not in parts.content  # never str() of a dict
    assert call.content.startswith("tool_calls: [")
    assert json.loads(call.content.removeprefix("tool_calls: ")) == [
        {"id": "call_1", "name": "describe_image", "arguments": {"detail": "high"}}
    ]
    assert call.metadata == {"source": "openai", "tool_call": True}
    assert tool.metadata == {"source": "openai", "tool_call_id": "call_1"}
    assert tool.content == "Ein Hund im Schnee — 雪の中の犬"


def test_openai_json_array_and_single_object() -> None:
    first, second = openai("array.json")
    assert (first.session_id, second.session_id) == ("array:0", "array:1")
    assert second.messages[1].content == "Pong\nagain."
    [single] = openai("single.json")
    assert single.session_id == "single" and len(single.messages) == 2


def test_openai_errors_name_the_line_or_record() -> None:
    importer = OpenAIChatImporter()
    content = OPENAI / "bad-content-line2.jsonl"
    assert error_for(importer, content) == (
        f"{content}:2: messages[1].content: content must be a string, list or null, got a number"
    )
    bad_json = OPENAI / "bad-json-line2.jsonl"
    assert error_for(importer, bad_json).startswith(f"{bad_json}:2: invalid JSON")
    part = OPENAI / "bad-part.json"
    assert error_for(importer, part) == (
        f"{part}:3: [1].messages[0].content[1]: expected a content part, got a number"
    )


# --- detection, registry, idempotent import --------------------------------------------


def test_detection_keeps_zep_files_as_zep() -> None:
    for path in sorted((FIXTURES / "zep").iterdir()):
        assert detect_importer(path).name == "zep", path
    for path in sample_data_dir().iterdir():
        expected = path.name.split("-")[0]  # sharegpt-..., chatgpt-...
        expected = expected if expected in {"sharegpt", "chatgpt"} else "zep"
        assert detect_importer(path).name == expected, path


@pytest.mark.parametrize(
    ("directory", "name"), [(SHAREGPT, "sharegpt"), (OPENAI, "openai")], ids=["sharegpt", "openai"]
)
def test_detection_claims_own_files(directory: Path, name: str) -> None:
    for path in sorted(directory.iterdir()):
        assert detect_importer(path).name == name, path
    assert get_importer(name).priority == 10


def test_openai_detection_rejects_zep_messages_with_roles(tmp_path: Path) -> None:
    importer = get_importer("openai")
    v3 = b'{"messages": [{"uuid": "x", "role": "user", "name": "Ann", "content": "hi"}]}'
    v0 = b'{"messages": [{"role": "human", "content": "hi"}]}'
    assert not importer.detect(tmp_path / "a.json", v3)
    assert not importer.detect(tmp_path / "b.json", v0)
    assert not importer.detect(tmp_path / "c.json", b"\x00\xff garbage")
    assert not get_importer("sharegpt").detect(tmp_path / "d.json", b"not json")


@pytest.mark.parametrize(
    "path",
    [SHAREGPT / "array.json", SHAREGPT / "lines.jsonl", OPENAI / "chat.jsonl"],
    ids=["sharegpt-array", "sharegpt-jsonl", "openai-jsonl"],
)
def test_reimport_adds_nothing(tmp_path: Path, path: Path) -> None:
    with DuckDBStore(tmp_path / "z.duckdb", summarizer=None) as store:
        first = import_file(store, path).result
        again = import_file(store, path).result
    assert first.messages_added > 0
    assert again.messages_added == 0


def test_sample_file_imports() -> None:
    [path] = [p for p in sample_data_dir().iterdir() if "sharegpt" in p.name]
    sessions = list(ShareGPTImporter().read(path))
    assert 2 <= len(sessions) <= 3
    for session in sessions:
        spoken = [m for m in session.messages if m.role_type != RoleType.system]
        assert spoken and spoken[0].role_type == RoleType.user
        assert session.metadata is not None and session.metadata["title"]
