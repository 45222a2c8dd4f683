"""Is adding a very large message linear in its size?

For each size, a seeded message of that many MiB (words drawn from a 5,000-word
pseudo-vocabulary, with newlines and punctuation, as pasted documents have them)
is added to a fresh store with `add_memory`, and the time is split into counting
its tokens (tiktoken, the same call the store makes) and the rest (the insert and
the full-text index). Linear means the seconds per MiB stay about flat; the
content limit (`storage.limits.MAX_CONTENT_BYTES`) is the largest size run.

    .venv/bin/python -m bench.bench_large_messages             # 1, 2, 4, 8 MiB
    .venv/bin/python -m bench.bench_large_messages --sizes 1,2  # quick check
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from bench.bench_store import machine_description
from storage import limits
from storage.duckdb import DuckDBStore
from storage.models import Message, RoleType
from storage.tokens import count_message_tokens


def mixed_text(mebibytes: float, seed: int) -> str:
    """About `mebibytes` MiB of mixed scripts: CJK, Cyrillic, Arabic digits, emoji."""
    rng = random.Random(seed)
    pieces = ["中文", "日本語", "é", "ß", " ", "😀", "abc", "\n", "идея", "٣", ", "]
    parts: list[str] = []
    size = 0
    while size < mebibytes * 1024 * 1024:
        piece = rng.choice(pieces)
        parts.append(piece)
        size += len(piece.encode("utf-8"))
    return "".join(parts)


def large_text(mebibytes: float, seed: int) -> str:
    """About `mebibytes` MiB of prose-like ASCII text."""
    rng = random.Random(seed)
    vocabulary = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))
        for _ in range(5000)
    ]
    target = int(mebibytes * 1024 * 1024)
    parts: list[str] = []
    size = 0
    while size < target:
        sentence = " ".join(rng.choices(vocabulary, k=rng.randint(5, 25))).capitalize()
        sentence += rng.choice([". ", ".\n", "? ", ", ", ".\n\n"])
        parts.append(sentence)
        size += len(sentence)
    return "".join(parts)[:target]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    limit = limits.MAX_CONTENT_BYTES // (1024 * 1024)
    parser.add_argument("--sizes", default=f"1,2,4,{limit}", help="MiB, comma-separated")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print("\n".join(machine_description()))
    print(
        f"{'text':<6} {'MiB':>5} {'tokens':>10} {'tokens s':>9} {'add s':>7} {'rest s':>7} "
        f"{'rest s/MiB':>11}"
    )
    count_message_tokens("user", "warm up: load the vocabulary")
    sizes = [float(size) for size in args.sizes.split(",")]
    for kind, make in (("prose", large_text), ("mixed", mixed_text)):
        for mebibytes in sizes:
            run(kind, mebibytes, make(mebibytes, args.seed))


def run(kind: str, mebibytes: float, text: str) -> None:
    """Add `text` as one message to a fresh store; print the row."""
    started = time.perf_counter()
    tokens = count_message_tokens("user", text)
    counting = time.perf_counter() - started
    with (
        tempfile.TemporaryDirectory() as folder,
        DuckDBStore(Path(folder) / "large.duckdb", summarizer=None) as store,
    ):
        started = time.perf_counter()
        store.add_memory("s", [Message(role="user", role_type=RoleType.user, content=text)])
        adding = time.perf_counter() - started
    rest = adding - counting
    print(
        f"{kind:<6} {mebibytes:>5g} {tokens:>10,} {counting:>9.2f} {adding:>7.2f} "
        f"{rest:>7.2f} {rest / mebibytes:>11.2f}"
    )


if __name__ == "__main__":
    main()
