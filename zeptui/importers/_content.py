"""Content shared by the OpenAI-style formats (OpenAI chat JSONL, LangChain): content
parts flattened to text, and tool calls rendered as compact JSON."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

from zeptui.importers._jsonfile import (
    optional_str,
    type_name,
)
from zeptui.importers._jsonstream import (
    Where,
    fail,
)

__all__ = ["PLACEHOLDERS", "TEXT_KEYS", "flatten_parts", "tool_calls_json"]

PLACEHOLDERS = {
    "image_url": "[image]",
    "input_image": "[image]",
    "image": "[image]",
    "input_audio": "[audio]",
    "audio": "[audio]",
    "file": "[file]",
    "input_file": "[file]",
}
"""Non-text part type → what stands for it in the text (others become `[type]`)."""

TEXT_KEYS = {"text": "text", "input_text": "text", "output_text": "text", "refusal": "refusal"}
"""Text part type → the key holding its text."""


def flatten_parts(path: Path, content: Any, where: Where, *, dropped: Collection[str] = ()) -> str:
    """A string, null, or a list of parts as text: text parts joined by newlines, other
    parts as placeholders, `dropped` part types left out; never `str()` of a dict."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise fail(path, where, f"content must be a string, list or null, got {type_name(content)}")
    texts: list[str] = []
    for index, part in enumerate(content):
        if isinstance(part, str):
            texts.append(part)
            continue
        child = where.child(f"[{index}]")
        if not isinstance(part, dict):
            raise fail(path, child, f"expected a content part, got {type_name(part)}")
        kind = optional_str(path, part, "type", child) or "text"
        if kind in TEXT_KEYS:
            texts.append(optional_str(path, part, TEXT_KEYS[kind], child) or "")
        elif kind not in dropped:
            texts.append(PLACEHOLDERS.get(kind, f"[{kind}]"))
    return "\n".join(text for text in texts if text)


def tool_calls_json(path: Path, raw: Any, where: Where) -> str:
    """Tool calls (OpenAI `{id, function: {name, arguments}}` or LangChain
    `{id, name, args}`) as compact JSON `[{"id", "name", "arguments"}]`; "" for none.
    Arguments given as JSON text are shown as JSON, not as a string."""
    if not raw:
        return ""
    if not isinstance(raw, list):
        raise fail(path, where, f"expected a list, got {type_name(raw)}")
    calls: list[dict[str, Any]] = []
    for index, call in enumerate(raw):
        if not isinstance(call, dict):
            raise fail(
                path, where.child(f"[{index}]"), f"expected a tool call, got {type_name(call)}"
            )
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        rendered: dict[str, Any] = {}
        if call.get("id") is not None:
            rendered["id"] = call["id"]
        rendered["name"] = function.get("name", call.get("name"))
        arguments = function.get("arguments", call.get("args", call.get("arguments")))
        if isinstance(arguments, str):
            with contextlib.suppress(json.JSONDecodeError):
                arguments = json.loads(arguments)
        rendered["arguments"] = arguments
        calls.append(rendered)
    return json.dumps(calls, ensure_ascii=False, separators=(",", ":"))
