"""The Claude.ai export importer: branches, content blocks, roles, ids, detection, errors."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import zeptui.importers.claude  # registers
from storage.duckdb import DuckDBStore
from storage.import_rules import ZEP_IMPORT_NAMESPACE
from storage.models import RoleType, SessionImport
from zeptui.importers import ImportFileError, ReadContext, detect_importer, import_file
from zeptui.importers.claude import ClaudeImporter

FIXTURES = Path(__file__).parent / "fixtures"
CLAUDE = FIXTURES / "claude"
CONVERSATIONS = CLAUDE / "conversations.json"
M = "m0000000-0000-4000-8000-000000000"
"""Prefix of the fixtures' message uuids (add the 3-digit suffix)."""
C = "c0a1b2c3-0000-4000-8000-00000000000"
"""Prefix of the fixtures' conversation uuids (add the digit)."""


def read(path: Path, context: ReadContext | None = None) -> list[SessionImport]:
    return list(ClaudeImporter().read(path, context))


def read_skipping(path: Path) -> tuple[list[SessionImport], ReadContext]:
    context = ReadContext(skip_invalid=True)
    return read(path, context), context


def roles(session: SessionImport) -> list[tuple[str, RoleType | None]]:
    return [(m.role, m.role_type) for m in session.messages]


def contents(session: SessionImport) -> list[str]:
    return [m.content for m in session.messages]


