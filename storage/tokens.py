"""Token counts as Zep computes them: tiktoken `cl100k_base` over `"role: content"`.

The vocabulary ships with zeptui (`storage/data/cl100k_base.tiktoken`) and is
checked against its published sha256, so counting never touches the network.
The encoding is built on first use (about 0.2 s), not at import.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import os
import random
import threading
import unicodedata
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import TYPE_CHECKING

from storage.errors import StoreError

if TYPE_CHECKING:
    import tiktoken

CL100K_BASE_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
# tiktoken's own definition of cl100k_base (tiktoken_ext/openai_public.py).
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_CL100K_SPECIAL = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}

CHECKED_AT_LEAST = 64
"""Claimed counts (`checked_counts`) counted again at random, at least..."""
CHECKED_ONE_IN = 64
"""...or one in this many, if that is more."""

_lock = threading.Lock()
_random = random.SystemRandom()  # a sender cannot tell which counts will be checked
_encoding: tiktoken.Encoding | None = None


def _load_vocabulary() -> dict[bytes, int]:
    data = resources.files("storage").joinpath("data/cl100k_base.tiktoken").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != CL100K_BASE_SHA256:
        raise StoreError(
            f"storage/data/cl100k_base.tiktoken is damaged (sha256 {digest}); reinstall zeptui"
        )
    decode = binascii.a2b_base64  # what base64.b64decode calls, without its checks
    pairs = (line.split() for line in data.splitlines() if line)
    return {decode(token): int(rank) for token, rank in pairs}


def encoding() -> tiktoken.Encoding:
    """The cl100k_base encoding, loaded from the bundled file on first use."""
    global _encoding
    if _encoding is None:
        with _lock:
            if _encoding is None:
                import tiktoken

                _encoding = tiktoken.Encoding(
                    name="cl100k_base",
                    pat_str=_CL100K_PATTERN,
                    mergeable_ranks=_load_vocabulary(),
                    special_tokens=_CL100K_SPECIAL,
                )
    return _encoding


def message_text(role: str, content: str) -> str:
    """The text Zep counts for a message: `"role: content"`."""
    return f"{role}: {content}"


def count_tokens(text: str) -> int:
    """Tokens in `text`; special-token strings count as ordinary text."""
    return len(encoding().encode_ordinary(text))


def count_message_tokens(role: str, content: str) -> int:
    return count_tokens(message_text(role, content))


def count_lines_tokens(lines: Sequence[str], known: Sequence[int | None]) -> int:
    """Tokens of `"\n".join(lines)`, exactly, without encoding the lines whose tokens
    are `known` (None: not known; then the line is counted).

    cl100k_base splits a text into pieces before encoding each one alone, and a piece
    never spans a line break except one: a line ending in a run of punctuation (a
    space before it included) takes the break into that run's piece. So the text's
    tokens are its lines' tokens plus, for each break, one token, or what taking
    the break costs that final piece. A line ending in whitespace (where a break
    joins other pieces) is not split that way: then the whole text is counted.
    """
    total = 0
    for number, (line, tokens) in enumerate(zip(lines, known, strict=True)):
        if number:  # the break before this line, after the one before
            joined = _break_tokens(lines[number - 1])
            if joined is None:
                return count_tokens("\n".join(lines))
            total += joined
        total += count_tokens(line) if tokens is None else tokens
    return total


def _break_tokens(line: str) -> int | None:
    """Tokens a line break after `line` adds (another line following), or None for a
    line that is empty or ends in whitespace."""
    if not line or line[-1].isspace():
        return None
    start = len(line)
    while start and not _letter_digit_or_space(line[start - 1]):
        start -= 1
    if start == len(line):  # a letter or digit: the break is a piece of its own
        return 1
    if start and line[start - 1].isspace():
        if line[start - 1] != " ":
            return None  # (Python's whitespace and the tokenizer's differ at the edges)
        start -= 1  # the piece takes one space before the punctuation
    return _punctuation_break_tokens(line[start:])


def _letter_digit_or_space(char: str) -> bool:
    if char.isascii():
        return char.isalnum() or char.isspace()
    return char.isspace() or unicodedata.category(char)[0] in "LN"


@functools.lru_cache(maxsize=1024)
def _punctuation_break_tokens(piece: str) -> int:
    """What a line break costs after `piece`, a line's final run of punctuation."""
    encode = encoding().encode_ordinary
    return len(encode(piece + "\n")) - len(encode(piece))


def count_tokens_batch(texts: Sequence[str], num_threads: int | None = None) -> list[int]:
    """Token counts of many texts, on all cores.

    The texts are split into one contiguous chunk per thread, each encoded in a
    loop (tiktoken's core releases the GIL). This is about 3x faster than
    `Encoding.encode_ordinary_batch`, which pays for one future per text.
    """
    if not texts:
        return []
    encode = encoding().encode_ordinary
    threads = max(1, min(num_threads or os.cpu_count() or 1, len(texts) // 256 or 1))

    def count(chunk: Sequence[str]) -> list[int]:
        return [len(encode(text)) for text in chunk]

    if threads == 1:
        return count(texts)
    size = -(-len(texts) // threads)
    chunks = [texts[start : start + size] for start in range(0, len(texts), size)]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="zeptui-tokens") as pool:
        return [n for counts in pool.map(count, chunks) for n in counts]


def checked_counts(texts: Sequence[str], claimed: Sequence[int]) -> list[int]:
    """The token counts of `texts`: `claimed` (as another store counted them) when
    every claim is possible and a random sample of them, counted again, is right;
    else every text counted.

    A sender with another tokenizer (or none) differs on most texts and is caught
    at once; counting again a 64th of the texts costs a 64th of counting them.
    """
    size = max(CHECKED_AT_LEAST, len(texts) // CHECKED_ONE_IN)
    if len(claimed) != len(texts) or size >= len(texts):
        return count_tokens_batch(texts)
    # A text of n characters is at most 4n bytes, and a token is at least one byte.
    if any(not 0 < count <= 4 * len(text) for text, count in zip(texts, claimed, strict=True)):
        return count_tokens_batch(texts)
    encode = encoding().encode_ordinary
    for index in _random.sample(range(len(texts)), size):
        if len(encode(texts[index])) != claimed[index]:
            return count_tokens_batch(texts)
    return list(claimed)
