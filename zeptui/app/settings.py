"""The app's view of zeptui's settings: the theme it starts with (and remembers), the
message window and the user's keymap (`[app.keys]`, read by `zeptui.app.keys`).

Read without pydantic (`zeptui.config`), before the first frame; a change of theme
is written to the config file (`app.theme`), leaving the file's other settings and
comments as they are. The app's cache goes to `zeptui.config.cache_dir()`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from zeptui import config
from zeptui.app.keys import Keymap
from zeptui.config import cache_dir

__all__ = ["Settings", "cache_dir"]

_log = logging.getLogger(__name__)


@dataclass
class Settings:
    theme: str = config.DEFAULT_THEME
    message_window: int = config.DEFAULT_MESSAGE_WINDOW
    """The message window view's size at start: the store's window (`memory.message_window`)."""
    summarizer: str = "extractive"
    """The summarizer the store's writes use, as `S` names it: `extractive`, or the LLM's model."""
    keymap: Keymap = field(default_factory=Keymap)
    """The user's rebindings (`app.keys`), with what could not be bound."""

    @classmethod
    def load(cls) -> Settings:
        """The theme and message window the flags, environment and config file give;
        the defaults when the config file cannot be read (the CLI says why) and for a
        value the store would refuse (the store's settings say why when it opens)."""
        try:
            found = config.read_layers()
        except config.SettingsError:
            return cls()
        settings = cls()
        theme = found.get("app.theme", (None,))[0]
        if isinstance(theme, str):
            settings.theme = theme
        window = str(found.get("memory.message_window", ("",))[0]).strip()
        if window.isdigit() and int(window) >= config.MIN_MESSAGE_WINDOW:
            settings.message_window = int(window)
        if str(found.get("summarizer.kind", ("",))[0]).strip() == "llm":
            model = str(found.get("summarizer.llm.model", ("",))[0]).strip()
            settings.summarizer = f"the LLM {model}" if model else "an LLM (no model set)"
        settings.keymap = Keymap.read(found.get("app.keys", (None,))[0])
        return settings

    def save(self) -> None:
        """Remember the theme in the config file; a file that cannot be written (or is
        not valid TOML, which is left alone) is not worth a crash."""
        try:
            config.remember("app.theme", self.theme)
        except (OSError, config.SettingsError) as error:
            _log.info("the theme was not remembered: %s", error)
