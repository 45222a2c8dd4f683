"""What zeptui does, for any front end: the CLI today, the app and the API server next.

Services take a store and plain values and return results or report progress through
small interfaces; they print nothing and know nothing of click, Rich or Textual.
An expected failure is a `ServiceError` whose message is one line fit for a user.

- `export`: which sessions to export, in which format, and where the bytes go.
- `imports`: one import run over files, directories and archives, with progress events.
- `filters`: the session filter language (`user:NAME key=value >DATE words`).
- `sync`: one store copied into another by docs/sync.md's rules (`sync_rules`), from
  their inventories (`sync_inventory`), with a record of each remote (`sync_state`).
"""

from __future__ import annotations

__all__ = ["ServiceError"]


class ServiceError(Exception):
    """A request a service cannot carry out, with a one-line reason for the user."""
