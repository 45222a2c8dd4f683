"""The database file under the CLI: a missing path is never created by a read, a store
that is read-only, damaged, on a full disk or in a read-only directory gives one line
and stays as it was, and Ctrl-C during an import rolls back and exits 130.

Mount tricks (a read-only directory, a full disk) run in a private mount namespace
(`unshare --mount`), so nothing outside the test sees them; they need root.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli_helpers import (
    Terminal,
    console_script,
    fail,
    one_error_line,
    run,
    run_json,
    run_script,
    script_env,
)
from tests.holders import held_database
from tests.store_tables import every_table
from zeptui import config

SAMPLES = config.sample_data_dir()
READS = [
    ["sessions"],
    ["show", "octavia-butler"],
    ["messages", "octavia-butler"],
    ["search", "butler"],
    ["stats"],
    ["export"],
    ["users"],
    ["users", "list"],
    ["users", "show", "jane"],
    ["users", "sessions", "jane"],
    [],  # the app; with output not on a terminal, the session list
]
CHANGES = [  # writes that need something to change: an empty store cannot have it
    ["delete", "octavia-butler"],
    ["purge", "--yes"],
    ["summarize", "octavia-butler"],
    ["users", "update", "jane", "--email", "j@example.com"],
    ["users", "delete", "jane"],
]
CREATES = [
    ["add", "s1", "--role-type", "user", "--content", "hi"],
    ["import", SAMPLES / "octavia-butler.json"],
    ["users", "add", "jane"],
]


# --- a database that does not exist ------------------------------------------------------


@pytest.mark.parametrize("command", READS + CHANGES, ids=lambda c: " ".join(map(str, c)) or "app")
def test_a_missing_database_is_an_error_and_is_not_created(
    db: Path, tmp_path: Path, command: list[str]
) -> None:
    typo = tmp_path / "no-such-dir" / "store.duckdb"
    line = fail("--db", typo, *command)
    assert f"{typo}: no such database" in line
    assert not typo.parent.exists()
    line = fail(*command)  # $ZEPTUI_DB, missing too
    assert f"{db}: no such database" in line and not db.exists()


@pytest.mark.parametrize("command", CREATES, ids=lambda c: str(c[0]))
def test_writes_create_the_database(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "new" / "store.duckdb"
    run("--db", path, *command)
    assert path.is_file()
    assert run_json("--db", path, "stats")["users"] >= 0


def test_the_default_database_directory_is_not_created_by_a_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZEPTUI_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    line = fail("sessions")
    assert "no such database" in line and "zeptui demo" in line
    assert not (tmp_path / "xdg").exists()


def test_the_app_offers_to_create_a_missing_database(
    tmp_path: Path, terminal: list[Terminal]
) -> None:
    path = tmp_path / "new" / "store.duckdb"
    env = script_env(tmp_path)
    declined = Terminal(["--db", path], env)
    terminal.append(declined)
    declined.read_until(b"Create it? [y/N]")
    declined.type(b"n\r")
    assert declined.wait() == 1
    assert not path.parent.exists()

    accepted = Terminal(["--db", path], env)
    terminal.append(accepted)
    accepted.read_until(b"Create it? [y/N]")
    accepted.type(b"y\r")
    accepted.read_until(b"Sessions")  # the app is up, on the new empty store
    assert path.is_file()
    accepted.type(b"q")
    assert accepted.wait() == 0


def test_the_demo_still_creates_its_database(db: Path, tmp_path: Path) -> None:
    demo = tmp_path / "fresh" / "demo.duckdb"
    assert "octavia-butler" in run("demo", "--db", demo).stdout and demo.is_file()


# --- a read-only store ------------------------------------------------------------------


def test_reads_open_the_store_read_only(samples: Path) -> None:
    """Another process reading the file (read-only) does not stop zeptui's reads, which
    it would if they opened it for writing; a write still waits for it and says so."""
    with held_database(samples, read_only=True):
        for command in READS:
            run(*command)
        assert "in use by" in fail("add", "x", "--role-type", "user", "--content", "hi")


def can_unshare() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"], capture_output=True
    )
    return probe.returncode == 0


needs_mounts = pytest.mark.skipif(
    not can_unshare(), reason="needs root and unshare to mount in a private namespace"
)


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str


def in_mount_namespace(
    setup: str, commands: list[list[str | Path]], env: dict[str, str], scratch: Path
) -> list[Outcome]:
    """Run the console script with each of `commands`, in turn, after the shell commands
    `setup`, in a private mount namespace (the mounts vanish with it). `scratch` keeps
    the commands' output."""
    scratch.mkdir(exist_ok=True)
    lines = ["set -e", setup, "set +e"]
    for number, args in enumerate(commands):
        argv = " ".join(shlex.quote(str(arg)) for arg in [console_script(), *args])
        out = scratch / str(number)
        lines.append(f"{argv} >'{out}.out' 2>'{out}.err'; echo $? >'{out}.rc'")
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(lines)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return [
        Outcome(
            int((scratch / f"{number}.rc").read_text()),
            (scratch / f"{number}.out").read_text(),
            (scratch / f"{number}.err").read_text(),
        )
        for number in range(len(commands))
    ]


