"""Peak memory of `zeptui import`: does it stream, whatever the file's size and shape?

Growth (the default): for each size, a seeded file is generated (the data of
`bench_store`: Zep v2 JSONL, one message per line; the same conversations as ShareGPT
JSONL, one conversation per line, which takes the generic reader path; and as a
ChatGPT export's `conversations.json`, one JSON array, read an item at a time), and
`zeptui import --no-summaries` runs in a fresh process into a fresh store. The table
shows each process's peak resident memory and time; streaming means the peak stays
about flat while the file grows 8x.

Shapes (`--shapes`): files that once ran out of memory, each imported the same way:
messages of 1 KB (the fast path's insert held them all), one session of 307,200
messages as Zep JSONL, as a zep-json session object and as a LangChain history (the
readers built a session whole), and a zip of 1.1 million short messages of one
session (the member was extracted whole first).

    .venv/bin/python -m bench.bench_import_memory                       # 125k..1M messages
    .venv/bin/python -m bench.bench_import_memory --sizes 20000,40000   # quick check
    .venv/bin/python -m bench.bench_import_memory --shapes all          # the shapes
    .venv/bin/python -m bench.bench_import_memory --shapes one-session-json --scale 0.1
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from bench.bench_store import generate, machine_description

_CHILD = """
import resource, runpy, sys
sys.argv = ["zeptui", *sys.argv[1:]]
try:
    runpy.run_module("zeptui", run_name="__main__")
finally:
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def to_sharegpt(zep_jsonl: Path, target: Path) -> None:
    """The same conversations as ShareGPT JSONL (one conversation per line, streamed)."""
    with target.open("w", encoding="utf-8") as out:
        for session_id, messages in _sessions(zep_jsonl):
            turns = [
                {"from": "human" if m["role_type"] == "user" else "gpt", "value": m["content"]}
                for m in messages
            ]
            out.write(json.dumps({"id": session_id, "conversations": turns}) + "\n")


