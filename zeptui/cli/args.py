"""Option values the commands share: JSON objects, `key=value` filters, role types,
and the paging options with the command line of the next page."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from storage.paging import MAX_LIMIT, MAX_PAGE
from zeptui.cli.core import State
from zeptui.cli.errors import UserError, command_words

if TYPE_CHECKING:
    from storage.metadata_filter import Condition
    from storage.models import RoleType

SESSIONS_PAGE = 50
"""Sessions (and users) per page by default."""


def parse_json_object(value: str | None, option: str) -> dict[str, Any] | None:
    """A `--metadata JSON` value: must be a JSON object."""
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{option} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    if not isinstance(parsed, dict):
        raise UserError(f'{option} must be a JSON object, like \'{{"key": "value"}}\'')
    return parsed


def parse_filters(values: Sequence[str], option: str) -> dict[str, str]:
    """Repeated `key=value` options as a dict."""
    filters: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"{option} expects key=value, got {item!r}")
        filters[key] = value
    return filters


def parse_where_options(values: Sequence[str]) -> Condition | None:
    """Repeated `--where` options (a jsonpath, or a JSON `where` object) as one filter
    that all of them must satisfy; a UserError names what cannot be read."""
    from storage.metadata_filter import AllOf, FilterError, parse_jsonpath, parse_where

    conditions: list[Condition] = []
    for value in values:
        try:
            if value.lstrip().startswith("{"):
                conditions.append(parse_where(parse_json_object(value, "--where")))
            else:
                conditions.append(parse_jsonpath(value))
        except FilterError as error:
            raise UserError(f"--where {value!r}: {error}") from None
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else AllOf(tuple(conditions))


def parse_role_type(value: str) -> RoleType:
    """A role type name, or a UserError listing the valid ones."""
    from storage.models import RoleType

    try:
        return RoleType(value)
    except ValueError:
        expected = ", ".join(role_type.value for role_type in RoleType)
        raise UserError(f"unknown role_type {value!r} (expected one of {expected})") from None


def limit_option(default: int, noun: str) -> Callable[[Any], Any]:
    """`--limit N`: items per page, 0 for all."""
    return click.option(
        "--limit",
        type=click.IntRange(0, MAX_LIMIT),
        default=default,
        show_default=True,
        help=f"{noun.capitalize()} per page; 0 for all on one page.",
    )


page_option = click.option(
    "--page",
    type=click.IntRange(1, MAX_PAGE),
    default=1,
    show_default=True,
    help="Which page, counting from 1 (the list ends with the command for the next one).",
)


def page_offset(limit: int, page: int) -> int:
    """Items before `page`; a page past the first needs a limit."""
    if limit == 0 and page > 1:
        raise UserError("--page needs a --limit (with --limit 0 everything is on page 1)")
    return (page - 1) * limit


def next_page_command(ctx: click.Context, page: int) -> str:
    """The command line that shows `page` of the same listing (the options given, and
    --db if it was given), for the footer of a page."""
    words = command_words(ctx)
    for param in ctx.command.params:
        name = param.name or ""
        if name not in ctx.params or name == "page":
            continue
        if ctx.get_parameter_source(name) is not ParameterSource.COMMANDLINE:
            continue
        words += _command_line_words(param, ctx.params[name])
    state = ctx.find_object(State)
    if state is not None and state.db is not None:
        words += ["--db", str(state.db)]
    words += ["--page", str(page)]
    return " ".join(shlex.quote(word) for word in words)


def _command_line_words(param: click.Parameter, value: Any) -> list[str]:
    """How `value` of `param` is written on a command line."""
    if not isinstance(param, click.Option):
        return [str(item) for item in (value if isinstance(value, tuple) else (value,))]
    name = next((opt for opt in param.opts if opt.startswith("--")), param.opts[0])
    if param.is_flag:
        if value:
            return [name]
        return param.secondary_opts[:1]
    values = value if param.multiple else (value,)
    return [word for item in values for word in (name, str(item))]
