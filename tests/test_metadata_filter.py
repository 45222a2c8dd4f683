"""Zep's metadata filters: what is read, what is refused, and that a store selects
exactly what a plain Python reading of the filter selects, over metadata of any shape."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.duckdb import DuckDBStore
from storage.metadata_filter import (
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    Element,
    Exists,
    FilterError,
    Member,
    Predicate,
    Scalar,
    Step,
    Where,
    parse_jsonpath,
    parse_metadata_filter,
    parse_where,
    where_json,
)
from storage.models import Message, SearchQuery
from tests.examples import examples

# --- the reference: the filter read in plain Python ------------------------------------


def _unwrap(items: list[Any]) -> list[Any]:
    return [element for item in items for element in (item if isinstance(item, list) else [item])]


def _items(steps: tuple[Step, ...], items: list[Any]) -> list[Any]:
    for step in steps:
        if isinstance(step, Member):
            items = [x[step.key] for x in _unwrap(items) if isinstance(x, dict) and step.key in x]
        elif isinstance(step, Element):
            if step.index is None:
                items = _unwrap(items)
            else:
                n = step.index
                items = [
                    x[n] if isinstance(x, list) else x
                    for x in items
                    if (isinstance(x, list) and n < len(x)) or (not isinstance(x, list) and n == 0)
                ]
        else:
            items = [x for x in _unwrap(items) if _holds(step.predicate, x)]
    return items


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else "other"


def _compare(item: Any, op: str, value: Scalar) -> bool:
    if _kind(item) != _kind(value):
        # SQL/JSON: null differs from anything else; other types do not compare.
        return op == "!=" and (item is None or value is None)
    if value is None:
        return op in ("==", "<=", ">=")
    left, right = (float(item), float(value)) if _kind(value) == "number" else (item, value)
    return {
        "==": left == right,
        "!=": left != right,
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }[op]


def _holds(node: Condition, item: Any) -> bool:
    if isinstance(node, AllOf):
        return all(_holds(part, item) for part in node.parts)
    if isinstance(node, AnyOf):
        return any(_holds(part, item) for part in node.parts)
    if isinstance(node, Exists):
        return bool(_items(node.path, [] if item is None else [item]))
    found = _unwrap(_items(node.path, [item]))
    return any(_compare(value, node.op, node.value) for value in found)


# --- strategies ------------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c", "a/b", "x~y", "", "0", "sp ace"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.5, -1.5, 2.0, 1e20]),
    st.sampled_from(["", "x", "y", "X", "é", "10", "2"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)
METADATA = st.one_of(st.none(), st.dictionaries(KEYS, VALUES, max_size=4))
OPS = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
SIMPLE_STEPS = st.lists(
    st.one_of(KEYS.map(Member), st.sampled_from([Element(None), Element(0), Element(1)])),
    max_size=3,
).map(tuple)
COMPARISONS = st.builds(Comparison, SIMPLE_STEPS, OPS, SCALARS)
PREDICATES: st.SearchStrategy[Predicate] = st.recursive(
    COMPARISONS,
    lambda inner: (
        st.builds(AllOf, st.lists(inner, min_size=2, max_size=3).map(tuple))
        | st.builds(AnyOf, st.lists(inner, min_size=2, max_size=3).map(tuple))
    ),
    max_leaves=4,
)
PATHS = st.lists(
    st.one_of(
        KEYS.map(Member),
        st.sampled_from([Element(None), Element(0), Element(1)]),
        PREDICATES.map(Where),
    ),
    max_size=3,
).map(tuple)
CONDITIONS: st.SearchStrategy[Condition] = st.recursive(
    PATHS.map(Exists),
    lambda inner: (
        st.builds(AllOf, st.lists(inner, min_size=2, max_size=3).map(tuple))
        | st.builds(AnyOf, st.lists(inner, min_size=2, max_size=3).map(tuple))
    ),
    max_leaves=3,
)


# --- the store selects what the reference selects ------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBStore]:
    path = tmp_path_factory.mktemp("filters") / "store.duckdb"
    with DuckDBStore(path, summarizer=None) as opened:
        yield opened


_sessions = count()


@settings(
    max_examples=examples(20),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    records=st.lists(METADATA, min_size=1, max_size=6),
    conditions=st.lists(CONDITIONS, min_size=1, max_size=2),
)
def test_a_filter_selects_what_the_reference_selects(
    store: DuckDBStore, records: list[dict[str, Any] | None], conditions: list[Condition]
) -> None:
    session_id = f"s{next(_sessions)}"
    stored = store.add_memory(
        session_id,
        [
            Message(role="u", role_type="user", content=f"message {n}", metadata=metadata)
            for n, metadata in enumerate(records)
        ],
    )
    for condition in conditions:
        where = where_json(condition)
        parsed = parse_where(where)
        assert parsed == condition, where  # the text reads back as the tree it came from
        query = SearchQuery(where=parsed, session_id=session_id, limit=1000)
        found = {result.message.uuid for result in store.search(query) if result.message}
        expected = {
            message.uuid
            for message, metadata in zip(stored, records, strict=True)
            if _holds(condition, metadata)
        }
        assert found == expected, (where, records)


# --- what is read --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        (
            '$[*] ? (@.foo == "bar")',
            Exists((Element(None), Where(Comparison((Member("foo"),), "==", "bar")))),
        ),
        (
            "$.system.entities[*] ? (@.Label == 'DATE')",
            Exists(
                (
                    Member("system"),
                    Member("entities"),
                    Element(None),
                    Where(Comparison((Member("Label"),), "==", "DATE")),
                )
            ),
        ),
        ("lax $.a[2]", Exists((Member("a"), Element(2)))),
        ('$."a b".c', Exists((Member("a b"), Member("c")))),
        (
            "$ ? (@.n >= 2 && (@.n < 5 || 10 <> @.m))",
            Exists(
                (
                    Where(
                        AllOf(
                            (
                                Comparison((Member("n"),), ">=", 2.0),
                                AnyOf(
                                    (
                                        Comparison((Member("n"),), "<", 5.0),
                                        Comparison((Member("m"),), "!=", 10.0),
                                    )
                                ),
                            )
                        )
                    ),
                )
            ),
        ),
        ("$ ? (3 < @.n)", Exists((Where(Comparison((Member("n"),), ">", 3.0)),))),
        (
            "$ ? (@.ok == true && @.gone == null)",
            Exists(
                (
                    Where(
                        AllOf(
                            (
                                Comparison((Member("ok"),), "==", True),
                                Comparison((Member("gone"),), "==", None),
                            )
                        )
                    ),
                )
            ),
        ),
    ],
)
def test_the_documented_forms_are_read(text: str, tree: Condition) -> None:
    assert parse_jsonpath(text) == tree


def test_where_groups_and_dates() -> None:
    found = parse_metadata_filter(
        {
            "where": {
                "or": [{"jsonpath": "$.a"}, {"and": [{"jsonpath": "$.b"}, {"jsonpath": "$.c"}]}]
            },
            "start_date": "2023-05-01",
            "end_date": "2023-06-01T00:00:00Z",
        }
    )
    assert found.where == AnyOf(
        (Exists((Member("a"),)), AllOf((Exists((Member("b"),)), Exists((Member("c"),)))))
    )
    assert (
        found.created_after is not None
        and found.created_after.isoformat() == "2023-05-01T00:00:00+00:00"
    )
    assert found.created_before is not None and found.created_before.microsecond == 1


@pytest.mark.parametrize(
    ("where", "words"),
    [
        ({"jsonpath": "strict $.a"}, "strict mode is not supported"),
        ({"jsonpath": "$.*"}, "wildcard"),
        ({"jsonpath": "$.a ? (!(@.b == 1))"}, "negation"),
        ({"jsonpath": "$ ? (exists(@.a))"}, "exists() is not supported"),
        ({"jsonpath": '$ ? (@.a like_regex "x")'}, "like_regex is not supported"),
        ({"jsonpath": '$ ? (@.a starts with "x")'}, "starts with is not supported"),
        ({"jsonpath": "$ ? (@.a == @.b)"}, "comparing two paths"),
        ({"jsonpath": "$ ? (@.a + 1 == 2)"}, "comparison operator"),
        ({"jsonpath": "$.a == 1"}, "not supported here"),
        ({"jsonpath": "$[1 to 2]"}, "slices"),
        ({"jsonpath": "a.b"}, "expected '$'"),
        ({"jsonpath": ""}, "expected '$'"),
        ({"jsonpath": 5}, "must be a string"),
        ({"jsonpath": "$", "not": []}, "where.not is not supported"),
        ({"and": {"jsonpath": "$"}}, "must be a list"),
        ({}, "is empty"),
        ("$.a", "must be an object"),
    ],
)
def test_what_is_not_read_is_refused_by_name(where: Any, words: str) -> None:
    with pytest.raises(FilterError, match=None) as raised:
        parse_where(where)
    assert words in str(raised.value)


def test_hostile_filters_are_refused_without_blowing_the_stack() -> None:
    deep: dict[str, Any] = {"jsonpath": "$"}
    for _ in range(5000):
        deep = {"and": [deep]}
    with pytest.raises(FilterError, match="nested too deep"):
        parse_where(deep)
    with pytest.raises(FilterError, match="too large"):
        parse_where({"or": [{"jsonpath": "$.a"}] * 1000})
    with pytest.raises(FilterError, match="nested too deep"):
        parse_jsonpath("$ ? " + "(" * 500 + "@ == 1" + ")" * 500)
    with pytest.raises(FilterError, match="longer than"):
        parse_jsonpath("$" + ".a" * 5000)
    with pytest.raises(FilterError, match=r"metadata\.foo is not a search filter"):
        parse_metadata_filter({"foo": 1})
    with pytest.raises(FilterError, match="not an ISO 8601"):
        parse_metadata_filter({"start_date": "2023-06-31"})
