"""Where `zeptui export` writes: never over the store, atomically onto files (through
symlinks, keeping permissions), as a stream to pipes and devices, and with control
characters escaped only when the output is a terminal."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from tests.cli_helpers import (
    Terminal,
    console_script,
    fail,
    no_user_settings,
    run,
    run_json,
    script_env,
)
from zeptui import config

OCTAVIA = config.sample_data_dir() / "octavia-butler.json"
HOSTILE = Path(__file__).parent / "fixtures" / "zep" / "hostile.json"


@pytest.fixture(scope="module")
def octavia_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OCTAVIA imported once per module, to copy from."""
    path = tmp_path_factory.mktemp("octavia") / "octavia.duckdb"
    with no_user_settings(path.parent / "config"):
        run("--db", path, "import", OCTAVIA)
    return path


@pytest.fixture
def store(db: Path, octavia_store: Path) -> Path:
    """`db` holding OCTAVIA (a copy)."""
    shutil.copyfile(octavia_store, db)
    return db


def exported(*args: str | Path) -> str:
    return run("export", *args).stdout


# --- never over the store ---------------------------------------------------------------


def test_export_onto_the_store_is_refused(store: Path, tmp_path: Path) -> None:
    before = run_json("stats")
    wal = store.with_name(store.name + ".wal")
    link = tmp_path / "link.json"
    link.symlink_to(store)
    hard = tmp_path / "hard.duckdb"
    os.link(store, hard)
    dotted = tmp_path / "sub" / ".." / store.name
    (tmp_path / "sub").mkdir()
    for target in (store, wal, link, hard, dotted, Path(os.path.relpath(store))):
        line = fail("export", "-o", target)
        assert "is the database itself" in line and str(store) in line, line
    assert run_json("stats") == before
    assert not wal.exists()


def test_export_to_stdout_redirected_onto_the_store_is_refused(store: Path, tmp_path: Path) -> None:
    env = script_env(tmp_path, ZEPTUI_DB=str(store))
    size = store.stat().st_size
    with store.open("ab") as appended:  # `zeptui export >> zeptui.duckdb`
        done = subprocess.run(
            [console_script(), "export"],
            stdout=appended,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=60,
        )
    assert done.returncode == 1 and "stdout is the database itself" in done.stderr
    assert store.stat().st_size == size
    assert run_json("stats")["messages"] == 12


# --- files, symlinks, pipes and devices -------------------------------------------------


def test_export_through_a_symlink_writes_the_target(store: Path, tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_text("old\n")
    target.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    run("export", "-o", link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == exported()
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "not-yet.json")
    run("export", "-o", dangling)
    assert dangling.is_symlink() and (tmp_path / "not-yet.json").read_text() == exported()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_export_to_a_fifo_streams(store: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    run("export", "--format", "zep-jsonl", "-o", fifo)
    reader.join(timeout=60)
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # still a FIFO, not replaced by a file
    assert received[0].decode() == exported("--format", "zep-jsonl")


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_export_to_a_device_writes_to_it(store: Path, tmp_path: Path) -> None:
    """A null device of the test's own (as root, replacing /dev/null itself would be
    the bug this guards against)."""
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    before = null.stat()
    run("export", "-o", null)
    after = null.stat()
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert after.st_ino == before.st_ino


def test_dash_is_stdout(store: Path) -> None:
    assert exported("-o", "-") == exported()
    assert json.loads(exported("-o", "-"))[0]["session_id"] == "octavia-butler"


def test_export_errors_name_the_target(store: Path, tmp_path: Path) -> None:
    missing_dir = tmp_path / "no" / "such" / "out.json"
    assert fail("export", "-o", missing_dir) == (
        f"zeptui: error: {missing_dir}: No such file or directory"
    )
    folder = tmp_path / "folder"
    folder.mkdir()
    assert "is a directory" in fail("export", "-o", folder)
    assert list(tmp_path.glob("**/*.tmp")) == []


# --- control characters: escaped on a terminal only -------------------------------------


def test_markdown_to_a_file_is_exact_and_to_a_terminal_escaped(
    db: Path, tmp_path: Path, terminal: list[Terminal]
) -> None:
    run("import", HOSTILE)
    out = tmp_path / "hostile.md"
    run("export", "--format", "markdown", "-o", out)
    exact = out.read_text()
    assert "\x1b[31mred\x1b[0m bell\x07" in exact  # the data, byte for byte
    assert exported("--format", "markdown") == exact  # a pipe gets it exact too

    env = script_env(tmp_path, ZEPTUI_DB=str(db))
    for output in ([], ["-o", Terminal.DEVICE]):  # stdout, and -o naming the terminal
        shown = Terminal(["export", "--format", "markdown", *output], env)
        terminal.append(shown)
        shown.read_until(b"red")
        assert shown.wait() == 0
        assert b"\x1b[31m" not in shown.output and b"\x07" not in shown.output
        assert b"\\x1b[31mred\\x1b[0m bell\\x07" in shown.output


def test_json_to_a_terminal_escapes_what_json_leaves_raw(
    db: Path, tmp_path: Path, terminal: list[Terminal]
) -> None:
    run("add", "s", "--role-type", "user", "--content", "csi\x9b31m bidi\u202e end")
    piped = json.loads(exported())
    assert piped[0]["messages"][0]["content"] == "csi\x9b31m bidi\u202e end"
    env = script_env(tmp_path, ZEPTUI_DB=str(db))
    for args in (["export"], ["show", "s", "--json"]):
        shown = Terminal(args, env)
        terminal.append(shown)
        assert shown.wait() == 0
        assert "\x9b".encode() not in shown.output and "\u202e".encode() not in shown.output
        assert b"csi\\u009b31m bidi\\u202e end" in shown.output
