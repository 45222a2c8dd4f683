"""WHERE clauses from the filters of a query: one builder for session pages and search.

Both filter by user, by metadata `key=value` (a dotted key reaches into nested
objects) and by a range of creation times: those conditions are written here once,
on whichever table's columns the caller names. Search adds Zep's metadata filters
(storage/metadata_filter.py), compiled here to SQL whose every key and value is a
parameter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from storage.duckdb.rows import to_db_time
from storage.metadata import json_path
from storage.metadata_filter import (
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    Element,
    Exists,
    Member,
    Scalar,
    Step,
)
from storage.metadata_filter import (
    Where as Filter,
)


class Filtered(Protocol):
    """The filters session pages and search share (SessionQuery, SearchQuery)."""

    @property
    def user_id(self) -> str | None: ...
    @property
    def metadata(self) -> dict[str, str]: ...
    @property
    def created_after(self) -> datetime | None: ...
    @property
    def created_before(self) -> datetime | None: ...


class Where:
    """Conditions joined by AND, with their parameters in order."""

    def __init__(self, *conditions: str) -> None:
        self.conditions = list(conditions)
        self.params: list[Any] = []

    def add(self, condition: str, *params: Any) -> None:
        """One condition and its parameters."""
        self.conditions.append(condition)
        self.params.extend(params)

    def equals(self, column: str, value: Any) -> None:
        """`column = value`, unless `value` is None (no filter)."""
        if value is not None:
            self.add(f"{column} = ?", value)

    def metadata(self, column: str, pairs: dict[str, str]) -> None:
        """The JSON object in `column` has each `key=value` (dotted keys go deep)."""
        for key, value in sorted(pairs.items()):
            self.add(f"json_extract_string({column}, ?) = ?", json_path(key), value)

    def created(self, column: str, after: datetime | None, before: datetime | None) -> None:
        """`after <= column < before`, each bound when given."""
        if after is not None:
            self.add(f"{column} >= ?", to_db_time(after))
        if before is not None:
            self.add(f"{column} < ?", to_db_time(before))

    def matches(self, column: str, condition: Condition | None) -> None:
        """The JSON in `column` satisfies Zep's metadata filter `condition`."""
        if condition is not None:
            compiler = _FilterCompiler()
            self.add(compiler.condition(condition, f"{column}::JSON"), *compiler.params)

    def common(self, query: Filtered, table: str) -> None:
        """What session pages and search both filter on: the session's user (`s`), and
        `table`'s metadata and creation time."""
        self.equals("s.user_id", query.user_id)
        self.metadata(f"{table}.metadata", query.metadata)
        self.created(f"{table}.created_at", query.created_after, query.created_before)

    @property
    def sql(self) -> str:
        """The conditions as one SQL condition (TRUE when there are none)."""
        return " AND ".join(self.conditions) if self.conditions else "TRUE"


# --- Zep's metadata filters -------------------------------------------------------------

_NUMBER_TYPES = "('BIGINT', 'UBIGINT', 'HUGEINT', 'UHUGEINT', 'DOUBLE')"
_EMPTY = "[]::JSON[]"


class _FilterCompiler:
    """A metadata filter as one SQL condition over lists of JSON items, step by step as
    docs/zep-compatibility.md describes them; keys and values go into `params`, in the
    order of their `?` in the text."""

    def __init__(self) -> None:
        self.params: list[Any] = []
        self._names = 0

    def _name(self) -> str:
        self._names += 1
        return f"v{self._names}"

    def condition(self, node: Condition, item: str) -> str:
        """`node` for the JSON value `item` (the record's metadata, or `@`)."""
        if isinstance(node, AllOf | AnyOf):
            joiner = " AND " if isinstance(node, AllOf) else " OR "
            return "(" + joiner.join(self.condition(part, item) for part in node.parts) + ")"
        if isinstance(node, Exists):
            return f"len({self._path(node.path, self._start(item))}) > 0"
        return self._comparison(node, item)

    @staticmethod
    def _start(item: str) -> str:
        return f"list_filter([{item}], lambda v0: v0 IS NOT NULL)"

    def _unwrapped(self, items: str) -> str:
        """Lax mode: each array in `items` stands for its elements."""
        v = self._name()
        return (
            f"flatten(list_transform({items}, lambda {v}: CASE WHEN json_type({v}) = 'ARRAY' "
            f"THEN json_extract({v}, '$[*]') ELSE [{v}] END))"
        )

    def _path(self, steps: tuple[Step, ...], items: str) -> str:
        for step in steps:
            items = self._step(step, items)
        return items

    def _step(self, step: Step, items: str) -> str:
        v = self._name()
        if isinstance(step, Member):
            self.params.append("/" + step.key.replace("~", "~0").replace("/", "~1"))
            return (
                f"list_filter(list_transform(list_filter({self._unwrapped(items)}, "
                f"lambda {v}: json_type({v}) = 'OBJECT'), lambda {v}: json_extract({v}, ?)), "
                f"lambda {v}: {v} IS NOT NULL)"
            )
        if isinstance(step, Element):
            if step.index is None:
                return self._unwrapped(items)
            self.params.extend([f"/{step.index}", step.index])
            w = self._name()
            return (
                f"flatten(list_transform({items}, lambda {v}: CASE WHEN json_type({v}) = 'ARRAY' "
                f"THEN list_filter([json_extract({v}, ?)], lambda {w}: {w} IS NOT NULL) "
                f"WHEN ? = 0 THEN [{v}] ELSE {_EMPTY} END))"
            )
        assert isinstance(step, Filter)
        unwrapped = self._unwrapped(items)
        return f"list_filter({unwrapped}, lambda {v}: {self.condition(step.predicate, v)})"

    def _comparison(self, node: Comparison, item: str) -> str:
        values = self._unwrapped(self._path(node.path, self._start(item)))
        v = self._name()
        return (
            f"len(list_filter({values}, lambda {v}: {self._compare(v, node.op, node.value)})) > 0"
        )

    def _compare(self, v: str, op: str, value: Scalar) -> str:
        kind = f"json_type({v})"
        if value is None:  # null equals null and is neither above nor below it
            return {"!=": f"{kind} <> 'NULL'", "<": "FALSE", ">": "FALSE"}.get(
                op, f"{kind} = 'NULL'"
            )
        if isinstance(value, bool):
            same = f"{kind} = 'BOOLEAN' AND TRY_CAST({v} AS BOOLEAN) {op} ?"
        elif isinstance(value, str):
            same = f"{kind} = 'VARCHAR' AND ({v} ->> '$') {op} ?"
        else:
            same = f"{kind} IN {_NUMBER_TYPES} AND TRY_CAST({v} AS DOUBLE) {op} ?::DOUBLE"
        self.params.append(value)
        # SQL/JSON: null != anything that is not null.
        return f"({kind} = 'NULL' OR ({same}))" if op == "!=" else f"({same})"