def octavia_store(folder: Path, env: dict[str, str]) -> Path:
    """`folder` (made) holding store.duckdb with the Octavia sample."""
    folder.mkdir()
    path = folder / "store.duckdb"
    done = run_script(["--db", path, "import", SAMPLES / "octavia-butler.json"], env)
    assert done.returncode == 0, done.stderr
    return path


def stats(path: Path, env: dict[str, str]) -> dict[str, int]:
    done = run_script(["--db", path, "stats", "--json"], env)
    assert done.returncode == 0, done.stderr
    counts: dict[str, int] = json.loads(done.stdout)
    return counts


@needs_mounts
def test_a_store_on_a_read_only_mount_can_be_read(tmp_path: Path) -> None:
    """What a 0444 file is for everyone but root: reads work, writes say why not."""
    env = script_env(tmp_path)
    folder = tmp_path / "ro"
    path = octavia_store(folder, env)
    readonly = f"mount --bind -o ro '{folder}' '{folder}'"
    # a few of READS (test_reads_open_the_store_read_only runs them all, in process)
    reads = [["sessions"], ["show", "octavia-butler"], ["export"], []]
    writes = CREATES[:1] + CHANGES[:1]
    outcomes = in_mount_namespace(
        readonly, [["--db", path, *command] for command in reads + writes], env, tmp_path / "out"
    )
    for command, outcome in zip(reads, outcomes, strict=False):
        assert outcome.returncode == 0, (command, outcome.stderr)
    for outcome in outcomes[len(reads) :]:
        assert outcome.returncode == 1
        line = one_error_line(outcome.stderr)
        assert f"{path} cannot be written (Read-only file system)" in line
        assert "commands that only read it still work" in line


@needs_mounts
def test_a_read_only_directory_fails_the_write_in_one_line(tmp_path: Path) -> None:
    """The file is writable but its directory is not, so the journal (.wal) cannot be
    created when the write commits."""
    env = script_env(tmp_path)
    real = octavia_store(tmp_path / "home-of-store", env)
    folder = tmp_path / "ro"
    folder.mkdir()
    before = stats(real, env)
    shown = folder / "store.duckdb"
    shown.touch()
    setup = (
        f"mount --bind -o ro '{folder}' '{folder}'\n"
        f"mount --bind '{real}' '{shown}'"  # the file itself stays writable
    )
    writes = [CREATES[0], CREATES[1] + ["--session-prefix", "copy-"]]
    outcomes = in_mount_namespace(
        setup, [["--db", shown, *command] for command in writes], env, tmp_path / "out"
    )
    for outcome in outcomes:
        assert outcome.returncode == 1, outcome.stderr
        line = one_error_line(outcome.stderr)
        assert f"{shown}: cannot write" in line and "store.duckdb.wal" in line
        assert "Read-only file system" in line and "nothing was changed" in line
    assert stats(real, env) == before


@needs_mounts
def test_a_full_disk_fails_the_import_in_one_line(tmp_path: Path) -> None:
    env = script_env(tmp_path)
    disk = tmp_path / "disk"
    disk.mkdir()
    seed = octavia_store(tmp_path / "seed", env)
    big = write_big_import(tmp_path / "big.jsonl", sessions=40)
    setup = (
        f"mount -t tmpfs -o size={seed.stat().st_size + 300_000} tmpfs '{disk}'\n"
        f"cp '{seed}' '{disk}/store.duckdb'"
    )
    on_disk = disk / "store.duckdb"
    imported, after = in_mount_namespace(
        setup,
        [["--db", on_disk, "import", big], ["--db", on_disk, "stats", "--json"]],
        env,
        tmp_path / "out",
    )
    assert imported.returncode == 1
    line = one_error_line(imported.stderr)
    assert "the disk is full" in line and "nothing was changed" in line
    assert json.loads(after.stdout) == stats(seed, env)


