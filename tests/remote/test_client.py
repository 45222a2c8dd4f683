"""The remote store against the servers it may meet: `zeptui serve` (every capability),
a plain Zep server of either API generation (the core), something that is not Zep;
and the API key, which never shows."""

from __future__ import annotations

import json
import logging
import traceback
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from storage.capabilities import CAPABILITY_NAMES, SessionPages, Unsupported, offered
from storage.errors import ConflictError, NotFoundError, NotZepError, RemoteAuthError
from storage.models import (
    CreateSessionRequest,
    CreateUserRequest,
    Message,
    SearchQuery,
    SessionImport,
    SessionOrder,
    SessionQuery,
)
from storage.tokens import count_message_tokens
from tests.remote.proxy import proxying
from tests.server.conftest import API_KEY, Served, ServeFactory
from tests.server.harness import serving
from zeptui.remote import open_remote
from zeptui.remote.client import retry_after


def numbered(count: int) -> list[Message]:
    return [Message(role="Jane", content=f"message {n}") for n in range(1, count + 1)]


def test_against_zeptui_serve_every_capability_is_offered(served: Served) -> None:
    with open_remote(served.url) as store:
        assert store.client.version == "v2"
        assert store.message_window == served.store.message_window
        for capability in CAPABILITY_NAMES.values():
            assert offered(store, capability) is store
        assert store.location == served.url


def test_a_plain_zep_server_is_spoken_to_with_the_core_only(served: Served) -> None:
    with (
        proxying(served.url, hide_zeptui=True, zep_version="1.0.0") as proxy,
        open_remote(proxy.url) as store,
    ):
        assert store.client.version == "v2"
        for name, capability in CAPABILITY_NAMES.items():
            assert (offered(store, capability) is store) == (name == "session_pages")
        added = store.add_memory("s", numbered(12))
        assert [m.content for m in added] == [f"message {n}" for n in range(1, 13)]
        stored = served.store.list_messages("s").messages
        assert [m.uuid for m in added] == [m.uuid for m in stored]  # the uuids sent are kept
        assert [m.token_count for m in added] == [m.token_count for m in stored]
        assert [m.content for m in store.get_memory("s").messages][-1] == "message 12"
        newest = store.list_summaries("s")  # Zep lists none: the one memory carries
        assert [info.summary.uuid for info in newest] == [
            served.store.list_summaries("s")[-1].summary.uuid
        ]
        found = store.search(SearchQuery(text="message", session_id="s", limit=3))
        assert len(found) == 3 and all(0 < r.score < 1 for r in found)
        with pytest.raises(Unsupported, match="searches one session at a time"):
            store.search(SearchQuery(text="message"))
        assert [s.session_id for s in store.list_sessions()] == ["s"]
        assert not any(path.startswith("/api/v1") for _method, path in proxy.seen)


def test_a_zep_0x_server_is_spoken_to_on_v1(serve: ServeFactory) -> None:
    served = serve(api_key=API_KEY)
    with (
        proxying(served.url, hide_zeptui=True, zep_version="0.27.2", text_errors=True) as proxy,
        open_remote(proxy.url, api_key=API_KEY) as store,
    ):
        assert store.client.version == "v1"
        store.add_user(CreateUserRequest(user_id="a+b c"))
        store.add_memory("s 1+2", numbered(2))
        assert [m.content for m in store.list_messages("s 1+2").messages] == [
            "message 1",
            "message 2",
        ]
        assert served.store.get_user("a+b c").user_id == "a+b c"
        with pytest.raises(NotFoundError, match="session 'unknown' not found"):
            store.get_memory("unknown")  # v1 answers it empty; the store says not found
        with pytest.raises(ConflictError, match="a\\+b c"):  # Go's http.Error: plain text
            store.add_user(CreateUserRequest(user_id="a+b c"))
        assert ("POST", "/api/v1/user") in proxy.seen


def test_the_api_generation_may_be_given(served: Served) -> None:
    with open_remote(served.url, version="v1") as store:
        assert store.client.version == "v1"
        store.add_memory("s", numbered(1))
        assert store.get_memory("s").messages[0].content == "message 1"


