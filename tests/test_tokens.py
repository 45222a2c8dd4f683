"""Token counting works with no network at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from storage.tokens import CL100K_BASE_SHA256, count_message_tokens, count_tokens_batch

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
