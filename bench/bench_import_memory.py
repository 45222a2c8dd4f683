"""Peak memory of `zeptui import` as the file grows: does it stream?

For each size, a seeded file is generated (the data of `bench_store`: Zep v2 JSONL,
one message per line; or the same conversations as ShareGPT JSONL, one conversation
per line, which takes the generic reader path), and `zeptui import --no-summaries`
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
from collections.abc import Sequence
from pathlib import Path

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
    with zep_jsonl.open(encoding="utf-8") as source, target.open("w", encoding="utf-8") as out:
        session_id: str | None = None
        turns: list[dict[str, str]] = []
        for line in source:
            message = json.loads(line)
            if message["session_id"] != session_id and turns:
                out.write(json.dumps({"id": session_id, "conversations": turns}) + "\n")
                turns = []
            session_id = message["session_id"]
            speaker = "human" if message["role_type"] == "user" else "gpt"
            turns.append({"from": speaker, "value": message["content"]})
        if turns:
            out.write(json.dumps({"id": session_id, "conversations": turns}) + "\n")


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
    parser.add_argument("--formats", default="zep-jsonl,sharegpt")
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
                db = work / f"{name}-{size}.duckdb"
                seconds, peak = import_in_child(path, db)
                mib = path.stat().st_size / 2**20
                rows.append((name, size, mib, seconds, peak))
                print(f"  {name} {size:,}: {seconds:.1f} s, peak {peak:,.0f} MiB", flush=True)
                db.unlink()
                if path != data.path:
                    path.unlink()
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
