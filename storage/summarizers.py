"""Summarizers: turn a run of messages (plus the previous summary) into a summary.

The policy decides *which* messages are due (`storage/summary_policy.py`) and the
scheduler *when* (`storage/summary_scheduler.py`); a Summarizer only writes text.

Two summarizers ship:

* `ExtractiveSummarizer` (here): offline and deterministic; it quotes the most
  informative whole sentences, attributed as `"role: sentence"`, within a third of
  the tokens of the messages it covers.
* `LLMSummarizer` (`storage/llm_summarizer.py`): Zep's progressive summary through
  any OpenAI-compatible chat-completions endpoint.

`summarizer_from_config` picks one from `ZEPTUI_SUMMARIZER` and friends.
"""

from __future__ import annotations

import functools
import math
import os
import re
import string
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from storage.errors import StoreError
from storage.models import Message
from storage.sentences import one_line, split_sentences, truncate_to_sentences
from storage.summary_policy import MAX_SUMMARY_BYTES, summary_budget
from storage.tokens import count_message_tokens, count_tokens

__all__ = [
    "ExtractiveSummarizer",
    "Summarizer",
    "SummarizerError",
    "SummaryDraft",
    "speaker",
    "summarizer_from_config",
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


class Summarizer(ABC):
    """Writes progressive summaries: the previous summary plus new messages."""

    name: str = "summarizer"
    waits_on_network: bool = False
    """True when `summarize` waits on a server: the store then lets go of its file."""

    @abstractmethod
    def summarize(self, previous: str | None, messages: Sequence[Message]) -> SummaryDraft:
        """Summarise `messages` (oldest first), folding in `previous` when given."""


def speaker(message: Message) -> str:
    """Who said it, on one line: the role, else the role type, else `unknown`."""
    role = one_line(message.role)
    if role:
        return role
    if message.role_type is not None:
        return message.role_type.value
    return "unknown"


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
"""How many of the best sentences are tried against the budget."""
_ESTIMATE_MARGIN = 1.15
"""Sentence costs are estimated from their message's token density, with this margin."""
_MAX_TEXT_CHARS = 20_000
"""Only the start of a longer message is read for sentences (bounds the work)."""


def _content_words(text: str) -> set[str]:
    """The distinct lower-cased words of `text` that are not stopwords (no regex: cheap)."""
    return set(text.lower().translate(_PUNCTUATION).split()).difference(_STOPWORDS)


@functools.lru_cache(maxsize=1024)
def _prefix_tokens(who: str) -> int:
    """Tokens of a line's `speaker:` prefix."""
    return count_tokens(f"{who}:")


class _Candidate(NamedTuple):
    rank_key: tuple[float, int]
    """(-score, position): best first, ties to the earlier sentence."""
    line: int
    """The output line: earlier-summary lines first, then one line per message."""
    speaker: str
    text: str
    cost: int
    """Estimated tokens, with the separator before it."""
    previous: bool


class _Pool:
    """The sentences one summary may quote, scored by the span's word frequencies."""

    def __init__(self, frequency: Counter[str], budget: int) -> None:
        self.frequency = frequency
        self.budget = budget
        self.candidates: list[_Candidate] = []

    def score(self, content: set[str]) -> float:
        """Summed frequency of the distinct content words, over the root of their number."""
        if not content:
            return 0.0
        return sum(map(self.frequency.__getitem__, content)) / math.sqrt(len(content))

    def add(
        self,
        line: int,
        who: str,
        text: str,
        density: float,
        previous: bool,
        content: set[str] | None = None,
    ) -> float:
        """Add the sentences of `text` that could fit (`density`: tokens per character);
        returns their estimated cost. `content`: the words of `text`,
        when known (a one-sentence text need not be read again)."""
        total = 0.0
        cut = len(text) > _MAX_TEXT_CHARS
        lines = text[:_MAX_TEXT_CHARS].splitlines() if cut or "\n" in text else [text]
        candidates, budget, rate = self.candidates, self.budget, density * _ESTIMATE_MARGIN
        for number, part in enumerate(lines):
            sentences = split_sentences(part)
            if cut and number == len(lines) - 1 and sentences:
                sentences.pop()  # it may be cut short: not a whole sentence
            whole = content is not None and len(lines) == 1 and len(sentences) == 1
            for sentence in sentences:
                cost = math.ceil(len(sentence) * rate) + 1
                if cost > budget:
                    continue
                total += cost
                words = content if whole and content is not None else _content_words(sentence)
                key = (-self.score(words), len(candidates))
                candidates.append(_Candidate(key, line, who, sentence, cost, previous))
        return total


class ExtractiveSummarizer(Summarizer):
    """An offline, deterministic summary quoting the messages' own whole sentences.

    The budget is a third of the tokens of the messages covered, and at most
    `max_tokens`. A message or sentence scores, for each of its distinct content
    words, how many of the new messages (and lines of the previous summary) use it,
    summed and divided by the square root of how many it has: what the conversation
    keeps returning to ranks high. The sentences of the best messages (enough to fill 1.5 budgets)
    compete; the best that fit are written in original order as `"role: sentence"`
    lines, one per message. The previous summary's sentences compete too, for at
    most half of the budget, and come first (progressive, like Zep's). A sentence
    is never cut: when none fits, the summary is a one-line note saying so (or
    empty, if even that is too long).
    """

    name = "extractive"

    def __init__(self, max_tokens: int = 256) -> None:
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        self.max_tokens = max_tokens

    def __repr__(self) -> str:
        return f"ExtractiveSummarizer(max_tokens={self.max_tokens})"

    def summarize(self, previous: str | None, messages: Sequence[Message]) -> SummaryDraft:
        """Summarise `messages` within a third of their tokens, quoting whole sentences."""
        previous = (previous or "").strip()
        said = [m for m in messages if m.content and not m.content.isspace()]
        metadata: dict[str, Any] = {"summarizer": self.name}
        if not said:  # nothing new: the previous summary stands
            kept = truncate_to_sentences(previous, self.max_tokens, MAX_SUMMARY_BYTES)
            return SummaryDraft(kept, metadata | {"sentences": 0}, count_tokens(kept))
        tokens = [
            message.token_count or count_message_tokens(message.role, message.content)
            for message in said
        ]
        budget = summary_budget(sum(tokens), self.max_tokens)
        contents = [_content_words(message.content) for message in said]
        earlier = [
            (match["speaker"], match["text"]) if match else ("", line)
            for line in previous.splitlines()
            if (match := _SPEAKER_LINE.fullmatch(line.strip())) or line.strip()
        ]
        # How many of the messages (and earlier-summary lines) use each word.
        frequency: Counter[str] = Counter()
        for words in contents:
            frequency.update(words)
        for _, text in earlier:
            frequency.update(_content_words(text))
        pool = _Pool(frequency, budget)
        if earlier:  # the previous summary is in the span's language: its density
            density = sum(tokens) / sum(len(m.role) + 2 + len(m.content) for m in said)
            for line, (who, text) in enumerate(earlier):
                pool.add(line, who, text, density, previous=True)
        # The best messages first, until their sentences could fill 1.5 budgets.
        ranked = sorted(range(len(said)), key=lambda i: (-pool.score(contents[i]), i))
        gathered = 0.0
        for index in ranked:
            if gathered >= 1.5 * budget:
                break
            message = said[index]
            density = tokens[index] / (len(message.role) + 2 + len(message.content))
            line = len(earlier) + index
            gathered += pool.add(
                line, speaker(message), message.content, density, False, contents[index]
            )
        pool.candidates.sort()
        picked = self._pick(pool.candidates[:_MAX_ATTEMPTS], budget)
        summary, used = self._fit(picked, budget)
        if not any(not candidate.previous for candidate in picked):
            plural = "s" if len(said) > 1 else ""
            note = f"({len(said)} message{plural}; no sentence short enough to quote.)"
            with_note = "\n".join(part for part in (summary, note) if part)
            if (noted := count_tokens(with_note)) <= budget:
                summary, used = with_note, noted
        metadata |= {
            "sentences": sum(not candidate.previous for candidate in picked),
            "previous_sentences": sum(candidate.previous for candidate in picked),
            "budget": budget,
        }
        return SummaryDraft(summary, metadata, used)

    @staticmethod
    def _pick(ranked: list[_Candidate], budget: int) -> list[_Candidate]:
        """The best candidates whose estimated cost fits `budget`, best first.

        Candidates with content words go first (a sentence of only stopwords is
        picked only when there is nothing else). The previous summary's sentences
        get at most half of the budget; a line's first sentence also pays for its
        `speaker:` prefix.
        """
        if ranked and ranked[0].rank_key[0] < 0:
            ranked = [candidate for candidate in ranked if candidate.rank_key[0] < 0]
        picked: list[_Candidate] = []
        opened: set[int] = set()
        quoted: set[str] = set()
        used = used_previous = 0
        for candidate in ranked:
            if candidate.text in quoted:  # a repeated sentence says nothing new
                continue
            cost = candidate.cost
            first = candidate.line not in opened and bool(candidate.speaker)
            if first:
                cost += _prefix_tokens(candidate.speaker)
            if not picked and budget < cost <= 2 * budget:
                # A near miss for the first pick: the estimate may be pessimistic, and a
                # small budget would otherwise stay empty.
                exact = f"{candidate.speaker}: {candidate.text}" if first else candidate.text
                cost = count_tokens(exact) + 1
            if used + cost > budget:
                continue
            if candidate.previous and used_previous + cost > budget // 2:
                continue
            picked.append(candidate)
            quoted.add(candidate.text)
            opened.add(candidate.line)
            used += cost
            if candidate.previous:
                used_previous += cost
            if budget - used < 3:
                break
        return picked

    @staticmethod
    def _render(picked: list[_Candidate]) -> str:
        lines: dict[int, list[_Candidate]] = {}
        for candidate in sorted(picked, key=lambda c: (c.line, c.rank_key[1])):
            lines.setdefault(candidate.line, []).append(candidate)
        rendered = []
        for group in lines.values():
            text = " ".join(one_line(candidate.text) for candidate in group)
            rendered.append(f"{group[0].speaker}: {text}" if group[0].speaker else text)
        return "\n".join(rendered)

    def _fit(self, picked: list[_Candidate], budget: int) -> tuple[str, int]:
        """The rendered picks and their exact tokens, dropping the lowest-ranked
        picks while the estimate turned out short."""
        while True:
            content = self._render(picked)
            tokens = count_tokens(content)
            if tokens <= budget or not picked:
                return content, tokens
            picked.pop()


# --- configuration ------------------------------------------------------------------

DEFAULT_LLM_TIMEOUT = 60.0
"""Seconds one LLM request may take in all (connect, headers and body)."""


def _setting(env: Mapping[str, str], *names: str) -> str | None:
    """The first of `names` set to a non-blank value in `env`."""
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def _timeout(env: Mapping[str, str]) -> float:
    value = _setting(env, "ZEPTUI_LLM_TIMEOUT")
    if value is None:
        return DEFAULT_LLM_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (0 < seconds < math.inf):
        raise SummarizerError(
            f"ZEPTUI_LLM_TIMEOUT must be a positive number of seconds, not {value!r}"
        )
    return seconds


def summarizer_from_config(
    name: str | None = None, env: Mapping[str, str] | None = None
) -> Summarizer:
    """The summarizer named `name` (else `ZEPTUI_SUMMARIZER`, else "extractive").

    "llm" reads `ZEPTUI_LLM_BASE_URL` (or `OPENAI_BASE_URL`), `ZEPTUI_LLM_MODEL`,
    `ZEPTUI_LLM_API_KEY` (or `OPENAI_API_KEY`) and `ZEPTUI_LLM_TIMEOUT` (seconds per
    request, 60 by default) from `env` (default: os.environ).
    """
    env = os.environ if env is None else env
    chosen = name if name is not None else _setting(env, "ZEPTUI_SUMMARIZER")
    chosen = (chosen or "extractive").strip().lower()
    if chosen == "extractive":
        return ExtractiveSummarizer()
    if chosen == "llm":
        from storage.llm_summarizer import LLMSummarizer

        base_url = _setting(env, "ZEPTUI_LLM_BASE_URL", "OPENAI_BASE_URL")
        model = _setting(env, "ZEPTUI_LLM_MODEL")
        missing = []
        if base_url is None:
            missing.append("ZEPTUI_LLM_BASE_URL (or OPENAI_BASE_URL)")
        if model is None:
            missing.append("ZEPTUI_LLM_MODEL")
        if base_url is None or model is None:
            raise SummarizerError(f"the llm summarizer needs {' and '.join(missing)} to be set")
        api_key = _setting(env, "ZEPTUI_LLM_API_KEY", "OPENAI_API_KEY")
        return LLMSummarizer(base_url=base_url, model=model, api_key=api_key, timeout=_timeout(env))
    raise SummarizerError(f"unknown summarizer {chosen!r}; choose 'extractive' or 'llm'")
