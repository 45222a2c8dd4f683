"""Zep's metadata filters for search: the `where` tree of JSONPath queries, parsed.

A search request's `metadata` may hold `where` (and `start_date`/`end_date`, which
are creation-time bounds, not metadata). `where` is Zep's boolean overlay:
`{"jsonpath": "..."}`, `{"and": [...]}`, `{"or": [...]}`, nested. Each `jsonpath`
is a PostgreSQL SQL/JSON path run in lax mode against a record's metadata (Zep runs
`jsonb_path_exists`); zeptui reads this part of that language:

    $ . key  ."quoted key"  [*]  [N]  ? (PREDICATE)      steps, any number, any order
    @ PATH == != <> < <= > >= "string" | 'string' | number | true | false | null
    PREDICATE joined by && and ||, grouped with ( )

Everything else (`strict`, `.*`, `**`, `!`, `exists`, `like_regex`, `starts with`,
arithmetic, `$` inside a filter, ...) is refused with an error that names it. The
result is a tree of small frozen dataclasses that a store compiles to its own query
language (storage/duckdb/filters.py); docs/zep-compatibility.md states the meaning of
each step, the same in every store.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from storage.errors import InvalidInputError

MAX_DEPTH = 8
"""`and`/`or` nesting in `where`, and ( ) / filter nesting inside one jsonpath."""
MAX_NODES = 64
"""jsonpaths, comparisons, `and`/`or` groups and path steps in one filter, in all."""
MAX_JSONPATH_CHARS = 2_000

OPERATORS = ("==", "!=", "<", "<=", ">", ">=")
"""Comparison operators (`<>` is read as `!=`)."""


class FilterError(InvalidInputError):
    """A metadata filter outside the language zeptui reads; the message says where."""


# --- the tree --------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """`.key`: the key's value of an object (lax: of each object in an array)."""

    key: str


@dataclass(frozen=True)
class Element:
    """`[N]` (an index) or `[*]` (`index` None): array elements (lax: a non-array is an
    array of itself)."""

    index: int | None


@dataclass(frozen=True)
class Where:
    """`? (predicate)`: the items (lax: elements of arrays) for which it holds."""

    predicate: Predicate


Step = Member | Element | Where
Scalar = str | float | bool | None


@dataclass(frozen=True)
class Comparison:
    """`@path op value`: true when some item at `path` (arrays unwrapped one level)
    compares true with `value`; items of another type compare false, except that
    `!=` holds between null and a non-null (SQL/JSON's rule)."""

    path: tuple[Step, ...]
    op: str
    value: Scalar


@dataclass(frozen=True)
class Exists:
    """A `jsonpath` of `where`: the path, run on the metadata, reaches some item."""

    path: tuple[Step, ...]


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Condition, ...]


Predicate = Comparison | AllOf | AnyOf
Condition = Exists | Comparison | AllOf | AnyOf


@dataclass(frozen=True)
class MetadataFilter:
    """What a search request's `metadata` asks for: a `where` condition (or None) and
    creation-time bounds, `created_after <= created_at < created_before`."""

    where: Condition | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


# --- the request's `metadata` object ---------------------------------------------------


def parse_metadata_filter(metadata: dict[str, Any] | None) -> MetadataFilter:
    """The filter of a search request's `metadata` (`where`, `start_date`, `end_date`)."""
    if not metadata:
        return MetadataFilter()
    unknown = sorted(set(metadata) - {"where", "start_date", "end_date"})
    if unknown:
        raise FilterError(
            f"metadata.{unknown[0]} is not a search filter (use where, start_date, end_date)"
        )
    counter = _Budget()
    where = metadata.get("where")
    condition = None if where is None else _condition(where, "metadata.where", 1, counter)
    end = _date(metadata.get("end_date"), "end_date")
    return MetadataFilter(
        where=condition,
        created_after=_date(metadata.get("start_date"), "start_date"),
        # Zep compares `created_at <= end_date`; times are kept to the microsecond.
        created_before=None if end is None else end + timedelta(microseconds=1),
    )


def parse_where(where: Any) -> Condition:
    """A `where` tree (`{"jsonpath": ...}`, `{"and": [...]}`, `{"or": [...]}`)."""
    return _condition(where, "where", 1, _Budget())


def parse_jsonpath(text: str) -> Condition:
    """One jsonpath, as the only condition of a filter."""
    return _Parser(text, "jsonpath", _Budget()).jsonpath()


def where_json(condition: Condition) -> dict[str, Any]:
    """`condition` as Zep's `where` object (what `parse_where` reads back as it): for a
    store that sends filters on, such as a client of a Zep server."""
    if isinstance(condition, AllOf | AnyOf):
        key = "and" if isinstance(condition, AllOf) else "or"
        return {key: [where_json(part) for part in condition.parts]}
    if isinstance(condition, Exists):
        return {"jsonpath": "$" + _steps_text(condition.path)}
    return {"jsonpath": f"$ ? ({_predicate_text(condition)})"}


