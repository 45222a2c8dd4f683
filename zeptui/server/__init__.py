"""`zeptui serve`: Zep's REST API (`/api/v2` and `/api/v1`) over any MemoryStore.

`create_app` builds the ASGI app from a store and `ServerOptions`; nothing here knows
which store it serves, only the capabilities it offers (storage/capabilities.py).
`zeptui.server.discovery` (cheap to import: no web framework) tells other zeptui
processes which server holds a store. See docs/zep-compatibility.md for the API as
served.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zeptui.server.app import ServerOptions, create_app


def __getattr__(name: str) -> Any:
    # The web framework loads on first use, so the CLI's other commands (which read
    # the discovery file) stay quick to start.
    if name in ("ServerOptions", "create_app"):
        from zeptui.server import app

        return getattr(app, name)
    raise AttributeError(f"module 'zeptui.server' has no attribute {name!r}")


__all__ = ["ServerOptions", "create_app"]
