"""Hostile requests: each gets its 4xx as JSON `{"message": ...}`, and the store is
unchanged (a zep-dump export before and after is the same)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.server.conftest import API_KEY, Served, ServeFactory, server_factory

MAX_BODY = 64 * 1024


def raw_request(url: str, request: bytes) -> tuple[int, bytes]:
    """Send `request` as it is (no client normalises it) and read the answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def raw_get(url: str, path: bytes) -> tuple[int, bytes]:
    return raw_request(url, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeFactory]:
    """One server of each kind for the whole module: these tests change nothing."""
    with server_factory(tmp_path_factory.mktemp("hostile")) as start:
        yield start


@pytest.fixture(scope="module")
def seeded_server(servers: ServeFactory) -> Served:
    served = servers(max_body=MAX_BODY)
    with httpx.Client(base_url=served.url) as client:
        client.post("/api/v2/users", json={"user_id": "jane"})
        client.post("/api/v2/sessions", json={"session_id": "s", "user_id": "jane"})
        client.post(
            "/api/v2/sessions/s/memory",
            json={"messages": [{"role": "Jane", "role_type": "user", "content": "hello"}]},
        )
    return served


@pytest.fixture(scope="module")
def keyed_server(servers: ServeFactory) -> Served:
    return servers(api_key=API_KEY)


@pytest.fixture
def seeded(seeded_server: Served) -> Iterator[Served]:
    """The seeded server; the test must leave its store as it found it."""
    before = seeded_server.dump()
    yield seeded_server
    assert seeded_server.dump() == before


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


BAD_BODIES: list[tuple[str, bytes]] = [
    ("malformed JSON", b'{"messages": ['),
    ("not an object", b'"messages"'),
    ("messages not a list", b'{"messages": "hello"}'),
    ("content not text", b'{"messages": [{"role": "u", "content": 5}]}'),
    ("content missing", b'{"messages": [{"role": "u"}]}'),
    ("unknown role_type", b'{"messages": [{"role": "u", "role_type": "boss", "content": "x"}]}'),
    ("metadata not an object", b'{"messages": [{"content": "x", "metadata": [1]}]}'),
    (
        "metadata too deep",
        b'{"messages": [{"content": "x", "metadata": {"a": %s}}]}' % _deep(40).encode(),
    ),
    ("JSON deeper than any parser", b'{"messages": %s}' % _deep(20_000).encode()),
    ("invalid UTF-8", b'{"messages": [{"role": "u", "content": "\xff\xfe"}]}'),
    ("lone surrogate", b'{"messages": [{"role": "u", "content": "\\ud800"}]}'),
    ("bad uuid", b'{"messages": [{"content": "x", "uuid": "not-a-uuid"}]}'),
    ("created_at garbage", b'{"messages": [{"content": "x", "created_at": "yesterday"}]}'),
]


