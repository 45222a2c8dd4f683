"""The token counts of a Zep JSONL import's new rows (storage/duckdb/zep_jsonl.py),
counted while DuckDB works on the same rows: by processes forked onto the spare cores
(which then draft the new sessions' summaries, if asked), or by a thread; and the new
sessions' messages kept as their summaries' backlogs, so that nothing is read back.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from functools import partial
from itertools import chain
from typing import TYPE_CHECKING, Any

from storage.duckdb.connection import Cursor
from storage.duckdb.summaries import new_backlogs
from storage.tokens import count_tokens_batch, message_text

if TYPE_CHECKING:
    from storage.duckdb.summaries import FirstSummary
    from storage.duckdb.summary_host import ShareDrafts
    from storage.duckdb.zep_jsonl import Stopwatch
    from storage.summary_scheduler import StoredMessage

TOKEN_BATCH = 50_000
"""Lines of a bulk-imported file whose tokens are counted at a time."""


def count_staged_tokens(
    cursor: Cursor,
    rows: int,
    first: int,
    last: int,
    clock: Stopwatch,
    keep: Callable[[Sequence[Any], list[int]], None] | None,
    alongside: Callable[[], None],
    drafts: ShareDrafts | None = None,
) -> None:
    """`zep_tokens(id, token_count)` for the `rows` rows of `zep_new` (lines `first` to
    `last` of the file; their message ids in `zep_ids`), and `alongside()`, DuckDB work
    on the same rows.

    Rows that fit in `IN_MEMORY_BYTES` are read at once and counted while `alongside()`
    runs: by forked processes when there are many and cores to spare
    (`_read_counted_by_children`), else by a thread (`_count_on_a_thread`). More are
    read and counted `TOKEN_BATCH` lines at a time, so memory stays flat however big
    the file (each batch a lap of `clock`'s "tokens"), and `alongside()` runs after.
    `keep` (which needs the rows to fit) is handed every row's columns as
    `summaries.backlog_messages` takes them (ordered by session key) and their counts;
    with `drafts` too, forked children draft the new sessions' summaries after they
    count instead (`_read_counted_by_children`), and `keep` is not called: nothing is
    kept here.
    """
    cursor.execute("CREATE OR REPLACE TEMP TABLE zep_tokens (id BIGINT, token_count INTEGER)")
    if keep is not None or fits_in_memory(cursor):
        from storage import processes  # multiprocessing: loaded by big imports alone

        spare = processes.spare_cores() if rows >= processes.FORKED_COUNT_TEXTS else 0
        drafting = drafts is not None and keep is not None and spare > 0
        # Drafts need no uuid (a summary's are looked up when it is stored).
        wanted = "n.uuid::VARCHAR" if keep is not None and not drafting else "NULL"
        select = (
            f"SELECT n.session_key, i.id, {wanted}, n.role, n.role_type, n.content "
            "FROM zep_new n JOIN zep_ids i USING (seq)"
        )
        ids: Sequence[int]
        if spare:
            ids, counts = _read_counted_by_children(
                _shares(cursor, select, rows, spare, alternate=drafting),
                clock.check,
                alongside,
                drafts=drafts if drafting else None,
                keep=None if drafting else keep,
            )
        else:
            found = _ShareRows(cursor.execute(f"{select} ORDER BY n.session_key, n.seq").fetchall())
            counts = _count_on_a_thread(found.texts(), clock.check, alongside)
            columns = found.columns()
            if keep is not None:
                keep(columns, counts)
            ids = columns[1]
        _insert_counts(cursor, *_in_id_order(ids, counts))
        return
    for low in range(first, last + 1, TOKEN_BATCH):
        batch = cursor.execute(
            "SELECT i.id, n.role, n.content FROM zep_new n JOIN zep_ids i USING (seq) "
            "WHERE n.seq >= ? AND n.seq < ? ORDER BY n.seq",
            [low, low + TOKEN_BATCH],
        ).fetchall()
        if batch:  # ids follow the lines' order: these are consecutive
            counts = count_tokens_batch([message_text(row[1], row[2]) for row in batch])
            _insert_counts(cursor, batch[0][0], counts)
        clock.lap("tokens")
    alongside()


def _shares(
    cursor: Cursor, select: str, rows: int, count: int, *, alternate: bool
) -> Iterator[list[tuple[Any, ...]]]:
    """The `rows` rows of `select` (messages `n`) in `count` shares, each ordered by
    session key and read when asked for: with `alternate`, every `count`-th session
    each (their drafts then merge in key order: `ShareDrafts.batches`), else runs of
    consecutive rows."""
    if alternate:
        for share in range(count):
            yield cursor.execute(
                f"{select} WHERE n.session_key % $shares = $share ORDER BY n.session_key, n.seq",
                {"shares": count, "share": share},
            ).fetchall()
        return
    found = cursor.execute(f"{select} ORDER BY n.session_key, n.seq")
    while batch := found.fetchmany(-(-rows // count)):
        yield batch


def _read_counted_by_children(
    shares: Iterator[list[tuple[Any, ...]]],
    check: Callable[[], None],
    alongside: Callable[[], None],
    drafts: ShareDrafts | None = None,
    keep: Callable[[Sequence[Any], list[int]], None] | None = None,
) -> tuple[list[int], list[int]]:
    """The ids (the second column) of the rows of `shares`, and their texts' token
    counts, counted by a process forked for each share as soon as it is read (the
    first counts while the next is read: tiktoken on every core; `storage.processes`);
    `alongside()` runs while they count. A cancel (`check` raises) stops them at once.
    `keep`, if given, is handed every row's columns (in the shares' order) and their
    counts.

    With `drafts`, each child then drafts its share's summaries (`ShareDrafts.draft`)
    for the caller to take later: the children are `drafts.forked`'s, stopped by its
    owner."""
    from storage.processes import ForkedCount

    forked = ForkedCount() if drafts is None else drafts.fork()
    parts: list[list[tuple[Any, ...]]] = []
    ids: list[int] = []
    with forked if drafts is None else nullcontext(forked):
        # Forked before DuckDB works again (`alongside()`): its threads are idle.
        for batch in shares:
            if not batch:
                continue
            rows = _ShareRows(batch)
            if keep is not None:  # the columns are wanted here too: made before the fork
                parts.append(rows.columns())
            else:
                ids += [row[1] for row in batch]
            forked.count(rows.texts, None if drafts is None else partial(rows.draft, drafts))
        alongside()
        counts = forked.result(check)
    if keep is not None:
        columns = [list(chain.from_iterable(part[n] for part in parts)) for n in range(6)]
        keep(columns, counts)
        return list(columns[1]), counts
    return ids, counts


class _ShareRows:
    """A share's rows as read, made into its columns and texts when first asked: in the
    child that counts them, when forked, so that the next share is read meanwhile
    (0.04 s sooner for the first, while the other core waited)."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows
        self._columns: list[tuple[Any, ...]] | None = None

    def columns(self) -> list[tuple[Any, ...]]:
        """The rows' columns (`summaries.backlog_messages`'s)."""
        if self._columns is None:
            self._columns = list(zip(*self._rows, strict=True))
            self._rows = []
        return self._columns

    def texts(self) -> list[str]:
        """The text each row's tokens are counted on (`message_text`)."""
        columns = self.columns()
        return list(map(message_text, columns[3], columns[5]))

    def draft(
        self, drafts: ShareDrafts, counts: list[int]
    ) -> Iterator[tuple[list[tuple[int, list[FirstSummary]]], int | None]]:
        """`drafts.draft` of the rows, once counted."""
        return drafts.draft(self.columns(), counts)


