"""The Zep importer: shapes, field conventions, deterministic uuids, errors, streaming."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage.models import RoleType, SessionImport
from zeptui.importers import (
    Importer,
    ImportFileError,
    detect_importer,
    get_importer,
    import_file,
    importers,
)
from zeptui.importers.zep import ZepImporter

FIXTURES = Path(__file__).parent / "fixtures" / "zep"


def read(name: str | Path) -> list[SessionImport]:
    path = name if isinstance(name, Path) else FIXTURES / name
    return list(ZepImporter().read(path))


def error_for(path: Path) -> str:
    with pytest.raises(ImportFileError) as caught:
        read(path)
    return str(caught.value)


# --- shapes and field conventions ----------------------------------------------------


def test_v2_session_object_keeps_fields() -> None:
    [session] = read("session-v2.json")
    assert session.session_id == "trip-lisbon"
    assert session.user_id == "alice"
    assert session.metadata == {"topic": "travel", "nested": {"n": 1}}
    assert session.created_at == datetime(2024, 5, 1, 11, 59, tzinfo=UTC)
    first, second, third = session.messages
    assert first.uuid == "6f1c2a9e-2b7d-4c51-9a57-1c0f8e9b2d11"
    assert first.created_at == datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert (first.role, first.role_type) == ("Alice", RoleType.user)
    assert first.metadata == {"channel": "web"}
    assert (second.role, second.role_type) == ("TravelBot", RoleType.assistant)
    assert second.created_at == datetime(2024, 5, 1, 12, 0, 5, tzinfo=UTC)
    # no time of its own: the nearest earlier time of its session (never the import's)
    assert third.created_at == second.created_at
    assert third.uuid is not None and uuid.UUID(third.uuid)


def test_v3_and_v0_conventions() -> None:
    v3, v0 = read("sessions-mixed.json")
    assert [(m.role, m.role_type) for m in v3.messages] == [
        ("Bob", RoleType.user),
        ("Guide", RoleType.assistant),
    ]
    assert v3.user_id == "bob"
    assert [(m.role, m.role_type) for m in v0.messages] == [
        ("human", RoleType.user),
        ("ai", RoleType.assistant),
        ("narrator", None),
    ]


def test_bare_list_and_response_use_the_file_stem() -> None:
    [bare] = read("bare-messages.json")
    assert bare.session_id == "bare-messages"
    assert [m.content for m in bare.messages] == ["First message.", "Second message."]
    assert bare.messages[1].metadata == {"foo": "bar"}
    [response] = read("response-v2.json")
    assert response.session_id == "response-v2"
    assert response.messages[0].uuid == "0b1e1d36-3f52-4c9e-8f8e-0a9d3c1b2e01"


def test_jsonl_groups_consecutive_lines_of_a_session() -> None:
    groups = read("messages.jsonl")
    assert [(g.session_id, len(g.messages)) for g in groups] == [
        ("chat-a", 2),
        ("chat-b", 1),
        ("chat-a", 1),
    ]
    assert groups[0].user_id == "carol"
    uuids = [m.uuid for g in groups for m in g.messages]
    assert len(set(uuids)) == 4  # a session split over groups does not reuse uuids


def test_jsonl_session_objects_per_line() -> None:
    one, two = read("sessions.jsonl")
    assert (one.session_id, one.metadata, len(one.messages)) == ("line-1", {"k": "v"}, 2)
    assert (two.session_id, two.user_id, two.messages[0].role) == ("line-2", "erin", "Erin")


def test_jsonl_saved_as_json_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text((FIXTURES / "messages.jsonl").read_text())
    assert [g.session_id for g in read(path)] == ["chat-a", "chat-b", "chat-a"]


def test_missing_uuids_are_deterministic() -> None:
    first = [m.uuid for g in read("messages.jsonl") for m in g.messages]
    second = [m.uuid for g in read("messages.jsonl") for m in g.messages]
    assert first == second


def test_jsonl_is_streamed(tmp_path: Path) -> None:
    path = tmp_path / "stream.jsonl"
    lines = [
        {"session_id": "a", "role_type": "user", "content": "one"},
        {"session_id": "b", "role_type": "user", "content": "two"},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n{not json\n")
    sessions: Iterator[SessionImport] = ZepImporter().read(path)
    assert next(sessions).session_id == "a"  # yielded before the bad line is read
    with pytest.raises(ImportFileError, match=r"stream\.jsonl:3: invalid JSON"):
        next(sessions)


# --- errors --------------------------------------------------------------------------


def test_malformed_json_names_the_line() -> None:
    message = error_for(FIXTURES / "malformed.json")
    assert message.startswith(f"{FIXTURES / 'malformed.json'}:5: invalid JSON")
    assert "Expecting ',' delimiter" in message


def test_bad_jsonl_line_names_the_line() -> None:
    assert f"{FIXTURES / 'bad-line3.jsonl'}:3: invalid JSON" in error_for(
        FIXTURES / "bad-line3.jsonl"
    )


def test_unknown_role_type() -> None:
    message = error_for(FIXTURES / "bad-role-type.jsonl")
    assert message.startswith(f"{FIXTURES / 'bad-role-type.jsonl'}:2: unknown role_type 'robot'")


def test_missing_content_names_the_record() -> None:
    message = error_for(FIXTURES / "missing-content.json")
    assert message == f"{FIXTURES / 'missing-content.json'}:3: [1]: message has no content"


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"role_type": "user", "content": 5}, "content must be a string, got a number"),
        ({"role_type": "user", "content": "x", "metadata": [1]}, "metadata must be an object"),
        ({"role_type": "user", "content": "x", "uuid": "nope"}, "uuid is not a UUID"),
        ({"role_type": "user", "content": "x", "created_at": "May 1st"}, "not an ISO 8601"),
        ({"role": 7, "content": "x"}, "role must be a string"),
        ("just text", "expected a message or session object, got a string"),
        ({"session_id": ""}, "session_id must be a non-empty string"),
    ],
)
def test_wrong_types_name_line_and_reason(tmp_path: Path, record: object, expected: str) -> None:
    path = tmp_path / "bad.jsonl"
    good = {"session_id": "s", "role_type": "user", "content": "fine"}
    path.write_text(json.dumps(good) + "\n" + json.dumps(record) + "\n")
    message = error_for(path)
    assert message.startswith(f"{path}:2: ")
    assert expected in message


def test_nested_message_error_names_the_record_path(tmp_path: Path) -> None:
    path = tmp_path / "nested.json"
    doc = [{"session_id": "a", "messages": [{"content": "ok"}, {"role": "x"}]}]
    path.write_text(json.dumps(doc))
    assert error_for(path) == f"{path}:1: [0].messages[1]: message has no content"


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(ImportFileError) as caught:
        detect_importer(missing)
    assert str(caught.value) == f"{missing}: No such file or directory"
    with pytest.raises(ImportFileError, match="is a directory"):
        detect_importer(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"content": "ok", "role_type": "user"}\n{"content": "caf\xe9"}\n')
    assert error_for(path) == f"{path}:2: not UTF-8 text"


# --- the plug-in registry ------------------------------------------------------------


def test_registry_and_detection(tmp_path: Path) -> None:
    zep = get_importer("zep")
    assert isinstance(zep, Importer)
    assert zep in importers()
    assert detect_importer(FIXTURES / "session-v2.json") is zep
    assert detect_importer(FIXTURES / "messages.jsonl") is zep
    text = tmp_path / "notes.txt"
    text.write_text("hello, these are notes\n")
    with pytest.raises(ImportFileError, match="unrecognised format"):
        detect_importer(text)
    with pytest.raises(ValueError, match="unknown import format 'nope'"):
        get_importer("nope")


def test_error_str_shapes() -> None:
    assert str(ImportFileError("f.jsonl", 3, "bad")) == "f.jsonl:3: bad"
    assert str(ImportFileError("f.json", None, "bad", record="[2]")) == "f.json: [2]: bad"
    assert str(ImportFileError("f.json", None, "bad")) == "f.json: bad"


# --- with the real store ---------------------------------------------------------------


def test_failing_file_leaves_the_store_unchanged(tmp_path: Path) -> None:
    from storage.duckdb import DuckDBStore

    with DuckDBStore(tmp_path / "z.duckdb", summarizer=None) as store:
        import_file(store, FIXTURES / "session-v2.json")
        before = store.stats()
        with pytest.raises(ImportFileError, match=":3: invalid JSON"):
            import_file(store, FIXTURES / "bad-line3.jsonl")
        assert store.stats() == before
        assert store.session_page().total_count == 1


def test_reimport_adds_nothing(tmp_path: Path) -> None:
    from storage.duckdb import DuckDBStore

    with DuckDBStore(tmp_path / "z.duckdb", summarizer=None) as store:
        first = import_file(store, FIXTURES / "messages.jsonl").result
        again = import_file(store, FIXTURES / "messages.jsonl").result
        assert (first.messages_added, first.sessions_created, first.users_created) == (4, 2, 1)
        assert (again.messages_added, again.messages_skipped) == (0, 4)
        assert store.get_user("carol").user_id == "carol"
        assert [m.content for m in store.list_messages("chat-a").messages] == [
            "Hello from A.",
            "Hi Carol.",
            "Back in A.",
        ]
