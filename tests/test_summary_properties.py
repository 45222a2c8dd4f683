"""The extractive summarizer on conversations of every shape (issue 9.22).

Two properties, whatever the messages: a summary is at most a third of the tokens
of the messages it covers (and at most its cap), and it is made of whole sentences
(of the messages, or of the previous summary), never a piece of one. Checked on
generated conversations (hypothesis: prose, one huge message, many tiny ones, no
punctuation, CJK, code blocks, emoji), on progressive chains, and on real ones: the
bundled samples, every test fixture, and a seeded corpus like the benchmark's.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.bench_store import build_vocabulary
from bench.bench_summaries import ShortTurns
from storage.duckdb import DuckDBStore
from storage.models import Message, RoleType, SummaryInfo
from storage.sentences import one_line, split_sentences
from storage.summarizers import ExtractiveSummarizer, SummaryDraft
from storage.tokens import count_message_tokens, count_tokens
from tests.examples import examples
from zeptui.importers import ImportOptions
from zeptui.services.imports import ImportRun

ROOT = Path(__file__).resolve().parents[1]
NOTE = re.compile(r"\(\d+ messages?; no sentence short enough to quote\.\)")
SPEAKERS = ["user", "assistant", "Jane", "HistoryBot", "ユーザー", ""]


def sentences_of(text: str) -> set[str]:
    """Every sentence of `text` as a summary quotes it (whitespace made single)."""
    return {one_line(s) for line in text.splitlines() for s in split_sentences(line)}


def is_whole_sentences(text: str, sentences: set[str]) -> bool:
    """Whether `text` is one or more of `sentences`, each followed by a single space
    or by the next directly (a message quoted whole keeps `東京です。桜です。`)."""
    starts = {0}
    for start in range(len(text)):  # `starts` only grows beyond `start`
        if start not in starts:
            continue
        for sentence in sentences:
            if sentence and text.startswith(sentence, start):
                stop = start + len(sentence)
                if stop == len(text):
                    return True
                starts.add(stop + 1 if text[stop] == " " else stop)
    return False


def check(draft: SummaryDraft, previous: str | None, messages: list[Message], cap: int) -> None:
    """Both properties, for one draft."""
    said = [m for m in messages if m.content.strip()]
    covered = sum(m.token_count or count_message_tokens(m.role, m.content) for m in said)
    assert draft.token_count == count_tokens(draft.content)
    assert draft.token_count <= min(cap, covered // 3)
    quotable = {
        one_line(m.role) or (m.role_type.value if m.role_type else "unknown"): set[str]()
        for m in said
    }
    for m in said:
        speaker = one_line(m.role) or (m.role_type.value if m.role_type else "unknown")
        quotable[speaker] |= sentences_of(m.content)
    for line in (previous or "").splitlines():
        speaker, colon, text = line.strip().partition(": ")
        if colon:
            quotable.setdefault(speaker, set()).update(sentences_of(text))
        quotable.setdefault("", set()).update(sentences_of(line))
    for line in draft.content.splitlines():
        if NOTE.fullmatch(line):
            continue
        speaker, colon, text = line.partition(": ")
        if colon and speaker in quotable and is_whole_sentences(text, quotable[speaker]):
            continue
        assert is_whole_sentences(line, quotable.get("", set())), line


# --- generated conversations ------------------------------------------------------

_WORDS = st.text("abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=9).filter(
    lambda word: word not in {"mr", "mrs", "ms", "dr", "st", "vs"}
)
_SENTENCE = st.builds(
    lambda words, mark: " ".join(words).capitalize() + mark,
    st.lists(_WORDS, min_size=2, max_size=14),
    st.sampled_from([".", "!", "?", "...", '."', "?!"]),
)
_PROSE = st.builds(
    lambda sentences, breaks: "".join(
        sentence + ("\n" if brk else " ") for sentence, brk in zip(sentences, breaks, strict=False)
    ).strip(),
    st.lists(_SENTENCE, min_size=1, max_size=8),
    st.lists(st.booleans(), min_size=8, max_size=8),
)
_CJK = st.builds(
    lambda parts: "".join(parts),
    st.lists(
        st.builds(
            lambda s, m: s + m,
            st.text("東京春桜花見日本語漢字", min_size=1, max_size=12),
            st.sampled_from(["。", "！", "？"]),
        ),
        min_size=1,
        max_size=6,
    ),
)
_CODE = st.builds(
    lambda lines: "Here is the code:\n```python\n" + "\n".join(lines) + "\n```\nDoes it work?",
    st.lists(
        st.sampled_from(["x = 1", "print(x)", "for i in range(3):", "    pass", "}"]),
        min_size=1,
        max_size=6,
    ),
)
_EMOJI = st.text("😀🚆🇨🇭👍🏽🎉✨ ", min_size=1, max_size=40)
_ANY = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=300)
_HUGE = st.builds(
    lambda piece, times: piece * times,
    st.one_of(_SENTENCE.map(lambda s: s + " "), st.text("ab 漢😀", min_size=1, max_size=5)),
    st.integers(min_value=200, max_value=4000),
)
_CONTENT = st.one_of(
    _PROSE, _PROSE, _CJK, _CODE, _EMOJI, _ANY, st.sampled_from(["ok", "y", "k.", " ", ""])
)
_MESSAGE = st.builds(
    lambda role, role_type, content: Message(role=role, role_type=role_type, content=content),
    st.sampled_from(SPEAKERS),
    st.sampled_from([None, RoleType.user, RoleType.assistant]),
    _CONTENT,
)
_CONVERSATION = st.one_of(
    st.lists(_MESSAGE, min_size=1, max_size=14),
    st.builds(lambda content: [Message(role="user", content=content)], _HUGE),
    st.lists(
        st.builds(lambda c: Message(role="user", content=c), st.sampled_from(["ok", "yes.", "k"])),
        min_size=1,
        max_size=60,
    ),
    st.builds(
        lambda words: [Message(role="user", content=" ".join(words) * 20)],
        st.lists(_WORDS, min_size=1, max_size=30),
    ),
)

_FAST = settings(
    max_examples=examples(50), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@_FAST
@given(_CONVERSATION, st.sampled_from([1, 16, 64, 256]))
def test_bounded_and_whole_sentences_for_any_conversation(
    messages: list[Message], cap: int
) -> None:
    draft = ExtractiveSummarizer(max_tokens=cap).summarize(None, messages)
    check(draft, None, messages, cap)


@_FAST
@given(
    st.lists(
        _CONVERSATION.filter(lambda messages: any(m.content.strip() for m in messages)),
        min_size=2,
        max_size=5,
    )
)
def test_progressive_chains_stay_bounded_and_whole(spans: list[list[Message]]) -> None:
    summarizer = ExtractiveSummarizer()
    previous: str | None = None
    for messages in spans:
        draft = summarizer.summarize(previous, messages)
        check(draft, previous, messages, 256)
        previous = draft.content


@_FAST
@given(st.lists(st.lists(_SENTENCE, min_size=1, max_size=5), min_size=1, max_size=8))
def test_quotes_exactly_the_sentences_that_were_written(messages: list[list[str]]) -> None:
    """An oracle independent of the splitter: prose built from known sentences."""
    conversation = [
        Message(role=f"speaker{number}", content=" ".join(sentences))
        for number, sentences in enumerate(messages)
    ]
    draft = ExtractiveSummarizer().summarize(None, conversation)
    for line in draft.content.splitlines():
        if NOTE.fullmatch(line):
            continue
        speaker, _, text = line.partition(": ")
        written = messages[int(speaker.removeprefix("speaker"))]
        assert is_whole_sentences(text, set(written))  # whole sentences of that message


# --- real conversations -------------------------------------------------------------


def summaries_with_sources(
    store: DuckDBStore,
) -> list[tuple[SummaryInfo, str | None, list[Message]]]:
    """Every summary in the store, with the summary before it and the messages it covers."""
    found = []
    for info in store.session_page().sessions:
        session_id = info.session.session_id
        messages = store.list_messages(session_id, limit=1000).messages
        position = {m.uuid: n for n, m in enumerate(messages)}
        previous = None
        for summary in store.list_summaries(session_id):
            first = position[summary.first_message_uuid]
            last = position[summary.summary.recent_message_uuid]
            found.append((summary, previous, messages[first : last + 1]))
            previous = summary.summary.content
    return found


@pytest.mark.parametrize("window", [4, 12])
def test_real_conversations(tmp_path: Path, window: int) -> None:
    """The samples and every test fixture, in every format, through the store."""
    paths = [ROOT / "sample_data", *sorted((ROOT / "tests" / "fixtures").iterdir())]
    store = DuckDBStore(tmp_path / "real.duckdb", message_window=window, background_summaries=False)
    with store:
        ImportRun(paths, options=ImportOptions(skip_invalid=True)).run(store)
        found = summaries_with_sources(store)
        assert len(found) >= (25 if window == 4 else 6)
        for summary, previous, messages in found:
            draft = SummaryDraft(summary.summary.content, {}, summary.summary.token_count)
            check(draft, previous, messages, 256)


def test_a_realistic_generated_corpus(tmp_path: Path) -> None:
    """Short chat turns like the benchmark's public-corpus shape, seeded."""
    rng = random.Random(5)
    turns = ShortTurns(rng, build_vocabulary(rng, 800))
    with DuckDBStore(tmp_path / "gen.duckdb", background_summaries=False) as store:
        for session in range(12):
            store.add_memory(
                f"s{session}",
                [
                    Message(role=kind.value, role_type=kind, content=turns.content(kind))
                    for n in range(rng.randint(12, 60))
                    for kind in [RoleType.user if n % 2 == 0 else RoleType.assistant]
                ],
            )
        found = summaries_with_sources(store)
        assert len(found) >= 40
        for summary, previous, messages in found:
            draft = SummaryDraft(summary.summary.content, {}, summary.summary.token_count)
            check(draft, previous, messages, 256)
            assert summary.summary.metadata and summary.summary.metadata["quoted"] >= 1