def _sessions(zep_jsonl: Path) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(session id, messages) of a Zep JSONL file whose sessions are contiguous."""
    with zep_jsonl.open(encoding="utf-8") as source:
        session_id: str | None = None
        messages: list[dict[str, Any]] = []
        for line in source:
            message = json.loads(line)
            if message["session_id"] != session_id and messages:
                assert session_id is not None
                yield session_id, messages
                messages = []
            session_id = message["session_id"]
            messages.append(message)
        if messages and session_id is not None:
            yield session_id, messages


def to_chatgpt(zep_jsonl: Path, target: Path) -> None:
    """The same conversations as a ChatGPT export's `conversations.json` (one JSON
    array, each conversation a `mapping` tree with a hidden root), written streamed."""
    with target.open("w", encoding="utf-8") as out:
        out.write("[")
        for number, (session_id, messages) in enumerate(_sessions(zep_jsonl)):
            mapping: dict[str, Any] = {
                "root": {"id": "root", "parent": None, "children": ["m0"], "message": None}
            }
            for index, message in enumerate(messages):
                node_id = f"m{index}"
                mapping[node_id] = {
                    "id": node_id,
                    "parent": "root" if index == 0 else f"m{index - 1}",
                    "children": [f"m{index + 1}"] if index + 1 < len(messages) else [],
                    "message": {
                        "id": f"{session_id}-{index}",
                        "author": {"role": message["role_type"], "name": None},
                        "create_time": 1_700_000_000 + index,
                        "content": {"content_type": "text", "parts": [message["content"]]},
                        "recipient": "all",
                        "metadata": {},
                    },
                }
            conversation = {
                "id": session_id,
                "title": f"Conversation {number}",
                "create_time": 1_700_000_000,
                "current_node": f"m{len(messages) - 1}",
                "mapping": mapping,
            }
            out.write(("," if number else "") + json.dumps(conversation, ensure_ascii=False))
        out.write("]")


# --- shapes ---------------------------------------------------------------------------

_WORDS = [
    "memory",
    "session",
    "summary",
    "window",
    "token",
    "message",
    "export",
    "import",
    "stream",
    "parable",
    "sower",
    "octavia",
    "river",
    "stone",
    "light",
    "kyoto",
    "market",
    "temple",
    "refund",
    "order",
    "tent",
    "camping",
    "python",
]


def _text(rng: random.Random, size: int) -> str:
    """About `size` characters of words."""
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(_WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:size]


def _zep_messages(count: int, size: int, sessions: int, seed: int) -> Iterator[dict[str, Any]]:
    """Zep v2 messages of about `size` characters, `sessions` sessions in turn."""
    rng = random.Random(seed)
    per_session = max(count // sessions, 1)
    for index in range(count):
        user = index % 2 == 0
        yield {
            "session_id": f"shape-{index // per_session}",
            "role": "Jane" if user else "Bot",
            "role_type": "user" if user else "assistant",
            "content": _text(rng, size),
            "created_at": f"2024-05-{1 + index // 100_000 % 28:02d}T00:00:00Z",
        }


def jsonl_1k(path: Path, scale: float) -> int:
    """225,280 messages of 1 KB in 2,240 sessions, Zep JSONL (the fast path)."""
    count = int(225_280 * scale)
    with path.open("w", encoding="utf-8") as out:
        for message in _zep_messages(count, 1000, max(int(2240 * scale), 1), 1):
            out.write(json.dumps(message) + "\n")
    return count


def one_session_jsonl(path: Path, scale: float) -> int:
    """One session of 307,200 messages, Zep JSONL (the fast path)."""
    count = int(307_200 * scale)
    with path.open("w", encoding="utf-8") as out:
        for message in _zep_messages(count, 300, 1, 2):
            out.write(json.dumps(message) + "\n")
    return count


def one_session_json(path: Path, scale: float) -> int:
    """The same session as zep-json writes it: a list holding one session object."""
    count = int(307_200 * scale)
    with path.open("w", encoding="utf-8") as out:
        out.write('[{"session_id": "shape-0", "user_id": null, "metadata": null, "messages": [')
        for index, message in enumerate(_zep_messages(count, 300, 1, 2)):
            del message["session_id"]
            out.write(("," if index else "") + json.dumps(message))
        out.write("]}]")
    return count


def one_session_langchain(path: Path, scale: float) -> int:
    """The same session as a LangChain `FileChatMessageHistory` file."""
    count = int(307_200 * scale)
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        for index, message in enumerate(_zep_messages(count, 300, 1, 2)):
            kind = "human" if message["role_type"] == "user" else "ai"
            record = {"type": kind, "data": {"content": message["content"], "type": kind}}
            out.write(("," if index else "") + json.dumps(record))
        out.write("]")
    return count


def zip_of_short_messages(path: Path, scale: float) -> int:
    """A zip of 1.1 million short messages of one session (a bare Zep message list)."""
    count = int(1_100_000 * scale)
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("messages.json", "w", force_zip64=True) as member,
    ):
        member.write(b"[")
        for index in range(count):
            role = "user" if index % 2 == 0 else "assistant"
            text = f'{{"role_type": "{role}", "content": "message {index % 1000}"}}'
            member.write((("," if index else "") + text).encode())
        member.write(b"]")
    return count


SHAPES: dict[str, tuple[str, Callable[[Path, float], int]]] = {
    "jsonl-1k": ("shape.jsonl", jsonl_1k),
    "one-session-jsonl": ("shape.jsonl", one_session_jsonl),
    "one-session-json": ("shape.json", one_session_json),
    "one-session-langchain": ("history.json", one_session_langchain),
    "zip-of-short-messages": ("shape.zip", zip_of_short_messages),
}
"""Shape name → (file name, writer returning the messages written)."""


def run_shapes(names: Sequence[str], scale: float) -> None:
    print("\n".join(machine_description()))
    rows: list[tuple[str, int, float, float, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="zeptui-bench-") as directory:
        work = Path(directory)
        for name in names:
            file_name, write = SHAPES[name]
            path = work / file_name
            count = write(path, scale)
            db = work / f"{name}.duckdb"
            mib = path.stat().st_size / 2**20
            try:
                seconds, peak = import_in_child(path, db)
                outcome = ""
            except ImportFailed as failed:  # measured all the same: the peak it reached
                seconds, peak, outcome = float("nan"), failed.peak, f"failed: {failed.reason}"
            rows.append((name, count, mib, seconds, peak, outcome))
            print(
                f"  {name} {count:,}: {seconds:.1f} s, peak {peak:,.0f} MiB {outcome}", flush=True
            )
            db.unlink(missing_ok=True)
            path.unlink()
    print(f"\n{'shape':<22} {'messages':>10} {'file MiB':>9} {'seconds':>8} {'peak RSS MiB':>13}")
    for name, count, mib, seconds, peak, outcome in rows:
        line = f"{name:<22} {count:>10,} {mib:>9,.0f} {seconds:>8.1f} {peak:>13,.0f}"
        print(f"{line} {outcome}".rstrip())


# --- one import -----------------------------------------------------------------------


def import_in_child(path: Path, db: Path) -> tuple[float, float]:
    """(seconds, peak RSS MiB) of `zeptui import --no-summaries path` in a new process."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, "--db", str(db), "import", "--no-summaries", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise ImportFailed(done.stderr.strip())
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    return seconds, peak_kib / 1024


