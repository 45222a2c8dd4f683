"""The one way a command prints its result: Zep's JSON with `--json`, else for humans.

Every command ends with `respond(as_json, data, human)`: `data` (pydantic models,
lists or dicts of them, plain values) is printed as one JSON document, or `human`
prints on a Rich console that never interprets markup and never wraps into pipes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console


def json_option(help_text: str) -> Callable[[Any], Any]:
    """`--json`: print the result as JSON (`help_text` says what it is)."""
    return click.option("--json", "as_json", is_flag=True, help=help_text)


def jsonable(value: Any) -> Any:
    """`value` with every pydantic model in it dumped as JSON values."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    return value


def emit_json(value: Any) -> None:
    """One JSON document on stdout, non-ASCII kept as is (on a terminal, control
    characters that JSON leaves raw, such as C1 and bidi controls, as `\\uXXXX`)."""
    text = json.dumps(jsonable(value), ensure_ascii=False, indent=2)
    if sys.stdout.isatty():
        from zeptui.text import json_safe

        text = json_safe(text)
    click.echo(text)


def respond(as_json: bool, data: Any, human: Callable[[Console], object]) -> None:
    """Print a command's result: `data` as JSON, or `human(console)` for people."""
    if as_json:
        emit_json(data)
        return
    from zeptui import render

    human(render.make_console())
