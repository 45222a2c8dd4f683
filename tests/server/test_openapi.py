"""The generated OpenAPI document and docs page, against Zep's published spec.

`V1_SPEC` is Zep v0.27.2's Swagger (getzep/zep, gh-pages `swagger.json`, the memory
paths) with its known path mistakes corrected (the message paths live under
`/sessions`); `V2_CALLS` are the calls zep-python 2.0.0rc6 makes.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.server.conftest import Served
from tests.test_cli import USER_FIELDS

V1_SPEC: dict[tuple[str, str], set[str]] = {
    ("get", "/api/v1/sessions"): {"limit", "cursor"},
    ("post", "/api/v1/sessions"): set(),
    ("get", "/api/v1/sessions/{session_id}"): set(),
    ("patch", "/api/v1/sessions/{session_id}"): set(),
    ("get", "/api/v1/sessions/{session_id}/memory"): {"lastn"},
    ("post", "/api/v1/sessions/{session_id}/memory"): set(),
    ("delete", "/api/v1/sessions/{session_id}/memory"): set(),
    ("post", "/api/v1/sessions/{session_id}/search"): {"limit"},
    ("get", "/api/v1/sessions/{session_id}/messages"): {"limit", "cursor"},
    ("get", "/api/v1/sessions/{session_id}/messages/{message_uuid}"): set(),
    ("patch", "/api/v1/sessions/{session_id}/messages/{message_uuid}"): set(),
    ("get", "/api/v1/user"): {"limit", "cursor"},
    ("post", "/api/v1/user"): set(),
    ("get", "/api/v1/user/{user_id}"): set(),
    ("patch", "/api/v1/user/{user_id}"): set(),
    ("delete", "/api/v1/user/{user_id}"): set(),
    ("get", "/api/v1/user/{user_id}/sessions"): set(),
}

V2_CALLS: dict[tuple[str, str], set[str]] = {
    ("post", "/api/v2/sessions"): set(),
    ("get", "/api/v2/sessions"): {"limit", "cursor"},
    ("get", "/api/v2/sessions/{session_id}"): set(),
    ("patch", "/api/v2/sessions/{session_id}"): set(),
    ("get", "/api/v2/sessions/{session_id}/memory"): {"lastn", "memoryType"},
    ("post", "/api/v2/sessions/{session_id}/memory"): set(),
    ("delete", "/api/v2/sessions/{session_id}/memory"): set(),
    ("post", "/api/v2/sessions/{session_id}/search"): {"limit"},
    ("get", "/api/v2/sessions/{session_id}/messages"): {"limit", "cursor"},
    ("get", "/api/v2/sessions/{session_id}/messages/{message_uuid}"): set(),
    ("patch", "/api/v2/sessions/{session_id}/messages/{message_uuid}"): set(),
    ("post", "/api/v2/sessions/{session_id}/classify"): set(),
    ("get", "/api/v2/sessions/{session_id}/synthesize_question"): {"lastNMessages"},
    ("post", "/api/v2/users"): set(),
    ("get", "/api/v2/users"): {"limit", "cursor"},
    ("get", "/api/v2/users/{user_id}"): set(),
    ("patch", "/api/v2/users/{user_id}"): set(),
    ("delete", "/api/v2/users/{user_id}"): set(),
    ("get", "/api/v2/users/{user_id}/sessions"): set(),
}

SPEC_SCHEMAS = {
    # The fields of Zep's v0.27.2 definitions that a response carries.
    "Session": {
        "uuid",
        "id",
        "created_at",
        "updated_at",
        "deleted_at",
        "session_id",
        "user_id",
        "metadata",
    },
    "User": USER_FIELDS,
    "Message": {"uuid", "created_at", "updated_at", "role", "content", "token_count", "metadata"},
    "Summary": {"uuid", "created_at", "content", "recent_message_uuid", "token_count", "metadata"},
    "MemoryResponse": {"messages", "summary", "metadata"},
    "SearchResultV1": {"message", "summary", "metadata", "dist", "embedding"},
    "SearchBody": {"text", "metadata", "search_scope", "search_type", "mmr_lambda"},
    "CreateSessionRequest": {"session_id", "user_id", "metadata"},
    "CreateUserRequest": {"user_id", "email", "first_name", "last_name", "metadata"},
}


@pytest.fixture
def document(served: Served) -> dict[str, Any]:
    response = httpx.get(served.url + "/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def _path_key(path: str) -> str:
    return path.replace("{session_id:path}", "{session_id}")


@pytest.mark.parametrize("calls", [V1_SPEC, V2_CALLS], ids=["v1 spec", "v2 calls"])
def test_every_endpoint_with_its_parameters(
    document: dict[str, Any], calls: dict[tuple[str, str], set[str]]
) -> None:
    served = {
        (method, _path_key(path)): {
            p["name"] for p in op.get("parameters", []) if p["in"] == "query"
        }
        for path, item in document["paths"].items()
        for method, op in item.items()
    }
    for call, query in calls.items():
        assert call in served, call
        assert served[call] == query, call


def test_schemas_carry_the_spec_fields(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name, fields in SPEC_SCHEMAS.items():
        assert fields <= set(schemas[name]["properties"]), name
    assert "role_type" in schemas["Message"]["properties"]
    assert "score" in schemas["SearchResultV2"]["properties"]


def test_errors_are_documented_as_json_never_422(document: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for item in document["paths"].values():
        for operation in item.values():
            responses = operation["responses"]
            assert "422" not in responses
            for status in ("400", "401", "404", "500"):
                schema = responses[status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}


def test_docs_page_lists_every_endpoint_and_needs_nothing_else(
    served: Served, document: dict[str, Any]
) -> None:
    page = httpx.get(served.url + "/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for path in document["paths"]:
        assert f"<code>{path}</code>" in page.text
    # Offline: no script, stylesheet or image from anywhere.
    assert not re.search(r"<(script|link|img)\b", page.text)
    assert "http://" not in page.text and "https://" not in page.text
