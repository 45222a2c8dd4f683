"""The app's view of zeptui's settings: the theme it starts with, and remembers.

Read without pydantic (`zeptui.config`), before the first frame; a change of theme
is written to the config file (`app.theme`), leaving the file's other settings and
comments as they are. The app's cache goes to `zeptui.config.cache_dir()`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from zeptui import config
from zeptui.config import cache_dir

__all__ = ["Settings", "cache_dir"]

_log = logging.getLogger(__name__)


@dataclass
class Settings:
    theme: str = config.DEFAULT_THEME

    @classmethod
    def load(cls) -> Settings:
        """The theme the flags, environment and config file give; the default when
        the config file cannot be read (the CLI says why)."""
        try:
            found = config.read_layers().get("app.theme")
        except config.SettingsError:
            return cls()
        theme = found[0] if found else None
        return cls(theme=theme) if isinstance(theme, str) else cls()

    def save(self) -> None:
        """Remember the theme in the config file; a file that cannot be written (or is
        not valid TOML, which is left alone) is not worth a crash."""
        try:
            config.remember("app.theme", self.theme)
        except (OSError, config.SettingsError) as error:
            _log.info("the theme was not remembered: %s", error)
