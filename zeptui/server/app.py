"""The ASGI app: Zep's API over one MemoryStore.

`create_app(store, options)` is the whole server as an ASGI app (uvicorn runs it; the
tests run it under a real uvicorn too). The store is used through `MemoryStore` and
the capabilities it offers, so the same app serves a local file or anything else that
implements the interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from storage.store import MemoryStore
from zeptui.server.docs import docs_page
from zeptui.server.errors import install_error_handlers
from zeptui.server.extensions import extensions_router
from zeptui.server.guard import Guard
from zeptui.server.language import LanguageModel
from zeptui.server.routes import V1, V2, Services, api_router
from zeptui.server.search import SearchService
from zeptui.settings import DEFAULT_MAX_BODY

ZEP_VERSION = "0.27.2-zeptui"
"""`X-Zep-Version`: the Zep release whose API is served, and a `-` so that neither SDK
warns (they parse the part before it; zep-python 2.0.0rc6 warns without one)."""
OPENAPI_URL = "/openapi.json"
DOCS_URL = "/docs"
HEALTH_URL = "/healthz"


@dataclass(frozen=True)
class ServerOptions:
    """How the API behaves, whatever store it serves."""

    api_key: str | None = None
    """Required on every `/api` call when set (`Api-Key <key>` or `Bearer <key>`)."""
    max_body: int = DEFAULT_MAX_BODY
    """Request bodies over this many bytes are refused with 413, unread."""
    local_token: str | None = None
    """Also accepted as a key when `api_key` is set: the token of the discovery file,
    so local zeptui processes can go through the server (zeptui/server/discovery.py)."""
    language_model: LanguageModel | None = None
    """For classify and synthesize_question; without one they answer 501."""


def create_app(store: MemoryStore, options: ServerOptions | None = None) -> FastAPI:
    """Zep's `/api/v2` and `/api/v1` over `store`, with `/healthz` and the API docs."""
    options = options or ServerOptions()
    app = FastAPI(
        title="zeptui serve",
        version=ZEP_VERSION,
        description=(
            "Zep's memory API, offline, on a zeptui store: /api/v2 as zep-python 2.0.0rc6 "
            "uses it, /api/v1 as zep-python 1.5.0 and LangChain use it. "
            "See docs/zep-compatibility.md in the zeptui repository."
        ),
        docs_url=None,
        redoc_url=None,
        openapi_url=OPENAPI_URL,
        redirect_slashes=False,
        separate_input_output_schemas=False,
    )
    services = Services(store, SearchService(store), options.language_model)
    app.include_router(api_router(V2, services))
    app.include_router(extensions_router(store, options.max_body))
    app.include_router(api_router(V1, services))
    install_error_handlers(app)

    @app.get(HEALTH_URL, include_in_schema=False)
    def health() -> Response:
        return PlainTextResponse(".")

    @app.get(DOCS_URL, include_in_schema=False)
    def docs() -> Response:
        return HTMLResponse(docs_page(app.openapi(), OPENAPI_URL))

    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _without_422(default_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    keys = (options.api_key, options.local_token) if options.api_key else ()
    app.add_middleware(
        Guard,
        api_keys=tuple(key for key in keys if key),
        max_body=options.max_body,
        version=ZEP_VERSION,
    )
    return app


def _without_422(document: dict[str, Any]) -> dict[str, Any]:
    """The document without FastAPI's 422 answers: this API answers 400 instead."""
    for item in document.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict):
                operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return document


__all__ = ["DEFAULT_MAX_BODY", "ServerOptions", "create_app"]
