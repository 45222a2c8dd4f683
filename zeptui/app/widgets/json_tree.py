"""A tree view of a JSON value (metadata), literal and bounded.

Keys and values are data: labels are built as `rich.text.Text`, never parsed as
markup, and control characters are shown as visible escapes. Each node shows at
most `MAX_CHILDREN` children (then a "… N more" leaf), and deeper levels are
built only when a node is first expanded, so a huge value stays cheap.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from typing import ClassVar

from rich.text import Text, TextType
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from zeptui.render import sanitize

MAX_CHILDREN = 200
"""Children shown per object or list; the rest are counted in a "… N more" leaf."""

MAX_VALUE_CHARS = 1000
"""A scalar's rendering is cut after this many characters."""

EXPANDED_LEVELS = 2
"""Levels expanded by `show`: the root and its direct children."""


def literal(value: str) -> str:
    """`value` on one line, with control characters (newline and tab too) escaped."""
    return sanitize(value).replace("\n", "\\n").replace("\t", "\\t")


def _is_container(value: object) -> bool:
    return isinstance(value, Mapping) or (
        isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)
    )


def _scalar(value: object) -> Text:
    """JSON rendering of a scalar (strings quoted), cut to `MAX_VALUE_CHARS`."""
    try:
        rendered = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # pragma: no cover - default=str handles most
        rendered = repr(value)
    rendered = literal(rendered)
    if len(rendered) > MAX_VALUE_CHARS:
        rendered = f"{rendered[:MAX_VALUE_CHARS]}… ({len(rendered):,} chars)"
    style = "italic" if value is None or isinstance(value, bool) else ""
    return Text(rendered, style=style)


def _summary(value: object) -> Text:
    if isinstance(value, Mapping):
        count = len(value)
        return Text(f"{{{count:,} {'key' if count == 1 else 'keys'}}}", style="dim")
    assert isinstance(value, Sequence)
    count = len(value)
    return Text(f"[{count:,} {'item' if count == 1 else 'items'}]", style="dim")


def _label(key: str | None, value: object) -> Text:
    """`key: value` for a scalar, `key {N keys}` / `key [N items]` for a container."""
    label = Text()
    if key is not None:
        label.append(literal(key), style="bold")
        label.append(" " if _is_container(value) else ": ")
    label.append_text(_summary(value) if _is_container(value) else _scalar(value))
    return label


def _entries(value: object) -> Iterator[tuple[str, object]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key), item
    elif isinstance(value, Sequence):
        for index, item in enumerate(value):
            yield str(index), item


class JsonTree(Tree[object]):
    """An expandable view of a JSON value; node data is the JSON value at that node.

    `esc` hands the focus back to the widget around the tree.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "Back", tooltip="Out of a metadata tree", id="tree_leave"),
    ]

    DEFAULT_CSS: ClassVar[str] = """
    JsonTree {
        height: auto;
        max-height: 30;
        padding: 0 1;
    }
    """

    def __init__(
        self,
        label: str = "",
        *,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's parameter name
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(Text(label), None, name=name, id=id, classes=classes, disabled=disabled)
        self._populated: set[int] = set()

    def action_leave(self) -> None:
        """Focus the nearest focusable container (the inspector)."""
        for ancestor in self.ancestors:
            if isinstance(ancestor, Widget) and ancestor.can_focus:
                ancestor.focus()
                return

    def process_label(self, label: TextType) -> Text:
        """Labels are literal: a `str` is never parsed as markup."""
        text = Text(literal(label)) if isinstance(label, str) else label
        return text.split()[0]

    def show(self, value: object, label: str) -> None:
        """Replace the tree with `value`, under a root called `label`."""
        self.reset(_label(label, value), value)
        self._populated.clear()
        self.root.allow_expand = _is_container(value)
        if _is_container(value):
            self._populate(self.root, depth=1)
            self.root.expand()
        else:
            self.root.collapse()
        self.cursor_line = 0

    def _populate(self, node: TreeNode[object], depth: int) -> None:
        """Add `node`'s children; expand those above `EXPANDED_LEVELS` and fill them too."""
        if node.id in self._populated:
            return
        self._populated.add(node.id)
        value = node.data
        for key, item in islice(_entries(value), MAX_CHILDREN):
            if _is_container(item):
                child = node.add(_label(key, item), item, expand=depth < EXPANDED_LEVELS)
                if depth < EXPANDED_LEVELS:
                    self._populate(child, depth + 1)
            else:
                node.add_leaf(_label(key, item), item)
        total = len(value) if isinstance(value, Mapping | Sequence) else 0
        if total > MAX_CHILDREN:
            node.add_leaf(Text(f"… {total - MAX_CHILDREN:,} more", style="dim italic"))

    def _on_tree_node_expanded(self, event: Tree.NodeExpanded[object]) -> None:
        if _is_container(event.node.data):
            self._populate(event.node, depth=EXPANDED_LEVELS)
