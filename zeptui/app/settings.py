"""The app's remembered settings (the theme), in a small JSON file.

The file lives in the platform's user config directory, or in
`$ZEPTUI_CONFIG_DIR` when set (tests set it, so they never touch a real home);
the app's cache (`first_page`) then goes to its `cache` folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

CONFIG_ENV_VAR = "ZEPTUI_CONFIG_DIR"


def config_dir() -> Path:
    override = os.environ.get(CONFIG_ENV_VAR)
    if override:
        return Path(override)
    import platformdirs

    return platformdirs.user_config_path("zeptui")


def cache_dir() -> Path:
    """Where the app keeps what it can read again (the platform's user cache folder)."""
    override = os.environ.get(CONFIG_ENV_VAR)
    if override:
        return Path(override) / "cache"
    import platformdirs

    return platformdirs.user_cache_path("zeptui")


@dataclass
class Settings:
    theme: str = "textual-dark"

    @classmethod
    def path(cls) -> Path:
        return config_dir() / "settings.json"

    @classmethod
    def load(cls) -> Settings:
        """The saved settings; defaults when the file is missing or unreadable."""
        try:
            raw = json.loads(cls.path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        theme = raw.get("theme") if isinstance(raw, dict) else None
        return cls(theme=theme) if isinstance(theme, str) else cls()

    def save(self) -> None:
        """Write the settings; a read-only config dir is not an error worth a crash."""
        path = self.path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
            temporary.replace(path)
        except OSError:
            pass
