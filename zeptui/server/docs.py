"""The API's docs page: one self-contained HTML page made from the OpenAPI document.

FastAPI's own pages load their scripts from a CDN; this server is for offline use,
so its page needs nothing but itself. Every text from the document is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

_METHODS = ("get", "post", "patch", "put", "delete")

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.45; color: #1d1f21; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .2rem; margin-top: 2rem; }
.op { margin: .8rem 0; padding: .5rem .8rem; border-left: 4px solid #6a8; background: #f6f8f6; }
.method { font-weight: bold; text-transform: uppercase; display: inline-block; width: 4.5rem; }
code { font-size: .95em; }
.params { margin: .3rem 0 0 4.5rem; font-size: .92em; color: #333; }
"""


def _parameters(operation: dict[str, Any]) -> str:
    items = []
    for parameter in operation.get("parameters", []):
        where = escape(str(parameter.get("in", "")))
        name = escape(str(parameter.get("name", "")))
        description = escape(str(parameter.get("description", "")))
        items.append(f"<li><code>{name}</code> ({where}) {description}</li>")
    if "requestBody" in operation:
        items.append("<li>a JSON body (see the OpenAPI document)</li>")
    statuses = ", ".join(escape(str(status)) for status in operation.get("responses", {}))
    items.append(f"<li>answers: {statuses}</li>")
    return f"<ul class='params'>{''.join(items)}</ul>"


def docs_page(openapi: dict[str, Any], openapi_url: str) -> str:
    """The HTML page listing every endpoint of `openapi`, grouped by tag."""
    info = openapi.get("info", {})
    groups: dict[str, list[str]] = {}
    for path, item in openapi.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            tag = str((operation.get("tags") or ["other"])[0])
            summary = escape(str(operation.get("summary", "")))
            description = escape(str(operation.get("description", "")).split("\n\n")[0])
            groups.setdefault(tag, []).append(
                f"<div class='op'><span class='method'>{method}</span> <code>{escape(path)}</code>"
                f" {summary}<br><small>{description}</small>{_parameters(operation)}</div>"
            )
    sections = "".join(
        f"<h2>{escape(tag)}</h2>{''.join(operations)}" for tag, operations in groups.items()
    )
    title = escape(str(info.get("title", "API")))
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{title} <small>{escape(str(info.get('version', '')))}</small></h1>"
        f"<p>{escape(str(info.get('description', '')))}</p>"
        f"<p>The machine-readable document: <a href='{escape(openapi_url)}'>"
        f"{escape(openapi_url)}</a></p>{sections}</body></html>"
    )
