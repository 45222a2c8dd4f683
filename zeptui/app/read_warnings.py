"""Rows the store could not show as stored (logged by `storage.reads`), as the app's
notifications."""

from __future__ import annotations

import logging
from functools import partial

from textual.app import App


class ReadWarnings(logging.Handler):
    """Rows the store could not show as stored, as notifications (once each).

    They come from worker threads; anything written to stderr would tear the screen."""

    def __init__(self, app: App[None]) -> None:
        super().__init__(logging.WARNING)
        self.app = app
        self.seen: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text in self.seen:
            return
        self.seen.add(text)
        notify = partial(
            self.app.notify,
            text,
            title="A stored value could not be shown",
            severity="warning",
            markup=False,
        )
        try:
            self.app.call_from_thread(notify)  # from a worker thread, as reads are
        except RuntimeError:  # on the app's own thread
            notify()
