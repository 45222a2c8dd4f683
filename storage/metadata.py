"""Zep's metadata rules: deep merge, and the reserved `system` key."""

from __future__ import annotations

import copy
from typing import Any

SYSTEM_KEY = "system"
"""Top-level key reserved for Zep's enrichment (entities, intent)."""


def merge_metadata(
    stored: dict[str, Any] | None, update: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Deep-merge `update` into `stored`, as Zep's `mergo.Merge(..., WithOverride)`.

    Nested objects merge key by key; scalars and arrays are replaced; an explicit
    `None` sets the key to None (it does not delete it). Neither input is changed.
    """
    if update is None:
        return copy.deepcopy(stored)
    result = copy.deepcopy(stored) if stored else {}
    for key, value in update.items():
        current = result.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            result[key] = merge_metadata(current, value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def without_system(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
    """The update with the reserved `system` key dropped (unprivileged updates)."""
    if metadata is None:
        return None
    return {key: value for key, value in metadata.items() if key != SYSTEM_KEY}


def json_path(dotted_key: str) -> str:
    """A DuckDB JSON path for a dotted key: `a.b` becomes `$."a"."b"`."""
    parts = dotted_key.split(".")
    return "$" + "".join('."' + part.replace('"', '\\"') + '"' for part in parts)
