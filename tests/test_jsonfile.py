"""The streaming JSON reader the importers share: the same values as `json.loads`
whatever the window size, big values read lazily or skipped, exact error locations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.examples import examples
from zeptui.importers import ImportFileError, ReadContext, _jsonfile, _jsonstream
from zeptui.importers._jsonstream import JsonStream, Lazy, json_document

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


def stream(path: Path, context: ReadContext | None = None) -> list[Any]:
    """The items of the file's top-level array, decoded one at a time."""
    with json_document(path, context or ReadContext()) as root:
        assert isinstance(root, Lazy) and not root.is_object
        return [_jsonstream.whole(value) for _, value in root.items()]


@pytest.fixture
def tiny_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refill every few characters, so every item crosses window edges."""
    monkeypatch.setattr(JsonStream, "CHUNK", 5)


@settings(max_examples=examples(75), deadline=None)
@given(items=st.lists(json_values, max_size=8), indent=st.sampled_from([None, 0, 2]))
def test_items_equal_json_loads_across_window_edges(
    tmp_path_factory: pytest.TempPathFactory, items: list[Any], indent: int | None
) -> None:
    path = tmp_path_factory.mktemp("s") / "a.json"
    path.write_text(json.dumps(items, indent=indent, ensure_ascii=False), encoding="utf-8")
    original = JsonStream.CHUNK
    try:
        for chunk in (1, 3, 64, original):
            JsonStream.CHUNK = chunk
            assert stream(path) == json.loads(path.read_text(encoding="utf-8"))
    finally:
        JsonStream.CHUNK = original


def test_numbers_at_a_window_edge_are_not_cut(tmp_path: Path, tiny_window: None) -> None:
    path = tmp_path / "n.json"
    path.write_text('[1234567890123, 98765.4321e3, true, null, "ünïcødé 🚀"]')
    assert stream(path) == [1234567890123, 98765.4321e3, True, None, "ünïcødé 🚀"]


def test_an_object_reads_as_members_and_bom_and_blanks_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "o.json"
    path.write_text('{"a": 1}')
    with json_document(path, ReadContext()) as root:
        assert isinstance(root, Lazy) and root.is_object
        assert [(key, value) for key, _, value in root.members()] == [("a", 1)]
    path.write_bytes(b"\xef\xbb\xbf \n\t[ ]\n")
    assert stream(path) == []


@pytest.mark.parametrize("window", [5, 1 << 20])
def test_truncated_file_yields_complete_items_then_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    monkeypatch.setattr(JsonStream, "CHUNK", window)
    path = tmp_path / "cut.json"
    path.write_text('[\n  {"a": 1},\n  {"b": [2, 3]},\n  {"c": "unfinish')
    with pytest.raises(ImportFileError) as caught:
        stream(path)
    assert str(caught.value) == (
        f"{path}:4: truncated JSON: the file ends in the middle of a value; "
        "2 complete records before it recovered"
    )
    context = ReadContext(skip_invalid=True)
    assert stream(path, context) == [{"a": 1}, {"b": [2, 3]}]
    assert context.skipped_count == 1


@pytest.mark.parametrize("window", [5, 1 << 20])
def test_error_locations_match_json_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    monkeypatch.setattr(JsonStream, "CHUNK", window)
    minified = json.dumps([{"k": "v" * 40}] * 30, separators=(",", ":"))
    cut = minified.index("},{", 600) + 1
    broken = minified[:cut] + "}" + minified[cut:]  # one line: a stray } at column ~650
    for text in (broken, broken.replace("},{", "},\n  {")):
        path = tmp_path / "broken.json"
        path.write_text(text)
        with pytest.raises(json.JSONDecodeError) as expected:
            json.loads(text)
        with pytest.raises(ImportFileError) as caught:
            stream(path)
        assert caught.value.line == expected.value.lineno
        assert f"(column {expected.value.colno})" in caught.value.reason


def test_extra_data_after_the_array(tmp_path: Path) -> None:
    path = tmp_path / "extra.json"
    path.write_text('[{"a": 1}] {"b": 2}')
    context = ReadContext(skip_invalid=True)
    assert stream(path, context) == [{"a": 1}]
    assert "invalid JSON: Extra data (column 12)" in str(context.skipped[0])


def test_missing_comma_between_items(tmp_path: Path) -> None:
    path = tmp_path / "comma.json"
    path.write_text('[{"a": 1}\n {"b": 2}]')
    with pytest.raises(ImportFileError, match=r"comma.json:2: invalid JSON: Expecting ','"):
        stream(path)


def test_jsonl_detection_reads_long_first_lines_in_bounded_pieces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_jsonfile, "FIRST_LINE_LIMIT", 64)
    minified = tmp_path / "conversations.json"  # one line: a JSON document, not JSONL
    minified.write_text(json.dumps([{"text": "x" * 50}] * 20) + "\n\n")
    assert not _jsonfile.is_jsonl(minified)
    long_lines = tmp_path / "lines.json"  # a long first line and more lines: JSONL
    long_lines.write_text(json.dumps({"text": "y" * 200}) + "\n" + json.dumps({"a": 1}) + "\n")
    assert _jsonfile.is_jsonl(long_lines)
    short_lines = tmp_path / "short.json"
    short_lines.write_text('{"a": 1}\n{"b": 2}\n')
    assert _jsonfile.is_jsonl(short_lines)
    pretty = tmp_path / "pretty.json"  # a document over several lines: its first line is no value
    pretty.write_text(json.dumps([{"a": 1}], indent=2))
    assert not _jsonfile.is_jsonl(pretty)
    blank = tmp_path / "blank.json"
    blank.write_text("\n  \n")
    assert not _jsonfile.is_jsonl(blank)


def materialize(value: Any) -> Any:
    """A value read through `Lazy` views, member by member and item by item."""
    if not isinstance(value, Lazy):
        return value
    if value.is_object:
        return {key: materialize(child) for key, _, child in value.members()}
    return [materialize(child) for _, child in value.items()]


@settings(max_examples=examples(50), deadline=None)
@given(
    document=json_values,
    lazy=st.integers(min_value=0, max_value=40),
    chunk=st.sampled_from([1, 4, 64]),
    skip_first=st.booleans(),
)
def test_lazy_views_read_what_json_loads_reads(
    tmp_path_factory: pytest.TempPathFactory,
    document: Any,
    lazy: int,
    chunk: int,
    skip_first: bool,
) -> None:
    """Objects and arrays longer than LAZY_CHARACTERS are read in parts (or skipped
    unread) across window edges, and what is read equals json.loads."""
    path = tmp_path_factory.mktemp("l") / "d.json"
    items = [document, {"after": document}]
    path.write_text(json.dumps(items, indent=1, ensure_ascii=False), encoding="utf-8")
    originals = (_jsonstream.LAZY_CHARACTERS, JsonStream.CHUNK)
    _jsonstream.LAZY_CHARACTERS, JsonStream.CHUNK = lazy, chunk
    try:
        context = ReadContext()
        read: list[Any] = []
        with json_document(path, context) as root:
            for index, (_, value) in enumerate(root.items()):
                if index == 0 and skip_first:
                    continue  # left unread: skipped
                read.append(materialize(value))
    finally:
        _jsonstream.LAZY_CHARACTERS, JsonStream.CHUNK = originals
    assert read == items[1:] if skip_first else items


def test_long_strings_are_skipped_without_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A string too long to decode, in a value left unread, is passed over in pieces,
    escapes across window edges included."""
    monkeypatch.setattr(_jsonstream, "MAX_RECORD_CHARACTERS", 50)
    monkeypatch.setattr(_jsonstream, "LAZY_CHARACTERS", 10)
    monkeypatch.setattr(JsonStream, "CHUNK", 7)
    long = 'a\\"b' * 40 + "\\"
    path = tmp_path / "s.json"
    path.write_text(json.dumps([{"text": long, "n": [1, 2]}, {"kept": True}]))
    read: list[Any] = []
    with json_document(path, ReadContext()) as root:
        for index, (_, value) in enumerate(root.items()):
            assert isinstance(value, Lazy)
            if index == 1:  # the first is left unread: skipped
                read.append(materialize(value))
    assert read == [{"kept": True}]
    too_long = r"s.json:1: \[0\]: a value longer than 0 MiB"
    with pytest.raises(ImportFileError, match=too_long), json_document(path, ReadContext()) as root:
        for _, value in root.items():
            _jsonstream.whole(value)