@pytest.mark.parametrize(("what", "body"), BAD_BODIES, ids=[what for what, _ in BAD_BODIES])
def test_bad_bodies_are_400(seeded: Served, what: str, body: bytes) -> None:
    for path in ("/api/v2/sessions/s/memory", "/api/v1/sessions/s/memory"):
        response = httpx.post(
            seeded.url + path, content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, (what, response.text)
        assert set(response.json()) == {"message"}
        assert "Traceback" not in response.text


def test_wrong_types_elsewhere_are_400(seeded: Served) -> None:
    with httpx.Client(base_url=seeded.url) as client:
        for method, path, body in [
            ("POST", "/api/v2/sessions", {"session_id": 5}),
            ("POST", "/api/v2/sessions", {"metadata": {}}),
            ("POST", "/api/v2/users", {"user_id": ["a"]}),
            ("PATCH", "/api/v2/sessions/s", {"metadata": "x"}),
            ("PATCH", "/api/v2/users/jane", {"email": {"a": 1}}),
            ("POST", "/api/v2/sessions/s/search", {"text": 5}),
            ("POST", "/api/v2/sessions/s/search", {"text": "x", "search_scope": "all"}),
            ("POST", "/api/v2/sessions/s/search", {"text": "x", "search_type": "best"}),
        ]:
            response = client.request(method, path, json=body)
            assert response.status_code == 400, (path, body, response.text)
            assert "message" in response.json()


def test_bad_query_parameters_are_400_never_422(seeded: Served) -> None:
    with httpx.Client(base_url=seeded.url) as client:
        for path in [
            "/api/v2/sessions?limit=abc",
            "/api/v2/sessions?limit=-1",
            "/api/v2/users?cursor=1.5",
            "/api/v2/sessions/s/memory?lastn=-1",
            "/api/v2/sessions/s/memory?lastn=99999999999999999999999",
            "/api/v2/sessions/s/memory?memoryType=everything",
            "/api/v2/sessions/s/messages?cursor=x",
            "/api/v1/sessions/s/memory?lastn=abc",
        ]:
            response = client.get(path)
            assert response.status_code == 400, (path, response.text)
            assert set(response.json()) == {"message"}


def test_huge_bodies_are_413_before_they_are_read(seeded: Served) -> None:
    big = json.dumps({"messages": [{"role": "u", "content": "x" * (MAX_BODY + 10)}]}).encode()
    url = seeded.url + "/api/v2/sessions/s/memory"
    response = httpx.post(url, content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "limit" in response.json()["message"]

    def chunked() -> Iterator[bytes]:  # no Content-Length: refused once past the limit
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    response = httpx.post(url, content=chunked(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


@pytest.mark.parametrize(
    "path",
    [
        b"/api/v2/sessions/%ff/memory",
        b"/api/v2/sessions/\xff\xfe/memory",
        b"/api/v2/sessions/a%00b/memory",
        b"/api/v2/sessions/a%0Ab/memory",
        b"/api/v2/sessions/%20%20/memory",
        b"/api/v2/sessions/" + b"x" * 600 + b"/memory",
        b"/api/v2/sessions/../users",
        b"/api/v2/sessions/%2e%2e/memory",
        b"/api/v2/sessions/..%2Fetc%2Fpasswd/memory",
        b"/api/v1/sessions/./memory",
        b"/api/v2/sessions/a%2F..%2Fb/memory",
    ],
)
def test_hostile_paths_are_400(seeded: Served, path: bytes) -> None:
    body = b'{"messages": [{"role": "u", "content": "x"}]}'
    for method in (b"GET", b"POST"):
        status, answer = raw_request(
            seeded.url,
            method + b" " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
        )
        assert status == 400, (path, method, answer)


def test_unknown_routes_and_methods_answer_json(seeded: Served) -> None:
    status, body = raw_get(seeded.url, b"/api/v2/nothing")
    assert (status, json.loads(body)) == (404, {"message": "not found"})
    response = httpx.put(seeded.url + "/api/v2/sessions/s")
    assert response.status_code == 405 and "PUT" in response.json()["message"]
    # A trailing slash is never redirected (the SDKs do not follow redirects).
    assert httpx.get(seeded.url + "/api/v2/sessions/").status_code in (404, 405)


@pytest.mark.parametrize(
    "authorization",
    [None, "", f"Api-Key {API_KEY}x", f"Bearer {API_KEY[:-1]}", f"Basic {API_KEY}", API_KEY],
)
def test_missing_and_wrong_keys_are_401(keyed_server: Served, authorization: str | None) -> None:
    served = keyed_server
    before = served.dump()
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path in [
        ("GET", "/api/v2/sessions"),
        ("POST", "/api/v2/sessions/s/memory"),
        ("DELETE", "/api/v1/user/jane"),
        ("GET", "/api/v2/nothing"),
    ]:
        response = httpx.request(
            method, served.url + path, headers=headers, json={"messages": [{"content": "x"}]}
        )
        assert response.status_code == 401, (path, authorization)
        assert API_KEY not in response.text and API_KEY[:8] not in response.text
    assert httpx.get(served.url + "/healthz").text == "."
    assert served.dump() == before


def test_an_unexpected_failure_is_500_with_a_request_id(serve: ServeFactory) -> None:
    served = serve()
    served.store.close()  # every store call now fails in a way no handler expects
    response = httpx.get(served.url + "/api/v2/sessions/s")
    assert response.status_code == 500
    body = response.json()
    assert body == {"message": "internal server error", "request_id": body["request_id"]}
    assert response.headers["X-Request-Id"] == body["request_id"]
    assert "Traceback" not in response.text and "duckdb" not in response.text.lower()
    others = {httpx.get(served.url + "/healthz").headers["X-Request-Id"] for _ in range(3)}
    assert len(others | {body["request_id"]}) == 4  # each request its own id
    assert all(len(other) == 16 and int(other, 16) >= 0 for other in others)
