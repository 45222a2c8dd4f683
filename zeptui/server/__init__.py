"""`zeptui serve`: Zep's REST API (`/api/v2` and `/api/v1`) over any MemoryStore.

`create_app` builds the ASGI app from a store and `ServerOptions`; nothing here knows
which store it serves, only the capabilities it offers (storage/capabilities.py).
See docs/zep-compatibility.md for the API as served.
"""

from zeptui.server.app import ServerOptions, create_app

__all__ = ["ServerOptions", "create_app"]
