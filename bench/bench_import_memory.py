"""Peak memory of `zeptui import` as the file grows: does it stream?

For each size, a seeded file is generated (the data of `bench_store`: Zep v2 JSONL,
one message per line; the same conversations as ShareGPT JSONL, one conversation
per line, which takes the generic reader path; and as a ChatGPT export's
`conversations.json`, one JSON array, read an item at a time), and
`zeptui import --no-summaries`
runs in a fresh process into a fresh store. The table shows each process's peak
resident memory and time; streaming means the peak stays about flat while the file
grows 8x.

    .venv/bin/python -m bench.bench_import_memory                       # 125k..1M messages
    .venv/bin/python -m bench.bench_import_memory --sizes 20000,40000   # quick check
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
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
        raise SystemExit(f"import failed: {done.stderr.strip()}")
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    return seconds, peak_kib / 1024


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="125000,250000,500000,1000000")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--formats", default="zep-jsonl,sharegpt,chatgpt")
    args = parser.parse_args(argv)
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