def _steps_text(steps: tuple[Step, ...]) -> str:
    out = ""
    for step in steps:
        if isinstance(step, Member):
            name = _NAME.fullmatch(step.key) and step.key not in _WORDS
            out += "." + (step.key if name else json.dumps(step.key, ensure_ascii=False))
        elif isinstance(step, Element):
            out += "[*]" if step.index is None else f"[{step.index}]"
        else:
            out += f" ? ({_predicate_text(step.predicate)})"
    return out


def _predicate_text(node: Condition) -> str:
    if isinstance(node, Exists):
        raise FilterError("a filter's predicate compares a path with a value")
    if isinstance(node, Comparison):
        value = json.dumps(node.value, ensure_ascii=False)
        return f"@{_steps_text(node.path)} {node.op} {value}"
    joiner = " && " if isinstance(node, AllOf) else " || "
    return "(" + joiner.join(_predicate_text(part) for part in node.parts) + ")"


def _date(value: Any, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise FilterError(f"metadata.{name} must be an ISO 8601 date or time string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(f"metadata.{name} {value!r} is not an ISO 8601 date or time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class _Budget:
    """Counts nodes, so that no filter costs more than MAX_NODES to compile or run."""

    def __init__(self) -> None:
        self.nodes = 0

    def spend(self, where: str) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise FilterError(f"{where}: the filter is too large (at most {MAX_NODES} parts)")


def _condition(node: Any, where: str, depth: int, budget: _Budget) -> Condition:
    if depth > MAX_DEPTH:
        raise FilterError(f"{where}: nested too deep (at most {MAX_DEPTH} levels)")
    if not isinstance(node, dict):
        raise FilterError(f"{where} must be an object with jsonpath, and or or")
    unknown = sorted(set(node) - {"jsonpath", "and", "or"})
    if unknown:
        raise FilterError(f"{where}.{unknown[0]} is not supported (use jsonpath, and, or)")
    if not node:
        raise FilterError(f"{where} is empty (give jsonpath, and or or)")
    budget.spend(where)
    parts: list[Condition] = []
    if "jsonpath" in node:
        text = node["jsonpath"]
        if not isinstance(text, str):
            raise FilterError(f"{where}.jsonpath must be a string")
        parts.append(_Parser(text, f"{where}.jsonpath", budget).jsonpath())
    for key, group in (("and", AllOf), ("or", AnyOf)):
        if key not in node:
            continue
        items = node[key]
        if not isinstance(items, list):
            raise FilterError(f"{where}.{key} must be a list")
        inner = tuple(
            _condition(item, f"{where}.{key}[{number}]", depth + 1, budget)
            for number, item in enumerate(items)
        )
        if inner:  # Zep adds nothing for an empty list
            parts.append(group(inner))
    # Zep joins the keys of one node with AND.
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


# --- one jsonpath ----------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    | (?P<op>==|!=|<>|<=|>=|<|>|&&|\|\||\*\*|[$@.?()\[\]*!,+/%=-])
    | (?P<name>[^\W\d]\w*)
    )""",
    re.VERBOSE,
)
_NAME = re.compile(r"[^\W\d]\w*")
_UNSUPPORTED_WORDS = {
    "strict": "strict mode",
    "lax": "",
    "exists": "exists()",
    "like_regex": "like_regex",
    "starts": "starts with",
    "is": "is unknown",
    "last": "last",
    "to": "array slices",
}


class _Parser:
    """Recursive descent over the tokens of one jsonpath."""

    def __init__(self, text: str, where: str, budget: _Budget) -> None:
        if len(text) > MAX_JSONPATH_CHARS:
            raise FilterError(f"{where} is longer than {MAX_JSONPATH_CHARS:,} characters")
        self.where = where
        self.budget = budget
        self.tokens = self._tokenize(text)
        self.at = 0

    def _tokenize(self, text: str) -> list[tuple[str, str]]:
        tokens: list[tuple[str, str]] = []
        text, position = text.strip(), 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise self.error(f"cannot read {text[position:].strip()[:20]!r}")
            kind = match.lastgroup or ""
            tokens.append((kind, match.group(kind)))
            position = match.end()
        return tokens

    def error(self, problem: str) -> FilterError:
        return FilterError(f"{self.where}: {problem}")

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if value is not None and token[1] != value:
            raise self.error(f"expected {value!r}, found {token[1] or 'the end'!r}")
        if token[0] == "end":
            raise self.error("unexpected end")
        self.at += 1
        return token

    def refuse_word(self, token: tuple[str, str]) -> None:
        if token[0] == "name" and token[1] in _UNSUPPORTED_WORDS:
            what = _UNSUPPORTED_WORDS[token[1]]
            if what:
                raise self.error(f"{what} is not supported")

    def jsonpath(self) -> Condition:
        first = self.peek()
        self.refuse_word(first)
        if first == ("name", "lax"):
            self.take()
        self.take("$")
        path = self.steps(depth=1)
        if self.peek()[0] != "end":
            raise self.error(f"{self.peek()[1]!r} is not supported here (a path ends there)")
        return Exists(path)

    def steps(self, depth: int) -> tuple[Step, ...]:
        steps: list[Step] = []
        while True:
            value = self.peek()[1]
            if value == ".":
                self.take()
                steps.append(Member(self.key()))
            elif value == "[":
                self.take()
                steps.append(self.element())
            elif value == "?":
                self.take()
                self.take("(")
                steps.append(Where(self.predicate(depth + 1)))
                self.take(")")
            else:
                return tuple(steps)
            self.budget.spend(self.where)

    def key(self) -> str:
        kind, value = self.take()
        if kind == "name":
            return value
        if kind == "string":
            return _string(value, self)
        if value in ("*", "**"):
            raise self.error(f"the wildcard .{value} is not supported (name the key)")
        raise self.error(f"expected a key after '.', found {value!r}")

    def element(self) -> Element:
        kind, value = self.take()
        if value == "*":
            self.take("]")
            return Element(None)
        if kind == "number" and re.fullmatch(r"\d+", value):
            index = int(value)
            if index > 1_000_000:
                raise self.error(f"array index {index} is too large")
            if self.peek()[1] != "]":
                raise self.error("array slices and lists are not supported ([N] or [*])")
            self.take("]")
            return Element(index)
        raise self.error(f"expected [N] or [*], found [{value}")

    def predicate(self, depth: int) -> Predicate:
        if depth > MAX_DEPTH:
            raise self.error(f"nested too deep (at most {MAX_DEPTH} levels)")
        parts = [self.conjunction(depth)]
        while self.peek()[1] == "||":
            self.take()
            parts.append(self.conjunction(depth))
        return parts[0] if len(parts) == 1 else AnyOf(tuple(parts))

    def conjunction(self, depth: int) -> Predicate:
        parts = [self.unary(depth)]
        while self.peek()[1] == "&&":
            self.take()
            parts.append(self.unary(depth))
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def unary(self, depth: int) -> Predicate:
        kind, value = self.peek()
        self.refuse_word((kind, value))
        if value == "(":
            self.take()
            inner = self.predicate(depth + 1)
            self.take(")")
            return inner
        if value == "!":
            raise self.error("negation (!) is not supported")
        self.budget.spend(self.where)
        if value == "@":
            self.take()
            path = self.steps(depth)
            op = self.operator()
            return Comparison(path, op, self.literal())
        if kind in ("string", "number") or (kind == "name" and value in _WORDS):
            literal = self.literal()
            op = self.operator()
            self.take("@")
            return Comparison(self.steps(depth), _FLIPPED[op], literal)
        if value == "$":
            raise self.error("'$' inside a filter is not supported (compare @ with a value)")
        raise self.error(f'expected a comparison such as @.key == "value", found {value!r}')

    def operator(self) -> str:
        kind, value = self.take()
        if value == "<>":
            return "!="
        if value in OPERATORS:
            return value
        if kind == "name":
            self.refuse_word((kind, value))
        raise self.error(
            f"expected a comparison operator ({', '.join(OPERATORS)}), found {value!r}"
        )

    def literal(self) -> Scalar:
        kind, value = self.take()
        if kind == "string":
            return _string(value, self)
        if kind == "number":
            number = float(value)
            if number != number or number in (float("inf"), float("-inf")):
                raise self.error(f"number {value} is out of range")
            return number
        if kind == "name" and value in _WORDS:
            return _WORDS[value]
        if value in ("@", "$"):
            raise self.error("comparing two paths is not supported (compare a path with a value)")
        raise self.error(
            f"expected a value (a string, number, true, false or null), found {value!r}"
        )


_WORDS: dict[str, Scalar] = {"true": True, "false": False, "null": None}
_FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _string(token: str, parser: _Parser) -> str:
    body = token[1:-1]
    if token[0] == "'":  # Zep turns ' into " before PostgreSQL reads the path
        body = body.replace('"', '\\"').replace("\\'", "'")
    try:
        value = json.loads(f'"{body}"')
    except ValueError:
        raise parser.error(f"cannot read the string {token[:40]}") from None
    assert isinstance(value, str)
    return value