class ImportFailed(Exception):
    """The import in the child process failed; the message is its stderr, which holds
    its peak RSS in KiB on a line of its own."""

    @property
    def peak(self) -> float:
        """The failed process's peak RSS, MiB."""
        numbers = [line for line in str(self).splitlines() if line.strip().isdigit()]
        return int(numbers[-1]) / 1024 if numbers else float("nan")

    @property
    def reason(self) -> str:
        """The error: a traceback's exception, or zeptui's one-line error."""
        for line in reversed(str(self).splitlines()):
            if re.match(r"(zeptui: error|[\w.]*(Error|Exception))\b", line):
                return line[:70]
        return "?"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="125000,250000,500000,1000000")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--formats", default="zep-jsonl,sharegpt,chatgpt")
    parser.add_argument(
        "--shapes", help=f"run these shapes instead: all, or some of {', '.join(SHAPES)}"
    )
    parser.add_argument("--scale", type=float, default=1.0, help="shapes: scale the sizes")
    args = parser.parse_args(argv)
    if args.shapes:
        run_shapes(list(SHAPES) if args.shapes == "all" else args.shapes.split(","), args.scale)
        return 0
    sizes = [int(size) for size in args.sizes.split(",")]
    formats = args.formats.split(",")
    print("\n".join(machine_description()))
    rows: list[tuple[str, int, float, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="zeptui-bench-") as directory:
        work = Path(directory)
        for size in sizes:
            data = generate(work / f"zep-{size}.jsonl", size, max(size // 100, 1), 1_000, args.seed)
            for name in formats:
                path = data.path
                if name == "sharegpt":
                    path = work / f"sharegpt-{size}.jsonl"
                    to_sharegpt(data.path, path)
                elif name == "chatgpt":
                    path = work / f"chatgpt-{size}" / "conversations.json"
                    path.parent.mkdir()
                    to_chatgpt(data.path, path)
                db = work / f"{name}-{size}.duckdb"
                seconds, peak = import_in_child(path, db)
                mib = path.stat().st_size / 2**20
                rows.append((name, size, mib, seconds, peak))
                print(f"  {name} {size:,}: {seconds:.1f} s, peak {peak:,.0f} MiB", flush=True)
                db.unlink()
                if path != data.path:
                    path.unlink()
                    if name == "chatgpt":
                        path.parent.rmdir()
            data.path.unlink()
            data.sessions_path.unlink()

    print(f"\n{'format':<10} {'messages':>10} {'file MiB':>9} {'seconds':>8} {'peak RSS MiB':>13}")
    for name, size, mib, seconds, peak in rows:
        print(f"{name:<10} {size:>10,} {mib:>9,.0f} {seconds:>8.1f} {peak:>13,.0f}")
    for name in formats:
        peaks = [row for row in rows if row[0] == name]
        if len(peaks) > 1:
            first, last = peaks[0], peaks[-1]
            print(f"{name}: file x{last[2] / first[2]:.1f} -> peak RSS x{last[4] / first[4]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
