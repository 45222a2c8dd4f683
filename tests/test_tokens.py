"""Token counting works with no network at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.tokens import (
    CHECKED_AT_LEAST,
    CL100K_BASE_SHA256,
    checked_counts,
    count_lines_tokens,
    count_message_tokens,
    count_tokens,
    count_tokens_batch,
)
from tests.examples import examples

OFFLINE = """
import socket
def refuse(*args, **kwargs):
    raise OSError("network disabled by the test")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from storage.tokens import count_tokens
print(count_tokens("Hello, world!"))
"""


def test_counts_offline_with_an_empty_tiktoken_cache(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TIKTOKEN_CACHE_DIR": str(tmp_path / "empty-cache"),
        "DATA_GYM_CACHE_DIR": str(tmp_path / "empty-cache"),
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
    }
    result = subprocess.run(
        [sys.executable, "-c", OFFLINE], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "4"
    assert not (tmp_path / "empty-cache").exists()


def test_vocabulary_is_the_published_file() -> None:
    import hashlib
    from importlib import resources

    data = resources.files("storage").joinpath("data/cl100k_base.tiktoken").read_bytes()
    assert hashlib.sha256(data).hexdigest() == CL100K_BASE_SHA256


def test_batch_matches_single_counts() -> None:
    texts = ["Jane: Who was Octavia Butler?", "Bot: 日本語のテキスト 🚀", "x: "]
    assert count_tokens_batch(texts) == [
        count_message_tokens(*text.split(": ", 1)) for text in texts
    ]
    assert count_tokens_batch([]) == []


def test_claimed_counts_are_kept_only_when_a_sample_of_them_is_right() -> None:
    texts = [
        f"Jane: message {n} about the weather in Lisbon, {'rain ' * (n % 7)}" for n in range(300)
    ]
    right = count_tokens_batch(texts)
    assert checked_counts(texts, right) == right
    off_by_one = [count + 1 for count in right]  # another tokenizer: wrong nearly everywhere
    assert checked_counts(texts, off_by_one) == right
    impossible = [*right[:-1], 10**9]  # more tokens than the text has bytes: never kept
    assert checked_counts(texts, impossible) == right
    uncounted = [*right[:-1], 0]
    assert checked_counts(texts, uncounted) == right
    few = texts[: CHECKED_AT_LEAST - 1]  # no more than a sample: all counted
    assert checked_counts(few, off_by_one[: len(few)]) == right[: len(few)]


# Letters, digits, the contraction letters, ASCII and other punctuation, the whitespace
# Python and the tokenizer disagree on, combining marks, CJK, emoji.
_LINE = st.text(
    alphabet=st.sampled_from(
        list(
            "abcsdmtlvreST'09 .,!?:;-\"()[]…“”—。！\t\r\x0b\x0c\x1c\x85\xa0\u0301\u2028\u3000é中😀"
        )
    ),
    max_size=12,
)


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_LINE, st.booleans()), min_size=1, max_size=5))
def test_lines_count_as_the_text_they_make(lines: list[tuple[str, bool]]) -> None:
    """A summary's tokens counted line by line (the known lines not encoded again) are
    exactly the tokens of the lines joined by line breaks."""
    texts = [text for text, _ in lines]
    known = [count_tokens(text) if given else None for text, given in lines]
    assert count_lines_tokens(texts, known) == count_tokens("\n".join(texts))