def ids(session: SessionImport) -> list[Any]:
    return [(m.metadata or {}).get("source_message_id") for m in session.messages]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def write(tmp_path: Path, document: Any, name: str = "conv.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


# --- conversations.json ----------------------------------------------------------------


def test_regenerated_answer_newest_leaf_wins() -> None:
    regen, *_ = read_skipping(CONVERSATIONS)[0]
    assert regen.session_id == f"{C}1"
    assert regen.created_at == utc("2025-03-01T10:00:00.123456")
    assert regen.metadata == {  # an empty summary is left out
        "source": "claude",
        "title": "Übersetzung ins Deutsche",
        "created_at": "2025-03-01T10:00:00.123456Z",
        "updated_at": "2025-03-01T10:01:00.654321Z",
    }
    assert roles(regen) == [("human", RoleType.user), ("Claude", RoleType.assistant)]
    # ...0103 is newer than ...0102 though earlier in the array
    assert contents(regen) == [
        "Wie sagt man „good morning“ auf Deutsch?",
        "„Guten Morgen“ — oder locker: „Moin!“",
    ]
    assert [m.created_at for m in regen.messages] == [
        utc("2025-03-01T10:00:00.200000"),
        utc("2025-03-01T10:01:00.500000"),
    ]
    human, answer = regen.messages
    assert human.metadata == {  # the root sentinel is not a parent id
        "source": "claude",
        "source_message_id": f"{M}101",
        "branch": "active",
    }
    assert answer.metadata == {
        "source": "claude",
        "source_message_id": f"{M}103",
        "source_parent_id": f"{M}101",
        "stop_reason": "stop_sequence",
        "branch": "active",
    }
    expected = uuid.uuid5(ZEP_IMPORT_NAMESPACE, f"claude\x1f{C}1\x1f{M}103")
    assert answer.uuid == str(expected)


def test_current_leaf_wins_over_newer_branch() -> None:
    haiku = read_skipping(CONVERSATIONS)[0][1]
    assert haiku.session_id == f"{C}2"
    assert haiku.metadata == {
        "source": "claude",
        "title": "Haiku über Herbst",
        "summary": "Ein Haiku und eine kürzere Fassung.",
        "created_at": "2025-04-02T08:00:00.000000+00:00",
        "updated_at": "2025-04-02T09:30:00.000000+00:00",
        "model": "claude-sonnet-4-20250514",
    }
    assert ids(haiku) == [f"{M}201", f"{M}202", f"{M}203", f"{M}204"]  # not the newer 205
    assert roles(haiku) == [
        ("human", RoleType.user),
        ("Claude", RoleType.assistant),
        ("human", RoleType.user),
        ("Claude", RoleType.assistant),
    ]
    assert contents(haiku)[-1] == "Laub. Stille. Wind."
    assert haiku.messages[0].created_at == utc("2025-04-02T08:00:00")


def test_content_blocks_attachments_and_empty_messages() -> None:
    sessions, context = read_skipping(CONVERSATIONS)
    tools = sessions[2]
    assert tools.session_id == f"{C}3"
    assert tools.created_at == utc("2025-05-03T12:00:00.000001")  # +02:00 normalised to UTC
    assert ids(tools) == [f"{M}301", f"{M}302", f"{M}304"]  # 303 is whitespace only
    human, assistant, fallback = tools.messages
    assert human.content == (
        "Fasse die Datei zusammen und prüfe das Wetter in Kraków.\n\n"
        "[attachment: notizen.txt]\nZeile 1: Äpfel\nZeile 2: Birnen\n\n"
        "[file: foto.jpg]"
    )
    assert human.metadata == {
        "source": "claude",
        "source_message_id": f"{M}301",
        "attachments": 1,
        "files": 1,
        "branch": "active",
    }
    assert assistant.content == (
        "Ich sehe nach.\n\n"
        '[tool use: web_search {"query":"Wetter Kraków"}]\n\n'
        "[tool result: 21 °C, sonnig\nWind 5 km/h]\n\n"
        '[tool use: fetch {"url":"https://example.invalid/wetter"}]\n\n'
        "[tool result (error): timeout]\n\n"
        "Es sind 21 °C in Kraków."  # adjacent (cited) text blocks joined as they are
    )
    assert assistant.metadata == {
        "source": "claude",
        "source_message_id": f"{M}302",
        "source_parent_id": f"{M}301",
        "stop_reason": "end_turn",
        "truncated": True,
        "branch": "active",
    }
    # only thinking blocks: the flat text is used
    assert (fallback.role, fallback.content) == ("Claude", "Gern geschehen!")
    assert fallback.metadata is not None
    assert fallback.metadata["source_parent_id"] == f"{M}303"  # the source's parent, as is
    for session in sessions:
        for message in session.messages:
            assert "GEHEIM" not in message.content
            assert "token_budget" not in message.content
            assert "{'" not in message.content  # never str() of a dict
    assert [str(w) for w in context.warnings] == [
        f"{CONVERSATIONS}:116: [2].chat_messages[2]: empty message skipped"
    ]


def test_old_export_keeps_array_order() -> None:
    old = read_skipping(CONVERSATIONS)[0][3]
    assert old.session_id == f"{C}4"
    assert roles(old) == [
        ("human", RoleType.user),
        ("Claude", RoleType.assistant),
        ("narrator", RoleType.norole),  # unknown sender: norole, sender kept
    ]
    assert contents(old) == ["Hello — ça va?", "Très bien, merci !", "(end of transcript)"]
    # array order, though the answer's timestamp is earlier; no time is invented: the
    # last message has none and takes the nearest earlier one
    assert [m.created_at for m in old.messages] == [
        utc("2024-01-15T09:00:02"),
        utc("2024-01-15T09:00:01"),
        utc("2024-01-15T09:00:01"),
    ]
    assert [m.metadata for m in old.messages] == [
        {"source": "claude", "source_message_id": f"{M}401"},
        {"source": "claude", "source_message_id": f"{M}402"},
        {"source": "claude"},
    ]
    # no uuid: the index keys the message uuid
    expected = uuid.uuid5(ZEP_IMPORT_NAMESPACE, f"claude\x1f{C}4\x1f2")
    assert old.messages[2].uuid == str(expected)


def test_record_without_chat_messages_fails_the_file_or_is_skipped() -> None:
    with pytest.raises(ImportFileError) as caught:
        read(CONVERSATIONS)
    reason = "expected a chat_messages list, got no chat_messages"
    assert str(caught.value) == f"{CONVERSATIONS}:223: [4]: {reason}"
    sessions, context = read_skipping(CONVERSATIONS)
    assert len(sessions) == 4
    assert [str(e) for e in context.skipped] == [f"{CONVERSATIONS}:223: [4]: {reason}"]
    assert context.skipped_count == 1


# --- other files -----------------------------------------------------------------------


def test_single_object_api_dump() -> None:
    path = CLAUDE / "single.json"
    context = ReadContext()
    [session] = read(path, context)
    assert session.session_id == f"{C}6"
    assert session.created_at == utc("2025-06-01T00:00:00")
    assert session.metadata == {
        "source": "claude",
        "title": "日本語の練習",
        "created_at": "2025-06-01T00:00:00Z",
        "updated_at": "2025-06-01T00:05:00Z",
        "model": "claude-3-5-sonnet-20241022",
    }
    assert roles(session) == [
        ("human", RoleType.user),
        ("Claude", RoleType.assistant),
        ("human", RoleType.user),
    ]
    assert contents(session) == [  # `text` is "" in API dumps: the blocks are used
        "「ありがとう」はどう書きますか？",
        "ありがとう — arigatō.",
        "[voice_note]\n\nもう一度お願いします。",  # unknown block: a placeholder
    ]
    assert [m.created_at for m in session.messages] == [
        utc("2025-06-01T00:00:01.500000"),
        utc("2025-06-01T00:00:03"),
        utc("2025-06-01T00:04:59.999999"),
    ]
    assert (context.warnings, context.skipped) == ([], [])


def test_parent_cycle_is_cut_and_dangling_leaf_reported() -> None:
    path = CLAUDE / "cycle.json"
    context = ReadContext()
    [session] = read(path, context)
    assert session.session_id == "cycle:0"  # no uuid: <stem>:<index>
    assert ids(session) == ["m-b", "m-a", "m-l"]
    assert contents(session) == ["Frage B", "Antwort A", "Letzte Frage — ещё раз?"]
    assert [str(w) for w in context.warnings] == [
        f"{path}:2: [0]: current_leaf_message_uuid 'm-missing' names no message; "
        "using the newest leaf",
        f"{path}:2: [0].chat_messages[1]: parent_message_uuid 'm-a' closes a cycle; "
        "branch cut here",
    ]


def test_truncated_array_reports_recovered_records() -> None:
    path = CLAUDE / "truncated.json"
    with pytest.raises(ImportFileError) as caught:
        read(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:6: truncated JSON")
    assert message.endswith("; 2 complete records before it recovered")
    sessions, context = read_skipping(path)
    assert [s.session_id for s in sessions] == [f"{C}7", f"{C}8"]
    assert contents(sessions[0]) == ["Grüß Gott"]
    assert [str(e) for e in context.skipped] == [message]


def test_duplicate_uuids_and_malformed_records(tmp_path: Path) -> None:
    message = {"uuid": "x", "sender": "human", "text": "eins"}
    path = write(tmp_path, {"uuid": "d", "chat_messages": [message, {**message, "text": "zwei"}]})
    context = ReadContext()
    [session] = read(path, context)
    assert contents(session) == ["eins"]
    assert [str(w) for w in context.warnings] == [
        f"{path}: chat_messages[1]: duplicate message uuid 'x' skipped"
    ]
    cases: list[tuple[Any, str]] = [
        ([1], "[0]: expected a conversation object, got a number"),
        (
            [{"chat_messages": {}}],
            "[0]: expected a chat_messages list, got chat_messages is an object",
        ),
        ([{"chat_messages": [{"text": "hi"}]}], "[0].chat_messages[0]: message has no sender"),
        (
            [{"chat_messages": [{"sender": "human", "content": ["hi"]}]}],
            "[0].chat_messages[0].content[0]: expected a content block, got a string",
        ),
        (
            [{"chat_messages": [{"sender": "human", "text": "hi", "created_at": "gestern"}]}],
            "[0].chat_messages[0]: created_at is not an ISO 8601 time: 'gestern'",
        ),
        (
            [{"chat_messages": [{"sender": "human", "text": "hi", "attachments": "a.txt"}]}],
            "[0].chat_messages[0]: attachments must be a list, got a string",
        ),
    ]
    for document, reason in cases:
        bad = write(tmp_path, document, "bad.json")
        with pytest.raises(ImportFileError) as caught:
            read(bad)
        assert str(caught.value) == f"{bad}:1: {reason}"


# --- detection, store ------------------------------------------------------------------


def test_detection() -> None:
    for path in sorted(CLAUDE.iterdir()):
        assert detect_importer(path).name == "claude", path
    for directory in ("sharegpt", "zep"):
        for path in sorted((FIXTURES / directory).glob("*.json")):
            assert detect_importer(path).name != "claude", path
    importer = ClaudeImporter()
    assert importer.priority == 20
    assert zeptui.importers.claude.ClaudeImporter is ClaudeImporter
    chatgpt = b'[{"title": "t", "mapping": {"a": {"message": null}}, "chat_messages": []}]'
    assert not importer.detect(Path("conversations.json"), chatgpt)
    assert not importer.detect(Path("x.json"), b"\x00\xff garbage")
    assert not importer.detect(Path("x.json"), b'{"conversations": [{"from": "human"}]}')
    assert importer.detect(Path("x"), b'\xef\xbb\xbf [{"uuid": "u", "chat_messages": [')


def test_reimport_adds_nothing(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path / "s.duckdb", summarizer=None) as store:
        first = import_file(store, CLAUDE / "single.json").result
        again = import_file(store, CLAUDE / "single.json").result
        assert (first.sessions_created, first.messages_added) == (1, 3)
        assert (again.sessions_created, again.messages_added) == (0, 0)
        importer = ClaudeImporter()
        added = [
            store.import_sessions(
                importer.read(CONVERSATIONS, ReadContext(skip_invalid=True))
            ).messages_added
            for _ in range(2)
        ]
        assert added == [2 + 4 + 3 + 3, 0]


def test_failing_file_leaves_store_empty(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path / "s.duckdb", summarizer=None) as store:
        for path in (CONVERSATIONS, CLAUDE / "truncated.json"):
            with pytest.raises(ImportFileError):
                import_file(store, path)
        stats = store.stats()
        assert (stats.sessions, stats.messages) == (0, 0)