def test_a_server_that_is_not_zep_is_one_line() -> None:
    async def page(request: object) -> HTMLResponse:
        return HTMLResponse("<html>hello</html>", status_code=404)

    app = Starlette(routes=[Route("/{path:path}", page)])
    with serving(app) as url:
        with pytest.raises(NotZepError) as failure:
            open_remote(url)
        assert str(failure.value) == (
            f"{url} answered GET /healthz with 404 Not Found and no Zep error: is it a Zep server?"
        )


def test_retry_after_in_seconds_or_as_a_date() -> None:
    def answer(value: str) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": value})

    assert retry_after(answer("3")) == 3.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < (retry_after(answer(later)) or 0) <= 30
    assert retry_after(answer("soon")) is None
    assert retry_after(httpx.Response(503)) is None


def test_the_key_is_sent_as_the_sdks_send_it_and_never_shown(
    serve: ServeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    served = serve(api_key=API_KEY)
    with pytest.raises(RemoteAuthError) as missing:
        open_remote(served.url)
    assert str(missing.value) == (
        f"{served.url} needs an API key: set ZEPTUI_API_KEY (or remote.api_key in the config file)"
    )
    wrong_key = API_KEY + "-wrong"
    with pytest.raises(RemoteAuthError) as wrong:
        open_remote(served.url, api_key=wrong_key)
    assert str(wrong.value) == f"{served.url} refused the API key (401 unauthorized)"
    with open_remote(served.url, api_key=API_KEY) as store:
        with pytest.raises(NotFoundError) as unknown:
            store.get_session("nope")
        shown = [
            repr(store),
            repr(store.client.__dict__),
            repr(store.client._http.headers),
            *traceback.format_exception(wrong.value),
            *traceback.format_exception(unknown.value),
            caplog.text,
        ]
    for text in shown:
        assert API_KEY not in text
        assert wrong_key not in text


def test_a_plain_zep_servers_session_pages_are_built_from_its_histories(served: Served) -> None:
    served.store.add_user(CreateUserRequest(user_id="jane"))
    served.store.add_session(CreateSessionRequest(session_id="empty", user_id="jane"))
    served.store.add_memory("long", numbered(5))
    served.store.add_memory("short", numbered(1))
    served.store.update_session("short", {"title": "Short"})
    with (
        proxying(served.url, hide_zeptui=True, zep_version="1.0.0") as proxy,
        open_remote(proxy.url) as store,
    ):
        pages = offered(store, SessionPages)
        assert pages is not None
        for query in (
            SessionQuery(),
            SessionQuery(order_by=SessionOrder.activity, descending=True),
            SessionQuery(order_by=SessionOrder.message_count, limit=2, cursor=1),
            SessionQuery(user_id="jane"),
            SessionQuery(limit=2, descending=True),
        ):
            assert pages.session_page(query) == served.store.session_page(query)
        with pytest.raises(Unsupported, match="narrowed by user only"):
            pages.session_page(SessionQuery(text="short"))


class _Recording(httpx.HTTPTransport):
    """The real transport, keeping each request's path and body."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, bytes]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.url.path, request.read()))
        return super().handle_request(request)


def test_an_import_sends_token_counts_only_when_marked_counted(served: Served) -> None:
    recording = _Recording()
    first = Message(uuid=str(uuid.uuid4()), role="Jane", content="Hello there", token_count=4)
    second = first.model_copy(update={"uuid": str(uuid.uuid4())})
    with open_remote(served.url, transport=recording) as remote:
        remote.import_sessions([SessionImport(session_id="a", messages=[first])])
        remote.import_sessions([SessionImport(session_id="b", messages=[second])], counted=True)
    sent = [
        json.loads(body)["sessions"][0]["messages"][0]
        for path, body in recording.sent
        if path.endswith("/import")
    ]
    assert "token_count" not in sent[0]  # the server counts
    assert sent[1]["token_count"] == 4
    for name in ("a", "b"):
        [stored] = served.store.list_messages(name).messages
        assert stored.token_count == count_message_tokens("Jane", "Hello there")
