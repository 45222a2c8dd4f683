"""Fixtures shared by the tests: no test reads the developer's configuration, and the
CLI fixtures (defined in tests/cli_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

import tests.examples  # noqa: F401  (the Hypothesis profile, before any test module)
from tests.cli_helpers import db, samples, samples_store, terminal
from zeptui.config import CONFIG_DIR_ENV_VAR, KEYS

__all__ = ["db", "isolated_settings", "samples", "samples_store", "terminal"]


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The config file goes to tmp_path, and no setting comes from the environment the
    tests were started in (a test sets what it needs)."""
    for key in KEYS:
        for variable in key.env:
            monkeypatch.delenv(variable, raising=False)
    directory = tmp_path / "config"
    monkeypatch.setenv(CONFIG_DIR_ENV_VAR, str(directory))
    return directory
