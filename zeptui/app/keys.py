"""The app's key bindings by id, and the user's keymap (`[app.keys]` in the config file).

Every binding in `zeptui/app` has a stable `id` (listed in the README). The config
file rebinds one with `id = "keys"` (a comma-separated string or a list of keys);
the app hands the result to Textual's keymap support (`App.set_keymap`), so the
footer, the help screen and the command palette show the keys in use. A binding id
the app does not have, or a key Textual cannot name, is left out and reported in one
line: the app still starts.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from textual.binding import Binding
from textual.keys import REPLACED_KEYS, Keys, _character_to_key, key_to_character

MODIFIERS = frozenset({"ctrl", "alt", "shift", "meta", "super", "hyper"})
_NAMED_KEYS = frozenset(key.value for key in Keys) | frozenset(REPLACED_KEYS)

_KEY_NAMES = {
    # Textual's names for characters that are not Unicode character names.
    "slash": "/",
    "backslash": "\\",
    "plus": "+",
    "minus": "-",
    "at": "@",
    "underscore": "_",
    # Shorter names for a few keys.
    "escape": "esc",
    "pageup": "page up",
    "pagedown": "page down",
}


def readable_key(key: str) -> str:
    """A key as a person writes it: `ctrl+t` stays, `question_mark` is `?`, `slash` is `/`."""
    *modifiers, name = key.strip().split("+")
    character = key_to_character(name)
    if name in _KEY_NAMES:
        shown = _KEY_NAMES[name]
    elif character is not None and character.isprintable() and not character.isspace():
        shown = character
    else:
        shown = name
    return "+".join([*modifiers, shown])


def readable_keys(keys: str) -> str:
    """A comma-separated key list as a person writes it (`j, down`)."""
    return ", ".join(readable_key(key) for key in keys.split(",") if key.strip())


def key_problem(key: str) -> str | None:
    """Why Textual cannot bind `key` (`ctrl+n`, `f2`, `?`, `question_mark`), or None."""
    if key == "+":
        return None
    *modifiers, name = key.split("+")
    for modifier in modifiers:
        if modifier not in MODIFIERS:
            return f"{modifier or 'an empty part'} is not a modifier"
    if not name.strip():
        return "no key named"
    if len(name) == 1 and name.isprintable():
        return None
    if name in _NAMED_KEYS or key_to_character(name) is not None:
        return None
    return f"{name} is not a key"


@dataclass
class Keymap:
    """The user's rebindings: binding id -> Textual key list (`ctrl+n,f2`)."""

    keys: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    """What was left out, one phrase each."""

    @classmethod
    def read(cls, table: object) -> Keymap:
        """The keymap in `[app.keys]` (a table of id = "keys" or id = ["keys"]); keys
        that cannot be bound are left out, with the reason in `problems`."""
        keymap = cls()
        if table is None:
            return keymap
        if not isinstance(table, Mapping):
            keymap.problems.append("app.keys must be a table of binding id = keys")
            return keymap
        for binding_id, value in table.items():
            keys = value.split(",") if isinstance(value, str) else value
            if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
                keymap.problems.append(f"{binding_id}: give a key or a list of keys")
                continue
            normal = [_character_to_key(k) if len(k) == 1 else k.strip() for k in keys]
            bad = next(((k, p) for k in normal if (p := key_problem(k)) is not None), None)
            if bad is not None:
                keymap.problems.append(f"{binding_id} = {bad[0]!r}: {bad[1]}")
                continue
            keymap.keys[str(binding_id)] = ",".join(normal)
        return keymap

    def unknown(self, known: Iterable[str]) -> list[str]:
        """The ids in this keymap that no binding has."""
        return sorted(set(self.keys) - set(known))

    def keys_of(self, binding: Binding) -> str:
        """The keys `binding` answers to now (rebound or its own)."""
        if binding.id is not None and binding.id in self.keys:
            return self.keys[binding.id]
        return binding.key

    def shown_keys(self, binding: Binding) -> str:
        """`binding`'s keys as a person writes them (its own key_display unless rebound)."""
        if binding.key_display and (binding.id is None or binding.id not in self.keys):
            return binding.key_display
        return readable_keys(self.keys_of(binding))

    def keys_for(self, binding_id: str) -> str:
        """The keys of the app's bindings with `binding_id`, as a person writes them
        ("" when there is none)."""
        if binding_id in self.keys:
            return readable_keys(self.keys[binding_id])
        shown = [self.shown_keys(binding) for binding in app_bindings().get(binding_id, [])]
        return ", ".join(dict.fromkeys(shown))


def _classes_with_bindings(root: type) -> Iterator[type]:
    seen: set[type] = set()
    pending = [root]
    while pending:
        cls = pending.pop()
        subclasses: list[type] = cls.__subclasses__()
        for sub in subclasses:
            if sub not in seen:
                seen.add(sub)
                pending.append(sub)
                if sub.__module__.startswith("zeptui.app") and "BINDINGS" in vars(sub):
                    yield sub


@functools.cache
def app_bindings() -> dict[str, list[Binding]]:
    """Every binding of the app's classes, by id (importing every screen and widget
    module of `zeptui.app`, so call it when they are needed, not at start-up)."""
    from textual.dom import DOMNode

    import zeptui.app.app  # noqa: F401  (its classes' bindings)

    for package in ("screens", "widgets"):
        module = importlib.import_module(f"zeptui.app.{package}")
        for info in pkgutil.iter_modules(module.__path__):
            importlib.import_module(f"{module.__name__}.{info.name}")
    found: dict[str, list[Binding]] = {}
    for cls in _classes_with_bindings(DOMNode):
        for binding in Binding.make_bindings(vars(cls)["BINDINGS"]):
            found.setdefault(binding.id or "", []).append(binding)
    return found
