"""Summarizers: turn a run of messages (plus the previous summary) into a summary.

The policy decides *which* messages are due (`storage/summary_policy.py`) and the
scheduler *when* (`storage/summary_scheduler.py`); a Summarizer only writes text.

Two summarizers ship:

* `ExtractiveSummarizer` (here): offline and deterministic; it quotes the most
  informative whole sentences, attributed as `"role: sentence"`, within a third of
  the tokens of the messages it covers.
* `LLMSummarizer` (`storage/llm_summarizer.py`): Zep's progressive summary through
  any OpenAI-compatible chat-completions endpoint.

Storage reads no configuration: the caller builds the summarizer it wants
(`zeptui.compose.build_summarizer`, from zeptui's settings) and hands it to the store.
"""

from __future__ import annotations

import functools
import math
import re
import string
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from itertools import chain, count, filterfalse
from typing import Any, NamedTuple, Protocol

from storage.errors import StoreError
from storage.models import RoleType
from storage.sentences import one_line, split_sentences, truncate_to_sentences
from storage.summary_policy import MAX_SUMMARY_BYTES, summary_budget
from storage.tokens import count_lines_tokens, count_message_tokens, count_tokens

__all__ = [
    "ExtractiveSummarizer",
    "SpokenMessage",
    "Summarizer",
    "SummarizerError",
    "SummaryDraft",
    "speaker",
]


class SummarizerError(StoreError):
    """A summarizer could not be configured or could not produce a summary."""


@dataclass(frozen=True)
class SummaryDraft:
    """What a summarizer produced: the text, metadata describing how, and (when the
    summarizer counted them anyway) the text's tokens."""

    content: str
    metadata: dict[str, Any] = field(default_factory=dict)
    token_count: int | None = None


class SpokenMessage(Protocol):
    """What a summarizer reads of a message (a `storage.models.Message` is one)."""

    @property
    def role(self) -> str: ...
    @property
    def role_type(self) -> RoleType | None: ...
    @property
    def content(self) -> str: ...
    @property
    def token_count(self) -> int:
        """Tokens of `"role: content"`, exactly (a summary quoting the message whole
        counts its line so); 0 when not counted yet."""
        ...


class Summarizer(ABC):
    """Writes progressive summaries: the previous summary plus new messages."""

    name: str = "summarizer"
    waits_on_network: bool = False
    """True when `summarize` waits on a server: the store then lets go of its file."""
    only_computes: bool = False
    """True when `summarize` only computes (no I/O, no state kept between calls): a big
    run may then draft in worker processes, one per core (storage/summary_workers.py)."""

    @abstractmethod
    def summarize(self, previous: str | None, messages: Sequence[SpokenMessage]) -> SummaryDraft:
        """Summarise `messages` (oldest first), folding in `previous` when given."""


def speaker(message: SpokenMessage) -> str:
    """Who said it, on one line: the role, else the role type, else `unknown`."""
    return _speaker(message.role, message.role_type)


# --- extractive ---------------------------------------------------------------------

_SPEAKER_LINE = re.compile(r"(?P<speaker>[^:\n]{1,80}): (?P<text>.*)")
"""A `speaker: text` line of an earlier extractive summary."""
_PUNCTUATION = str.maketrans(
    dict.fromkeys(string.punctuation + "…“”‘’«»—–。！？、，：；（）「」『』", " ")
)
_STOPWORD_TEXT = """
a about above after again against all also am an and any are aren't as at be
because been before being below between both but by can could did do does doing
done don down during each else even ever few for from further get got had has
have having he her here hers herself him himself his how i if in into is isn it
its itself just let like ll me more most much must my myself no nor not now of
off on once only or other our ours ourselves out over own re really same she
should so some such than that the their theirs them themselves then there these
they this those through to too under until up us very was we were what when
where which while who whom why will with would yes you your yours yourself
yourselves ok okay oh hi hello thanks thank please sure well ve s t d m
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split()) | frozenset(string.ascii_lowercase + string.digits)
"""Words that carry no topic, and every single ASCII letter or digit."""
_MAX_ATTEMPTS = 256
"""How many messages (or sentences of one) are tried against the budget."""
_MAX_SPLIT = 2
"""How many messages too long to quote whole offer their sentences (the best ones)."""
_MIN_ROOM = 8
"""Tokens left below which no message is split for a sentence that might fit."""
_ESTIMATE_MARGIN = 1.15
"""Sentence costs are estimated from their message's token density, with this margin."""
_MAX_TEXT_CHARS = 20_000
"""Only the start of a longer message is read for sentences (bounds the work)."""


