"""Zep's metadata rules: deep merge, and the reserved `system` key."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

SYSTEM_KEY = "system"
"""Top-level key reserved for Zep's enrichment (entities, intent)."""
STAMP_LENGTH = 16
"""Hex digits of a metadata stamp (64 bits: two stamps do not collide by chance)."""


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


def metadata_stamp(metadata: dict[str, Any] | None) -> str | None:
    """A short fingerprint of metadata without its `system` key (None when nothing is
    left): two messages with different stamps may hold different metadata.

    The DuckDB store computes the same in SQL (storage/duckdb/inventory.py: the
    compact JSON text of `json_merge_patch`); a value written differently there
    (a float, an escape) only makes a stamp differ, and the caller compares the
    metadata itself before acting on it."""
    rest = without_system(metadata)
    if not rest:
        return None
    text = json.dumps(rest, ensure_ascii=False, separators=(",", ":"))
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()[:STAMP_LENGTH]
