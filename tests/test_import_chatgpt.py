"""The ChatGPT data-export importer: branches, visibility, content, times, ids, errors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

import zeptui.importers.chatgpt  # noqa: F401  (registers the importer)
from storage.duckdb import DuckDBStore
from storage.import_rules import ZEP_IMPORT_NAMESPACE
from storage.models import RoleType, SessionImport
from zeptui.config import sample_data_dir
from zeptui.importers import ImportFileError, ReadContext, detect_importer, import_file
from zeptui.importers.chatgpt import ChatGPTImporter

FIXTURES = Path(__file__).parent / "fixtures"
CHATGPT = FIXTURES / "chatgpt"
SAMPLE = sample_data_dir() / "chatgpt-conversations.json"


def read(name: str, context: ReadContext | None = None) -> list[SessionImport]:
    return list(ChatGPTImporter().read(CHATGPT / name, context))


def roles(session: SessionImport) -> list[tuple[str, RoleType | None]]:
    return [(m.role, m.role_type) for m in session.messages]


def contents(session: SessionImport) -> list[str]:
    return [m.content for m in session.messages]


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def by_id(sessions: list[SessionImport]) -> dict[str, SessionImport]:
    return {session.session_id: session for session in sessions}


# --- the active branch and what is visible ---------------------------------------------


def test_active_branch_only_in_order_with_tool_output() -> None:
    session = by_id(read("conversations.json"))["conv-branch"]
    assert session.created_at == at(1718000000.0)
    assert session.metadata == {
        "source": "chatgpt",
        "title": "Zeitzonen — Ветки",
        "create_time": "2024-06-10T06:13:20+00:00",
        "update_time": "2024-06-10T06:15:00.250000+00:00",
        "model": "gpt-4o",
    }
    # hidden system root, null root, the first (edited) prompt and its answer, the
    # thoughts node and the code call are all left out
    assert roles(session) == [
        ("user", RoleType.user),
        ("ChatGPT", RoleType.assistant),
        ("user", RoleType.user),
        ("python", RoleType.tool),
        ("ChatGPT", RoleType.assistant),
    ]
    assert contents(session) == [
        "Wie spät ist es in Tokio? 東京",  # string parts joined with ""
        "In Tokio ist es jetzt 15:00 Uhr.",
        "Berechne 2**100, bitte.",
        "1267650600228229401496703205376",
        "2¹⁰⁰ = 1267650600228229401496703205376",
    ]
    assert [m.created_at for m in session.messages] == [
        at(1718000030.5),
        at(1718000040.0),
        at(1718000050.0),
        at(1718000053.0),
        at(1718000054.0),
    ]
    text = "\n".join(contents(session))
    for left_out in ("first try", "INACTIVE BRANCH", "SECRET THOUGHT", "print(2**100)"):
        assert left_out not in text


def test_message_metadata_is_flat_and_small() -> None:
    session = by_id(read("conversations.json"))["conv-branch"]
    prompt, answer, _, output, _ = session.messages
    assert prompt.metadata == {
        "source": "chatgpt",
        "source_message_id": "u2",
        "source_parent_id": "sys",
        "content_type": "text",
        "branch": "active",
    }
    assert answer.metadata == {
        "source": "chatgpt",
        "source_message_id": "a2",
        "source_parent_id": "u2",
        "model": "gpt-4o",
        "content_type": "text",
        "branch": "active",
    }
    assert output.metadata is not None
    assert output.metadata["content_type"] == "execution_output"
    for message in session.messages:
        assert message.metadata is not None and len(message.metadata) <= 10
        assert all(isinstance(v, str | int | float | bool) for v in message.metadata.values())
    key = "\x1f".join(("chatgpt", "conv-branch", "u2"))
    assert prompt.uuid == str(uuid.uuid5(ZEP_IMPORT_NAMESPACE, key))


def test_hidden_custom_instructions_images_voice_quotes_and_missing_metadata() -> None:
    context = ReadContext()
    session = by_id(read("conversations.json", context))["conv-multi"]
    assert session.created_at == at(1718100000)
    assert session.metadata == {
        "source": "chatgpt",
        "title": "Bilder & Stimme",
        "create_time": "2024-06-11T10:00:00+00:00",
    }
    assert roles(session) == [  # the custom instructions are flagged hidden: left out
        ("user", RoleType.user),
        ("ChatGPT", RoleType.assistant),
        ("user", RoleType.user),
        ("browser", RoleType.tool),  # the quote; the browsing display and bio are left out
        ("ChatGPT", RoleType.assistant),
    ]
    assert contents(session) == [
        "[image: file-service://file-Abc123]\nWas ist auf dem Bild?",
        "Eine Katze 🐈.",
        "Und wie heißt sie?\n[audio_asset_pointer]",
        "Katzennamen A–Z — https://example.org/katzen\n"
        "> Mimi ist ein beliebter Katzenname.\n> Auch Luna.",
        "Vielleicht heißt sie Mimi.",
    ]
    assert all("{" not in content for content in contents(session))  # never str() of a dict
    image, no_metadata, _, _, final = session.messages
    # no create_time: the nearest earlier time of the conversation, never the import's
    assert image.created_at == no_metadata.created_at == at(1718100010)
    assert no_metadata.metadata == {
        "source": "chatgpt",
        "source_message_id": "a-img",
        "source_parent_id": "img",
        "content_type": "text",
        "branch": "active",
    }
    assert final.metadata is not None and final.metadata["model"] == "gpt-4o-mini"
    assert final.metadata["source_parent_id"] == "empty"
    text = "\n".join(contents(session))
    assert "HIDDEN" not in text
    warnings = [str(w) for w in context.warnings]
    path = CHATGPT / "conversations.json"
    assert f"{path}:158: [1].mapping.empty.message: empty message skipped" in warnings


def test_dangling_current_node_cycles_and_missing_ids() -> None:
    context = ReadContext()
    sessions = read("conversations.json", context)
    assert [s.session_id for s in sessions] == [
        "conv-branch",
        "conv-multi",
        "conv-dangling",
        "conv-cycle",
        "conversations:4",  # no id: <stem>:<index>
    ]
    dangling, cycle, anonymous = sessions[2:]
    assert contents(dangling) == ["Frage?", "Newer answer"]  # the newest leaf
    assert contents(cycle) == ["Frage", "Antwort"]  # the walk stops at the cycle
    assert cycle.created_at is None and cycle.metadata == {"source": "chatgpt", "title": "Cycle"}
    assert anonymous.metadata == {"source": "chatgpt"}
    assert anonymous.messages[0].created_at == at(1718400000)
    assert anonymous.messages[0].metadata is not None
    assert "source_parent_id" not in anonymous.messages[0].metadata
    path = CHATGPT / "conversations.json"
    warnings = [str(w) for w in context.warnings]
    assert any(w.startswith(f"{path}:327: [2]: current_node 'no-such-node'") for w in warnings)
    assert any(w.startswith(f"{path}:373: [3].mapping: parent cycle") for w in warnings)
    assert context.skipped == []


# --- file shapes -----------------------------------------------------------------------


def test_shard_wrapper_and_single_object() -> None:
    [shard] = read("conversations-000.json")
    assert shard.session_id == "shard-1"
    assert shard.metadata is not None and shard.metadata["model"] == "gpt-5"
    assert contents(shard) == ["Привет из шарда!", "Привет! Чем помочь?"]

    first, second = read("wrapper.json")
    assert (first.session_id, second.session_id) == ("wrapped-1", "wrapper:1")
    assert contents(first) == ["¿Qué tal?"] and contents(second) == ["Bien, ¿y tú?"]

    [single] = read("single.json")
    assert single.session_id == "single-conv"
    assert single.created_at == at(1722000000.5)
    assert roles(single) == [("user", RoleType.user), ("ChatGPT", RoleType.assistant)]
    assert contents(single) == ["Как сказать «спасибо» по-японски?", "「ありがとう」(arigatō)."]


def test_record_without_mapping_fails_or_is_skipped() -> None:
    path = CHATGPT / "no-mapping.json"
    with pytest.raises(ImportFileError) as caught:
        read("no-mapping.json")
    assert str(caught.value) == (
        f"{path}:17: [1]: expected a conversation with a mapping, got no mapping"
    )
    context = ReadContext(skip_invalid=True)
    sessions = read("no-mapping.json", context)
    assert [s.session_id for s in sessions] == ["ok-1", "ok-2"]
    assert [str(e) for e in context.skipped] == [
        f"{path}:17: [1]: expected a conversation with a mapping, got no mapping"
    ]


def test_truncated_array_reports_recovered_records() -> None:
    path = CHATGPT / "truncated.json"
    with pytest.raises(ImportFileError) as caught:
        read("truncated.json")
    message = str(caught.value)
    assert message.startswith(f"{path}:")
    assert "truncated JSON" in message and "2 complete records before it recovered" in message
    context = ReadContext(skip_invalid=True)
    sessions = read("truncated.json", context)
    assert [s.session_id for s in sessions] == ["t-1", "t-2"]
    assert context.skipped_count == 1


def test_bad_values_name_the_record(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        '[{"id": "c", "mapping": {"n": {"parent": null, "message": {"author": {"role": "user"},'
        ' "create_time": "soon", "content": {"content_type": "text", "parts": ["x"]}}}},'
        ' "current_node": "n"}]',
        encoding="utf-8",
    )
    with pytest.raises(ImportFileError) as caught:
        list(ChatGPTImporter().read(path))
    assert str(caught.value) == (
        f"{path}:1: [0].mapping.n.message: create_time is not an ISO 8601 time: 'soon'"
    )


# --- detection and the store -----------------------------------------------------------


def test_detection_claims_chatgpt_files_only() -> None:
    for path in sorted(CHATGPT.iterdir()):
        assert detect_importer(path).name == "chatgpt", path
    assert detect_importer(SAMPLE).name == "chatgpt"
    for directory in (FIXTURES / "sharegpt", FIXTURES / "zep", FIXTURES / "openai"):
        for path in sorted(directory.glob("*.json*")):
            assert detect_importer(path).name != "chatgpt", path
    importer = ChatGPTImporter()
    assert importer.priority == 20
    claude = b'[{"uuid": "c", "name": "x", "created_at": "2024-01-01T00:00:00Z",'
    claude += b' "chat_messages": [{"uuid": "m", "sender": "human", "text": "hi", "mapping": {}}]}]'
    assert not importer.detect(Path("conversations.json"), claude)
    assert not importer.detect(Path("x.json"), b"\x00\xff not json")
    assert not importer.detect(Path("x.json"), b'{"mapping": "nope", "create_time": 1}')
    assert importer.detect(Path("x.json"), b'\xef\xbb\xbf [{"mapping": {}, "current_node": null')


def test_reimport_adds_nothing(tmp_path: Path) -> None:
    path = CHATGPT / "conversations.json"
    with DuckDBStore(tmp_path / "s.duckdb", summarizer=None) as store:
        first = import_file(store, path)
        again = import_file(store, path)
    assert first.format == "chatgpt"
    assert first.result.sessions_created == 5
    assert first.result.messages_added == 15
    assert again.result.messages_added == 0
    assert again.result.messages_skipped == 15


def test_truncated_file_leaves_the_store_empty(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path / "s.duckdb", summarizer=None) as store:
        with pytest.raises(ImportFileError):
            import_file(store, CHATGPT / "truncated.json")
        stats = store.stats()
    assert (stats.sessions, stats.messages) == (0, 0)


# --- the bundled sample ----------------------------------------------------------------


def test_sample_imports_active_branch_only() -> None:
    assert SAMPLE.stat().st_size < 25_000
    context = ReadContext()
    sessions = list(ChatGPTImporter().read(SAMPLE, context))
    assert 2 <= len(sessions) <= 3
    assert context.warnings == [] and context.skipped == []
    trip = sessions[0]
    text = "\n".join(contents(trip))
    assert "four days in Kyoto" in text
    assert "three days in Osaka" not in text and "Kuromon" not in text  # the edited-away branch
    assert any(c.startswith("[image: file-service://") for c in contents(trip))
    for session in sessions:
        assert session.metadata is not None and session.metadata["title"]
        assert session.metadata["model"]
        spoken = [m for m in session.messages if m.role_type != RoleType.system]
        assert spoken and spoken[0].role_type == RoleType.user
        assert all(m.created_at is not None for m in spoken)
        assert any(m.metadata and m.metadata.get("model") for m in spoken)
        assert all("{'" not in m.content for m in session.messages)
