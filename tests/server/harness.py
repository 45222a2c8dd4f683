"""A real uvicorn serving an app on 127.0.0.1 (a free port), in a thread of the test.

The SDKs make their own HTTP calls (their health check too), so the tests need a real
server on a real socket; a thread keeps the store in reach of the test, to compare it
before and after. Start and stop are bounded; the server is always stopped.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


@contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """`app` under uvicorn on 127.0.0.1; yields its root URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT)
        listener.close()
        if thread.is_alive():
            raise RuntimeError("uvicorn did not stop")