def _count_on_a_thread(
    texts: list[str], check: Callable[[], None], alongside: Callable[[], None]
) -> list[int]:
    """The token counts of `texts`, counted on a thread while `alongside()` runs (DuckDB
    lets go of the GIL, so both cores work; two counting threads would only contend for
    it). A cancel (`check` raises) stops the counting within a batch."""
    with ThreadPoolExecutor(1, thread_name_prefix="zeptui-count") as pool:
        stop = threading.Event()
        counting = pool.submit(_count_in_batches, texts, check, stop)
        try:
            alongside()
            return counting.result()
        except BaseException:  # a failure, a cancel, Ctrl-C (KeyboardInterrupt)
            stop.set()  # the count ends with its batch under way
            raise


def _count_in_batches(
    texts: list[str], check: Callable[[], None], stop: threading.Event
) -> list[int]:
    """The token counts of `texts`, `TOKEN_BATCH` at a time on one thread; `check`
    (a cancel raises there) and `stop` are seen between batches: a cancel waits for
    one batch, not for them all."""
    counts: list[int] = []
    for low in range(0, len(texts), TOKEN_BATCH):
        check()
        if stop.is_set():
            break
        counts += count_tokens_batch(texts[low : low + TOKEN_BATCH], 1)
    return counts


def _in_id_order(ids: Sequence[int], counts: list[int]) -> tuple[int, list[int]]:
    """The first of `ids` (consecutive numbers, in any order), and `counts` (of the
    rows of `ids`) in the order of the ids."""
    first = min(ids, default=0)
    ordered = [0] * len(counts)
    for row_id, tokens in zip(ids, counts, strict=True):
        ordered[row_id - first] = tokens
    return first, ordered


def _insert_counts(cursor: Cursor, first_id: int, counts: list[int]) -> None:
    """Add `counts` to `zep_tokens`, of consecutive ids from `first_id`."""
    # As JSON text: DuckDB binds a Python list element by element (2-3x slower).
    cursor.execute(
        "INSERT INTO zep_tokens SELECT unnest(range($first, $first + $n)), "
        "unnest($counts::JSON::INTEGER[])",
        {"first": first_id, "n": len(counts), "counts": json.dumps(counts)},
    )


IN_MEMORY_BYTES = 256 * 1024 * 1024
"""At most this much (estimated) of an import's new messages is held in memory at
once, as much as `zeptui import` lets DuckDB take: to count their tokens beside
DuckDB's work and keep the new sessions' backlogs for their summaries. A bigger
file is read in batches, its backlogs read back."""
_MESSAGE_OVERHEAD_BYTES = 700
"""What Python holds per message at the peak besides twice its content (the content,
and the `role: content` text counted): row and column tuples, uuid, role, numbers, the
backlog's message (measured with tracemalloc: 830 bytes for 90 of content)."""


def fits_in_memory(cursor: Cursor) -> bool:
    """Whether the new messages fit in `IN_MEMORY_BYTES`."""
    row = cursor.execute(
        f"SELECT coalesce(sum(2 * strlen(content) + {_MESSAGE_OVERHEAD_BYTES}), 0) FROM zep_new"
    ).fetchone()
    return row is not None and int(row[0]) <= IN_MEMORY_BYTES


class BacklogRows:
    """Keeps the counted rows of the sessions the import creates (the keys from
    `first_new` on) as the backlogs a summary run reads, then calls `then()`."""

    def __init__(
        self,
        into: dict[int, Sequence[StoredMessage]],
        first_new: int,
        then: Callable[[], None] | None,
    ):
        self._into = into
        self._first_new = first_new
        self._then = then

    def __call__(self, columns: Sequence[Any], counts: list[int]) -> None:
        """Keep the rows of `columns` (ordered by session key) of the new sessions."""
        self._into.update(new_backlogs(columns, counts, self._first_new))
        if self._then is not None:
            self._then()
