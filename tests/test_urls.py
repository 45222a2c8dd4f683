"""storage.urls: URLs printed without credentials, endpoints joined onto a base."""

from __future__ import annotations

import pytest

from storage.urls import join_url, redact_url, url_secrets


@pytest.mark.parametrize(
    ("url", "printed"),
    [
        ("http://user:secret@host/v1", "http://user:***@host/v1"),
        ("https://:secret@host:8443/v1", "https://:***@host:8443/v1"),
        ("http://user@host/v1", "http://user@host/v1"),
        ("http://host/v1?api-key=abc&v=2", "http://host/v1?api-key=***&v=2"),
        (
            "http://host/v1?access_token=a&X-Amz-Signature=b&sig=c&model=gpt",
            "http://host/v1?access_token=***&X-Amz-Signature=***&sig=***&model=gpt",
        ),
        ("http://host/v1?key=&password=p%40ss", "http://host/v1?key=***&password=***"),
        ("http://host/v1#token=abc", "http://host/v1#token=***"),
        ("http://host/v1?q=a%20b&flag", "http://host/v1?q=a%20b&flag"),
        ("http://u:p@[::1/v1?apikey=x", "http://u:***@[::1/v1?apikey=***"),  # unparseable
        ("https://api.example.com/v1", "https://api.example.com/v1"),
    ],
)
def test_redact_url(url: str, printed: str) -> None:
    assert redact_url(url) == printed


def test_url_secrets_lists_what_to_scrub_from_other_text() -> None:
    url = "http://ana:p%40ss@host/v1?api-key=k%2Fey&v=2"
    assert set(url_secrets(url)) == {"p%40ss", "p@ss", "k%2Fey", "k/ey"}
    assert url_secrets("http://host/v1?v=2") == []


@pytest.mark.parametrize(
    ("base", "endpoint"),
    [
        ("http://host/v1", "http://host/v1/chat/completions"),
        ("http://host/v1/", "http://host/v1/chat/completions"),
        ("http://host", "http://host/chat/completions"),
        (
            "https://host/openai/deployments/x?api-version=2024-06",
            "https://host/openai/deployments/x/chat/completions?api-version=2024-06",
        ),
        ("http://u:p@host/v1?k=1#frag", "http://u:p@host/v1/chat/completions?k=1"),
    ],
)
def test_join_url_keeps_the_query(base: str, endpoint: str) -> None:
    assert join_url(base, "chat/completions") == endpoint