_ASCII_FOLD = bytes.maketrans(
    (string.punctuation + string.ascii_uppercase).encode(),
    (" " * len(string.punctuation) + string.ascii_lowercase).encode(),
)
"""Lower-cases ASCII text and makes its punctuation spaces, in one pass over its bytes."""
_is_stopword = frozenset(word.encode() for word in _STOPWORDS).__contains__
"""Whether a word, as `_content_words` gives it (UTF-8 bytes), is a stopword."""


def _content_words(text: str) -> frozenset[bytes]:
    """The distinct lower-cased words of `text` that are not stopwords (no regex: cheap).

    The words are UTF-8 bytes (they are only compared and counted, so any one
    encoding does): ASCII text, most, is then split without being decoded, and
    translating bytes is several times quicker than a str. Not cached: a cache costs
    more than it saves (its sets live long, and the garbage collector walks them).
    """
    if text.isascii():
        words: Iterable[bytes] = text.encode().translate(_ASCII_FOLD).split()
    else:
        spaced = text.lower().translate(_PUNCTUATION)
        words = (word.encode("utf-8", "surrogatepass") for word in spaced.split())
    # Stopwords are most words: filtering them out before making a set costs less.
    return frozenset(filterfalse(_is_stopword, words))


@functools.lru_cache(maxsize=1024)
def _speaker(role: str, role_type: RoleType | None) -> str:
    """`speaker` of a message with this role and role type."""
    role = one_line(role)
    if role:
        return role
    if role_type is not None:
        return role_type.value
    return "unknown"


@functools.lru_cache(maxsize=1024)
def _prefix_tokens(who: str) -> int:
    """Tokens of a line's `speaker:` prefix."""
    return count_tokens(f"{who}:")


class _Unit(NamedTuple):
    """What a summary may quote: a message, one of its sentences, or a line of the
    previous summary."""

    rank: tuple[float, int]
    """(-score, position): best first, ties to the earlier one."""
    line: int
    """The output line: previous-summary lines first, then one line per message."""
    speaker: str
    text: str
    cost: int
    """Estimated tokens, with the separator before it (not the `speaker:` prefix)."""
    previous: bool


def _reading_order(unit: _Unit) -> tuple[int, int]:
    """Where a unit goes in the summary: its line, then its place in the message."""
    return unit.line, unit.rank[1]


def _sentences(text: str) -> list[str]:
    """The whole sentences of `text` (of its first `_MAX_TEXT_CHARS` characters)."""
    cut = len(text) > _MAX_TEXT_CHARS
    lines = text[:_MAX_TEXT_CHARS].splitlines() if cut or "\n" in text else [text]
    sentences = [sentence for line in lines for sentence in split_sentences(line)]
    if cut and sentences:
        sentences.pop()  # the cut may fall inside it
    return sentences


