"""Driving the `zeptui` CLI in tests: a real DuckDB file in tmp_path, through click's
CliRunner or the installed console script in a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from zeptui import config
from zeptui.cli import cli


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`$ZEPTUI_DB` and every per-user directory point into tmp_path."""
    path = tmp_path / "zeptui.duckdb"
    monkeypatch.setenv("ZEPTUI_DB", str(path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("ZEPTUI_SUMMARIZER", raising=False)
    return path


@pytest.fixture(scope="session")
def samples_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every bundled sample imported once per test session, to copy from."""
    path = tmp_path_factory.mktemp("samples") / "samples.duckdb"
    with no_user_settings(path.parent / "config"):
        run("--db", path, "import", config.sample_data_dir())
    return path


@contextlib.contextmanager
def no_user_settings(config_dir: Path) -> Iterator[None]:
    """No setting from the environment, and the config file in `config_dir`: for
    fixtures wider than a test, which run before any test's own settings."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        for key in config.KEYS:
            for variable in key.env:
                monkeypatch.delenv(variable, raising=False)
        monkeypatch.setenv(config.CONFIG_DIR_ENV_VAR, str(config_dir))
        yield


@pytest.fixture
def samples(db: Path, samples_store: Path) -> Path:
    """`db` holding every bundled sample (a copy of the imported store)."""
    shutil.copyfile(samples_store, db)
    return db


def run(*args: str | Path, code: int | None = 0, stdin: str | None = None) -> Result:
    """`zeptui ARGS` in process; its exit code must be `code` (None: any)."""
    result = CliRunner().invoke(cli, [str(arg) for arg in args], input=stdin)
    if code is not None:
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    return result


def run_json(*args: str | Path) -> Any:
    return json.loads(run(*args, "--json").stdout)


def one_error_line(stderr: str) -> str:
    """The single `zeptui: error:` line a failed command printed, checked."""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("zeptui: error: "), lines[0]
    assert "Traceback" not in stderr
    return lines[0]


def fail(*args: str | Path, code: int = 1) -> str:
    """Run a command that must fail with one `zeptui: error:` line; return that line."""
    result = run(*args, code=code)
    assert result.stdout == ""
    return one_error_line(result.stderr)


def console_script() -> str:
    """The installed `zeptui` command."""
    script = Path(sys.executable).with_name("zeptui")
    found = str(script) if script.exists() else shutil.which("zeptui")
    assert found, "the zeptui console script is not installed: pip install -e '.[dev]'"
    return found


def script_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment for the console script with its data in tmp_path."""
    env = {
        **os.environ,
        "ZEPTUI_DB": str(tmp_path / "sub.duckdb"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "HOME": str(tmp_path / "home"),
        "COLUMNS": "200",
        "ZEPTUI_CONFIG_DIR": str(tmp_path / "config"),
    }
    for key in config.KEYS:
        for variable in key.env:
            env.pop(variable, None)
    env["ZEPTUI_DB"] = str(tmp_path / "sub.duckdb")
    env.update(extra)
    return env


def run_script(
    args: list[str | bytes | Path], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The console script with `args` (bytes pass through as raw argv bytes)."""
    argv = [arg if isinstance(arg, bytes) else str(arg) for arg in args]
    return subprocess.run(
        [console_script(), *argv], capture_output=True, text=True, env=env, timeout=timeout
    )


class Terminal:
    """The console script on a pseudo-terminal, as a person at a terminal runs it."""

    DEVICE = Path("<the terminal's device>")

    def __init__(
        self,
        args: list[str | Path],
        env: dict[str, str],
        preexec_fn: Callable[[], object] | None = None,
    ) -> None:
        self.master, slave = pty.openpty()
        self.device = os.ttyname(slave)
        """The terminal's device file (/dev/pts/N); `Terminal.DEVICE` in `args` names it."""
        argv = [self.device if arg is Terminal.DEVICE else str(arg) for arg in args]
        self.process = subprocess.Popen(
            [console_script(), *argv],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**env, "TERM": "xterm-256color"},
            close_fds=True,
            preexec_fn=preexec_fn,
        )
        os.close(slave)
        self.output = b""

    def read_until(self, expected: bytes, polls: int = 300) -> None:
        """Read the terminal until `expected` is in it (at most `polls` waits of up to
        0.1 s for output: bounded by count, so a loaded machine only makes it slower)."""
        for _ in range(polls):
            if expected in self.output:
                return
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:  # the process closed the terminal
                    break
        assert expected in self.output, f"never saw {expected!r} in {self.output[-2000:]!r}"

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def wait(self, polls: int = 300) -> int:
        """The exit code, reading the terminal meanwhile (at most `polls` looks of up
        to 0.1 s each: bounded by count, so a loaded machine only makes it slower)."""
        for _ in range(polls):
            if self.process.poll() is not None:
                return self.process.returncode
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:  # the process closed the terminal: it is ending
                    return self.process.wait(timeout=60)
        pytest.fail("the process did not exit")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        os.close(self.master)


@pytest.fixture
def terminal() -> Iterator[list[Terminal]]:
    """A list to put the Terminals a test starts in; they are stopped afterwards."""
    started: list[Terminal] = []
    yield started
    for term in started:
        term.close()
