"""URLs zeptui talks to: print them without their secrets, join paths onto them.

Shared by every part that shows or builds a URL (the LLM summarizer today; the
remote store and the API server later). It imports nothing from zeptui, so both
`storage` and `zeptui` may use it.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["REDACTED", "join_url", "redact_url", "url_secrets"]

REDACTED = "***"

_SECRET_NAME = re.compile(
    r"key|token|secret|passw|pwd|auth|signature|^sig$|credential|session|cookie|bearer",
    re.IGNORECASE,
)
"""Query parameter names whose values are secrets (api-key, access_token, X-Amz-Signature...)."""
_USERINFO = re.compile(r"(?P<head>//[^/?#@:]*):(?P<password>[^/?#@]*)@")
"""`//user:password@` in a URL that `urlsplit` could not parse."""


def _secret_parameter(name: str) -> bool:
    return bool(_SECRET_NAME.search(unquote(name)))


def _redact_query(query: str) -> str:
    """`query` with secret-looking parameters' values replaced, the rest kept as is."""
    parts = []
    for part in query.split("&"):
        name, equals, _ = part.partition("=")
        parts.append(f"{name}={REDACTED}" if equals and _secret_parameter(name) else part)
    return "&".join(parts)


def redact_url(url: str) -> str:
    """`url` fit to print: the userinfo password and secret query values become `***`.

    The user name, host, path and other parameters stay as they are, so the URL is
    still recognisable: `http://ana:***@host/v1?api-key=***&v=2`.
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket: redact textually
        head, mark, query = _USERINFO.sub(rf"\g<head>:{REDACTED}@", url).partition("?")
        return head + mark + _redact_query(query) if mark else head
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{REDACTED}@{host}"
    fragment = _redact_query(parts.fragment) if "=" in parts.fragment else parts.fragment
    return urlunsplit((parts.scheme, netloc, parts.path, _redact_query(parts.query), fragment))


def url_secrets(url: str) -> list[str]:
    """The secret strings in `url` (its password, secret query values), raw and decoded.

    For scrubbing text that may quote the URL in a form `redact_url` cannot see,
    such as an error message from a library or a server.
    """
    secrets: set[str] = set()
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return []
    if password:
        secrets.update((password, unquote(password)))
    for section in (parts.query, parts.fragment):
        for part in section.split("&"):
            name, equals, value = part.partition("=")
            if equals and value and _secret_parameter(name):
                secrets.update((value, unquote(value)))
    return sorted((secret for secret in secrets if secret), key=len, reverse=True)


def join_url(base: str, path: str) -> str:
    """`path` appended to the path of `base`, keeping its query: the endpoint of an API.

    `join_url("http://host/v1?api-version=2", "chat/completions")` is
    `http://host/v1/chat/completions?api-version=2`. A fragment is dropped.
    """
    parts = urlsplit(base)
    joined = parts.path.rstrip("/") + "/" + path.lstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, joined, parts.query, ""))