class ExtractiveSummarizer(Summarizer):
    """An offline, deterministic summary quoting the messages' own whole sentences.

    The budget is a third of the tokens of the messages covered, and at most
    `max_tokens`. A message (or sentence) scores, for each of its distinct content
    words, how many of the new messages and previous-summary lines use it, summed
    and divided by the square root of how many it has: what the conversation keeps
    returning to ranks high. The best messages are quoted whole while they fit;
    with room left, the best two that did not fit give their best sentences that
    fit. The previous summary's lines compete too, for at most half of the budget
    (progressive, like Zep's). The result is written in original order, previous
    lines first, as one `"role: sentences"` line per message. A sentence is never
    cut: when none fits, the summary is a one-line note saying so (or empty, if
    even that is too long).
    """

    name = "extractive"
    only_computes = True

    def __init__(self, max_tokens: int = 256) -> None:
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        self.max_tokens = max_tokens

    def __repr__(self) -> str:
        return f"ExtractiveSummarizer(max_tokens={self.max_tokens})"

    def summarize(self, previous: str | None, messages: Sequence[SpokenMessage]) -> SummaryDraft:
        """Summarise `messages` within a third of their tokens, quoting whole sentences."""
        previous = (previous or "").strip()
        said = [m for m in messages if m.content and not m.content.isspace()]
        metadata: dict[str, Any] = {"summarizer": self.name}
        if not said:  # nothing new: the previous summary stands
            kept = truncate_to_sentences(previous, self.max_tokens, MAX_SUMMARY_BYTES)
            return SummaryDraft(kept, metadata | {"quoted": 0}, count_tokens(kept))
        tokens = [m.token_count or count_message_tokens(m.role, m.content) for m in said]
        covered = sum(tokens)
        budget = summary_budget(covered, self.max_tokens)
        earlier = [
            (match["speaker"], match["text"]) if match else ("", line)
            for line in previous.splitlines()
            if (match := _SPEAKER_LINE.fullmatch(line.strip())) or line.strip()
        ]
        contents = [m.content for m in said]
        words = [_content_words(text) for _, text in earlier]
        words += map(_content_words, contents)
        scorer = _Scorer(words)
        scores = scorer.scores(words)
        # The previous summary is in the span's language: the span's token density.
        chars = sum(map(len, contents)) + sum([len(m.role) + 2 for m in said])
        density = covered / chars
        first = len(earlier)
        units = [
            _Unit((-score, line), line, who, text, _estimate(text, density), True)
            for line, ((who, text), score) in enumerate(zip(earlier, scores[:first], strict=True))
        ]
        exact: dict[int, tuple[str, int]] = {}
        """The lines that quoting their message whole makes `role: content`: the
        content, and the message's tokens (the line's)."""
        for line, message, message_tokens in zip(count(first), said, tokens):
            role, content = message.role, message.content
            who = _speaker(role, message.role_type)
            if who == role:
                exact[line] = (content, message_tokens)
                cost = message_tokens + 1
            else:
                cost = _estimate(content, density) + 2
            units.append(_Unit((-scores[line], line), line, who, content, cost, False))
        units.sort()
        picked = self._pick(units, budget, scorer, density, exact)
        summary, used = self._fit(picked, budget, exact)
        new = len([unit for unit in picked if not unit.previous])
        if not new:
            plural = "s" if len(said) > 1 else ""
            note = f"({len(said)} message{plural}; no sentence short enough to quote.)"
            with_note = "\n".join(part for part in (summary, note) if part)
            if (noted := count_tokens(with_note)) <= budget:
                summary, used = with_note, noted
        metadata |= {
            "quoted": new,
            "previous_lines": len(picked) - new,
            "budget": budget,
        }
        return SummaryDraft(summary, metadata, used)

    @staticmethod
    def _pick(
        units: list[_Unit],
        budget: int,
        scorer: _Scorer,
        density: float,
        exact: dict[int, tuple[str, int]],
    ) -> list[_Unit]:
        """The best units that fit `budget` by their estimated cost, best first.

        Units with content words go first (one of stopwords only is picked only when
        there is nothing else). A message that does not fit whole offers its
        sentences; the previous summary's lines get at most half of the budget; a
        line's first unit also pays for its `speaker:` prefix.
        """
        if units and units[0].rank[0] < 0:
            units = [unit for unit in units if unit.rank[0] < 0]
        picked: list[_Unit] = []
        opened: set[int] = set()
        quoted: set[str] = set()
        used = used_previous = 0
        near_miss = True

        def take(unit: _Unit) -> bool:
            nonlocal used, used_previous, near_miss
            _, line, who, text, cost, previous = unit
            if picked and used + cost > budget:
                return False  # too long even without a prefix (the near miss is only first)
            if text in quoted:  # a repeated sentence says nothing new
                return False
            prefixed = bool(who) and line not in opened
            if prefixed:
                cost += _prefix_tokens(who)
            if near_miss and not picked and budget < cost <= 2 * budget:
                # Once, for a first pick: the estimate may be pessimistic, and a small
                # budget would otherwise stay empty.
                near_miss = False
                cost = _line_tokens(who if prefixed else "", one_line(text), exact.get(line)) + 1
            if used + cost > budget or (previous and used_previous + cost > budget // 2):
                return False
            picked.append(unit)
            quoted.add(text)
            opened.add(line)
            used += cost
            if previous:
                used_previous += cost
            return True

        too_long: list[_Unit] = []
        for unit in units[:_MAX_ATTEMPTS]:
            if budget - used < 3:
                break
            if not take(unit) and not unit.previous:
                too_long.append(unit)
        # Room left: the best sentences of the best messages too long to quote whole
        # (only those that could still fit are read for their words).
        for unit in too_long[:_MAX_SPLIT]:
            if budget - used < _MIN_ROOM:
                break
            room = budget - used
            fitting = [
                (order, sentence, cost)
                for order, sentence in enumerate(_sentences(unit.text))
                if (cost := _estimate(sentence, density)) < room
            ]
            scores = scorer.scores(_content_words(sentence) for _, sentence, _ in fitting)
            ranked = sorted(
                _Unit((-score, order), unit.line, unit.speaker, sentence, cost, False)
                for (order, sentence, cost), score in zip(fitting, scores, strict=True)
            )
            for sentence in ranked[:_MAX_ATTEMPTS]:
                if budget - used < 3:
                    return picked
                take(sentence)
        return picked

    @staticmethod
    def _render(
        picked: list[_Unit], exact: dict[int, tuple[str, int]]
    ) -> tuple[list[str], list[int]]:
        """The summary's lines, and the tokens of each (those quoting a whole message
        as `role: content` are the message's: `exact`)."""
        lines: dict[int, list[_Unit]] = {}
        for unit in sorted(picked, key=_reading_order):
            lines.setdefault(unit.line, []).append(unit)
        rendered: list[str] = []
        known: list[int] = []
        for line, group in lines.items():
            text = " ".join([one_line(unit.text) for unit in group])
            who = group[0].speaker
            rendered_line = f"{who}: {text}" if who else text
            rendered.append(rendered_line)
            whole = exact.get(line)
            if whole is not None and text == whole[0]:
                # A message's tokens are its line's, exactly (SpokenMessage.token_count).
                _counted_lines.remember(rendered_line, whole[1])
                known.append(whole[1])
            else:
                known.append(_counted_lines.count(rendered_line))
        return rendered, known

    def _fit(
        self, picked: list[_Unit], budget: int, exact: dict[int, tuple[str, int]]
    ) -> tuple[str, int]:
        """The rendered picks and their exact tokens, dropping the lowest-ranked
        picks while the estimate turned out short."""
        while True:
            lines, known = self._render(picked, exact)
            tokens = count_lines_tokens(lines, known)
            if tokens <= budget or not picked:
                return "\n".join(lines), tokens
            picked.pop()


def _line_tokens(who: str, text: str, exact: tuple[str, int] | None) -> int:
    """Tokens of the summary line `who: text` (just `text` without `who`); `exact`
    holds the line's message content and tokens when its speaker is its role, so a
    line quoting that message whole is not encoded again."""
    if who and exact is not None and text == exact[0]:
        return exact[1]
    return _counted_lines.count(f"{who}: {text}" if who else text)


class _CountedLines:
    """The tokens of the summary lines written lately, by line.

    A summary is the previous summary of the next span, and its lines, picked again,
    are written again as they were: counting them costs more than the rest of
    drafting them, and remembering them saves most of that. Bounded: emptied when
    full (simpler than evicting one by one, and safe under threads).
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._tokens: dict[str, int] = {}

    def remember(self, line: str, tokens: int) -> None:
        if len(self._tokens) >= self._size:
            self._tokens.clear()
        self._tokens[line] = tokens

    def count(self, line: str) -> int:
        """Tokens of `line`, counted unless remembered."""
        tokens = self._tokens.get(line)
        if tokens is None:
            tokens = count_tokens(line)
            self.remember(line, tokens)
        return tokens


_counted_lines = _CountedLines(512)
"""Enough for a few drafts' lines (a hit is a line of the draft just before); a line
is at most a summary, 16 KiB."""


class _Scorer:
    """Scores sets of content words by the frequencies of their words among the
    span's sets (see the class doc of ExtractiveSummarizer)."""

    def __init__(self, span: Sequence[AbstractSet[bytes]]) -> None:
        # In how many messages (or lines) a word is: each set counts a word once.
        self._get = Counter(chain.from_iterable(span)).__getitem__

    def scores(self, word_sets: Iterable[AbstractSet[bytes]]) -> list[float]:
        """The score of each set (one call for many: a call costs as much as a score)."""
        get, sqrt = self._get, math.sqrt
        return [sum(map(get, words)) / sqrt(len(words)) if words else 0.0 for words in word_sets]


def _estimate(text: str, density: float) -> int:
    """Estimated tokens of `text` on one line (`density`: tokens per character), with
    a margin and the separator before it."""
    return math.ceil(len(text) * density * _ESTIMATE_MARGIN) + 1
