"""The remote store through a network that fails: retries with backoff and Retry-After,
only when repeating is safe, and never a duplicate message.

A proxy (tests/remote/proxy.py) sits between RemoteStore and a real `zeptui serve` app
on a real DuckDB store, and drops connections, answers 503 and 429, or delays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from storage.errors import RemoteTimeoutError, RemoteUnavailableError
from storage.models import CreateSessionRequest, Message
from tests.remote.conftest import Sleeps
from tests.remote.proxy import Fault, Proxy
from tests.server.conftest import Served
from zeptui.remote import RemoteStore, RetryPolicy, Timeouts, open_remote

Remote = Callable[..., RemoteStore]


@pytest.fixture
def remote(sleeps: Sleeps) -> Iterator[Remote]:
    """`remote(url, **options)`: a RemoteStore waiting on `sleeps`, closed afterwards."""
    with ExitStack() as stack:

        def open_one(url: str, **options: object) -> RemoteStore:
            options.setdefault("retry", RetryPolicy(attempts=4))
            store = open_remote(url, sleep=sleeps, **options)  # type: ignore[arg-type]
            return stack.enter_context(store)

        yield open_one


def say(n: int) -> Message:
    return Message(role="Jane", content=f"message {n}")


def contents(served: Served, session_id: str) -> list[str]:
    return [m.content for m in served.store.list_messages(session_id, limit=0).messages]


def test_a_lost_answer_to_add_memory_is_retried_without_duplicates(
    served: Served, proxy: Proxy, sleeps: Sleeps, remote: Remote
) -> None:
    store = remote(proxy.url)
    proxy.inject(Fault("drop_after", method="POST", path="/memory"))
    added = store.add_memory("s", [say(1), say(2), Message(role="x", content="three")])
    assert proxy.count("POST", "/memory") == 2  # the server stored the first, unanswered
    assert contents(served, "s") == ["message 1", "message 2", "three"]
    assert len(sleeps) == 1
    # The retry found them stored; they are read back and answered as added.
    assert [m.content for m in added] == ["message 1", "message 2", "three"]
    assert [m.uuid for m in added] == [m.uuid for m in served.store.list_messages("s").messages]


def test_503_and_429_are_retried_after_the_servers_retry_after(
    served: Served, proxy: Proxy, sleeps: Sleeps, remote: Remote
) -> None:
    store = remote(proxy.url)
    proxy.inject(
        Fault("status", status=503, retry_after="2", method="POST"),
        Fault("status", status=429, retry_after="1", method="POST"),
    )
    store.add_session(CreateSessionRequest(session_id="s"))  # not idempotent, but unprocessed
    assert sleeps == [2.0, 1.0]
    assert served.store.get_session("s").session_id == "s"


def test_backoff_grows_with_jitter_and_gives_up_in_one_line(
    served: Served, proxy: Proxy, sleeps: Sleeps, remote: Remote
) -> None:
    store = remote(proxy.url)
    proxy.inject(Fault("status", status=502, times=4, method="GET"))
    with pytest.raises(RemoteUnavailableError) as failure:
        store.list_sessions()
    assert len(sleeps) == 3  # four tries in all
    assert all(0 <= wait <= 0.2 * 2**n for n, wait in enumerate(sleeps))
    assert str(failure.value) == (
        f"{proxy.url} answered GET /api/v2/sessions with 502: injected failure"
    )


def test_a_request_that_may_have_been_handled_is_not_repeated_unless_safe(
    served: Served, proxy: Proxy, sleeps: Sleeps, remote: Remote
) -> None:
    store = remote(proxy.url)
    proxy.inject(Fault("drop_after", method="POST", path="/sessions"))
    with pytest.raises(RemoteUnavailableError, match="closed without an answer"):
        store.add_session(CreateSessionRequest(session_id="once"))
    assert proxy.count("POST", "/sessions") == 1
    assert sleeps == []
    assert served.store.get_session("once").session_id == "once"


def test_a_lost_answer_to_a_delete_is_not_an_error(
    served: Served, proxy: Proxy, sleeps: Sleeps, remote: Remote
) -> None:
    store = remote(proxy.url)
    served.store.add_memory("s", [say(1)])
    proxy.inject(Fault("drop_after", method="DELETE"))
    store.delete_session("s")
    assert proxy.count("DELETE", "/memory") == 2
    assert served.store.list_sessions() == []


def test_a_slow_server_times_out_in_one_line_and_a_read_is_tried_again(
    served: Served, proxy: Proxy, sleeps: Sleeps, remote: Remote
) -> None:
    timeouts = Timeouts(connect=2.0, read=0.5)
    store = remote(proxy.url, timeouts=timeouts)
    served.store.add_memory("s", [say(1)])
    proxy.inject(Fault("delay", delay=2.0, method="GET", path="/memory"))
    assert [m.content for m in store.get_memory("s").messages] == ["message 1"]
    assert proxy.count("GET", "/memory") == 2
    impatient = remote(proxy.url, timeouts=timeouts, retry=RetryPolicy(attempts=2))
    proxy.inject(Fault("delay", delay=2.0, times=2, method="GET", path="/memory"))
    with pytest.raises(RemoteTimeoutError) as failure:
        impatient.get_memory("s")
    assert str(failure.value) == (
        f"{proxy.url} did not answer GET /api/v2/sessions/s/memory within 0.5 s"
    )


def test_a_server_that_is_not_there_is_one_line_after_the_retries(sleeps: Sleeps) -> None:
    with pytest.raises(RemoteUnavailableError) as failure:
        open_remote("http://127.0.0.1:9", retry=RetryPolicy(attempts=3), sleep=sleeps)
    assert len(sleeps) == 2
    assert str(failure.value) == "cannot reach http://127.0.0.1:9 (connection refused)"


def test_through_a_network_that_fails_a_fifth_of_its_requests_nothing_is_lost_or_doubled(
    served: Served, proxy: Proxy, sleeps: Sleeps, remote: Remote
) -> None:
    store = remote(proxy.url, retry=RetryPolicy(attempts=8))
    proxy.failure_rate = 0.2
    for batch in range(10):
        store.add_memory("busy", [say(batch * 3 + n) for n in range(3)])
        assert store.get_memory("busy", lastn=1).messages[0].content == f"message {batch * 3 + 2}"
    proxy.failure_rate = 0.0
    assert contents(served, "busy") == [f"message {n}" for n in range(30)]
    assert len(sleeps) > 0
