"""zeptui's own endpoints (`/api/v2/zeptui/...`): what the served store offers, and the
calls a remote zeptui store makes that Zep's API cannot carry."""

from __future__ import annotations

import uuid

import httpx

from storage.capabilities import CAPABILITY_NAMES
from storage.models import Message
from tests.contract.test_capabilities import core_only
from tests.server.conftest import API_KEY, Served, ServeFactory
from tests.server.harness import serving
from zeptui.server import create_app
from zeptui.settings import DEFAULT_MAX_BODY


def test_capabilities_name_everything_the_store_offers_its_window_and_body_limit(
    served: Served,
) -> None:
    answer = httpx.get(served.url + "/api/v2/zeptui/capabilities")
    assert answer.status_code == 200
    assert answer.json() == {
        "server": "zeptui",
        "capabilities": list(CAPABILITY_NAMES),
        "message_window": served.store.message_window,
        "max_body": DEFAULT_MAX_BODY,
    }


def test_a_store_without_capabilities_lists_none_and_refuses_them(served: Served) -> None:
    with serving(create_app(core_only(served.store))) as url:
        answer = httpx.get(url + "/api/v2/zeptui/capabilities")
        assert answer.json()["capabilities"] == []
        page = httpx.post(url + "/api/v2/zeptui/session-page", json={})
        assert page.status_code == 501
        assert "cannot list pages of sessions" in page.json()["message"]


def test_the_endpoints_need_the_key_like_every_api_call(serve: ServeFactory) -> None:
    served = serve(api_key=API_KEY)
    assert httpx.get(served.url + "/api/v2/zeptui/capabilities").status_code == 401
    headers = {"Authorization": f"Api-Key {API_KEY}"}
    answer = httpx.get(served.url + "/api/v2/zeptui/capabilities", headers=headers)
    assert answer.status_code == 200


def test_add_memory_answers_what_it_inserted_and_nothing_twice(served: Served) -> None:
    known = str(uuid.uuid4())
    url = served.url + "/api/v2/zeptui/sessions/a+b%2Fc/memory"
    body = {"messages": [{"uuid": known, "role": "Jane", "content": "hi"}]}
    first = httpx.post(url, json=body)
    assert first.status_code == 201
    assert [m["uuid"] for m in first.json()] == [known]
    assert httpx.post(url, json=body).json() == []
    assert served.store.list_messages("a b/c").total_count == 1


def test_import_lists_conflicts_when_asked_to_skip_them(served: Served) -> None:
    shared = str(uuid.uuid4())
    served.store.add_memory("A", [Message(uuid=shared, role="Jane", content="in A")])
    body = {
        "sessions": [
            {"session_id": "B", "messages": [{"uuid": shared, "role": "x", "content": "y"}]}
        ],
        "skip_conflicts": True,
    }
    answer = httpx.post(served.url + "/api/v2/zeptui/import", json=body).json()
    assert answer["conflicts"] == [
        {"message_uuid": shared, "session_id": "B", "holder_session_id": "A"}
    ]
    assert answer["result"]["messages_conflicting"] == 1
    refused = httpx.post(
        served.url + "/api/v2/zeptui/import", json={**body, "skip_conflicts": False}
    )
    assert refused.status_code == 409