# --- a damaged store --------------------------------------------------------------------


def test_a_truncated_store_gives_one_line(samples: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "truncated.duckdb"
    damaged.write_bytes(samples.read_bytes()[: samples.stat().st_size // 3])
    before = damaged.read_bytes()
    for command in (
        ["sessions"],
        ["export"],
        ["add", "x", "--role-type", "user", "--content", "y"],
    ):
        line = fail("--db", damaged, *command)
        assert f"{damaged} is damaged" in line, line
    assert damaged.read_bytes() == before


def test_a_store_with_bad_checksums_gives_one_line(samples: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "flipped.duckdb"
    data = bytearray(samples.read_bytes())
    for offset in range(300_000, len(data) - 64, 4096):  # past the headers: data blocks
        data[offset : offset + 32] = b"\xde\xad\xbe\xef" * 8
    damaged.write_bytes(bytes(data))
    failures = 0
    for command in (["sessions"], ["search", "tent"], ["export", "--format", "zep-jsonl"]):
        result = run("--db", damaged, *command, code=None)
        if result.exit_code:
            line = one_error_line(result.stderr)
            assert f"{damaged} is damaged" in line and "checksum" in line, line
            failures += 1
    assert failures, "flipping bytes in every block should break some read"


# --- Ctrl-C -----------------------------------------------------------------------------


def write_big_import(path: Path, sessions: int, as_json_list: bool = False) -> Path:
    """Zep messages, 100 per session, with enough text to take a while to import."""
    words = ["alpha", "beta", "gamma", "delta", "tent", "river", "stone", "lantern", "orchard"]
    records = [
        {
            "session_id": f"big-{number}",
            "role": "user" if index % 2 == 0 else "assistant",
            "role_type": "user" if index % 2 == 0 else "assistant",
            "content": " ".join(words[(number + index + k) % len(words)] for k in range(60)),
        }
        for number in range(sessions)
        for index in range(100)
    ]
    if as_json_list:
        path.write_text(json.dumps(records))
    else:
        path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def interrupted_import(
    db: Path, path: Path, env: dict[str, str], shown: bytes, presses: int = 1
) -> str:
    """`zeptui import path` on a terminal, sent SIGINT `presses` times once its
    output shows `shown`; what it wrote (it exits 130, without a traceback)."""
    progress = Terminal(
        ["--db", db, "import", "--no-summaries", path],
        env,
        # a shell's background job may ignore SIGINT: give the child the default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        progress.read_until(shown)
        for _ in range(presses):
            progress.process.send_signal(signal.SIGINT)
        assert progress.wait() == 130, progress.output[-2000:]
    finally:
        progress.close()
    output = progress.output.decode(errors="replace")
    assert "Traceback" not in output
    return output


@pytest.mark.parametrize(
    ("as_json_list", "presses"),
    [(False, 1), (True, 1), (False, 2)],
    ids=["jsonl-fast-path", "json-reader", "twice"],
)
def test_ctrl_c_during_an_import_rolls_back_and_exits_130(
    samples: Path, tmp_path: Path, as_json_list: bool, presses: int
) -> None:
    """SIGINT once the import is under way (its progress line, on a terminal, shows the
    file; the reader also counts sessions, read inside the transaction). A second one
    while the first is handled stops the process at once, which the store survives."""
    env = script_env(tmp_path)
    before = stats(samples, env)
    big = write_big_import(
        tmp_path / ("big.json" if as_json_list else "big.jsonl"), 300, as_json_list
    )
    shown = b"sessions \xc2\xb7" if as_json_list else big.name.encode()
    output = interrupted_import(samples, big, env, shown, presses)
    assert output.count("zeptui: error: ") == 1
    said = "interrupted; nothing half-written was kept"
    assert said in output or (presses == 2 and "interrupted again; stopped at once" in output)
    assert stats(samples, env) == before


def test_ctrl_c_during_a_directory_import_leaves_the_store_as_it_was(
    samples: Path, tmp_path: Path
) -> None:
    """The import is one transaction: the file finished before the Ctrl-C goes too."""
    env = script_env(tmp_path)
    before = every_table(samples)
    folder = tmp_path / "chats"
    folder.mkdir()
    shutil.copy(SAMPLES / "octavia-butler.json", folder / "a-first.json")
    big = write_big_import(folder / "b-big.jsonl", 300)
    output = interrupted_import(samples, folder, env, big.name.encode())  # a-first.json done
    assert "zeptui: error: interrupted; nothing half-written was kept" in output
    assert every_table(samples) == before
