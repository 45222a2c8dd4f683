"""Summarizers: turn a run of messages (plus the previous summary) into a summary.

The store decides *when* to summarise and *which* messages (Zep's window policy,
`storage/summary_policy.py`); a Summarizer only writes the text.

Two summarizers ship:

* `ExtractiveSummarizer`: offline and deterministic; it keeps the most informative
  sentences, attributed as `"role: sentence"`, after the (trimmed) previous summary.
* `LLMSummarizer`: Zep's progressive summary through any OpenAI-compatible
  chat-completions endpoint, chunked by the model's token budget.

`summarizer_from_config` picks one from `ZEPTUI_SUMMARIZER` and friends.
"""

from __future__ import annotations

import math
import os
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from storage.errors import StoreError
from storage.models import Message
from storage.tokens import count_tokens, encoding

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DEFAULT_SUMMARY_PROMPT",
    "ExtractiveSummarizer",
    "LLMSummarizer",
    "Summarizer",
    "SummarizerError",
    "SummaryDraft",
    "summarizer_from_config",
]


class SummarizerError(StoreError):
    """A summarizer could not be configured or could not produce a summary."""


@dataclass(frozen=True)
class SummaryDraft:
    """What a summarizer produced: the text and metadata describing how."""

    content: str
    metadata: dict[str, Any] = field(default_factory=dict)


class Summarizer(ABC):
    """Writes progressive summaries: the previous summary plus new messages."""

    name: str = "summarizer"

    @abstractmethod
    def summarize(self, previous: str | None, messages: Sequence[Message]) -> SummaryDraft:
        """Summarise `messages` (oldest first), folding in `previous` when given."""


# --- text helpers -------------------------------------------------------------------

_MAX_SEGMENT_CHARS = 300
"""Longer sentences (or text with no sentence punctuation) are cut into chunks."""

# A sentence ends at terminal punctuation (with closing quotes or brackets) followed
# by whitespace or the end, at CJK terminal punctuation, or at a line break.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s|$)|[。！？]+|\n")
_TERMINATORS = ".!?…。！？\n"
_BULK_CHARS = 20_000
"""Texts longer than this are chunked rather than split into sentences."""
_BULK_TOTAL_CHARS = 200_000
"""Batches longer than this chunk every message."""
_NON_SPACE = re.compile(r"\S")
_WORD = re.compile(r"\w+")

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
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def _one_line(text: str) -> str:
    """`text` with every run of whitespace (newlines included) made one space."""
    return " ".join(text.split())


def _speaker(message: Message) -> str:
    """Who said it: the role, else the role type, else `unknown`."""
    role = _one_line(message.role)
    if role:
        return role
    if message.role_type is not None:
        return message.role_type.value
    return "unknown"


def _add_spans(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    """Append `text[start:end]`, stripped, as one span or as clipped chunks."""
    first = _NON_SPACE.search(text, start, end)
    if first is None:
        return
    start = first.start()
    end = start + len(text[start:end].rstrip())
    while end - start > _MAX_SEGMENT_CHARS:
        limit = start + _MAX_SEGMENT_CHARS
        cut = text.rfind(" ", start + _MAX_SEGMENT_CHARS // 2, limit)
        stop = cut if cut > start else limit
        spans.append((start, stop))
        nxt = _NON_SPACE.search(text, stop, end)
        if nxt is None:  # pragma: no cover - end is the last non-space character
            return
        start = nxt.start()
    spans.append((start, end))


def _segment(text: str, bulk: bool | None = None) -> list[tuple[int, int]]:
    """(start, end) spans of the sentences of `text`, each at most 300 characters.

    In bulk mode (the default for texts over 20,000 characters) the spans are ~300
    character chunks that end at a sentence end, else a space, where one is near: a
    huge text of tiny sentences stays a few thousand spans.
    """
    if bulk is None:
        bulk = len(text) > _BULK_CHARS
    spans: list[tuple[int, int]] = []
    if not bulk:
        start = 0
        for match in _SENTENCE_END.finditer(text):
            end = match.start() if match.group() == "\n" else match.end()
            _add_spans(text, start, end, spans)
            start = match.end()
        _add_spans(text, start, len(text), spans)
        return spans
    position = 0
    while (first := _NON_SPACE.search(text, position)) is not None:
        start = first.start()
        limit = start + _MAX_SEGMENT_CHARS
        if limit >= len(text):
            spans.append((start, start + len(text[start:].rstrip())))
            break
        low = start + _MAX_SEGMENT_CHARS // 2
        cut = max(text.rfind(char, low, limit) for char in _TERMINATORS)
        if cut >= 0:
            stop = cut if text[cut] == "\n" else cut + 1
        else:
            cut = text.rfind(" ", low, limit)
            stop = cut if cut >= 0 else limit
        spans.append((start, stop))
        position = stop
    return spans


def _clip_tokens(text: str, budget: int, *, keep_end: bool = False) -> str:
    """`text` cut to at most `budget` tokens, keeping its start (or its end)."""
    if budget <= 0:
        return ""
    enc = encoding()
    tokens = enc.encode_ordinary(text)
    if len(tokens) <= budget:
        return text
    part = tokens[-budget:] if keep_end else tokens[:budget]
    clipped = enc.decode(part, errors="replace").strip("\ufffd").strip()
    # Re-encoding can differ at the edges; shave characters until it fits.
    while clipped and count_tokens(clipped) > budget:
        clipped = (clipped[1:] if keep_end else clipped[:-1]).strip()
    return clipped


# --- extractive ---------------------------------------------------------------------


_MIN_FRAGMENT_TOKENS = 16
"""A clipped piece of the previous summary shorter than this is left out."""
_MAX_ATTEMPTS = 256
"""How many of the best sentences are tried against the budget."""


class _Sentence(NamedTuple):
    order: int
    """Position among all sentences, oldest first; breaks ties."""
    message: int
    """Position of the message it came from."""
    speaker: str
    text: str
    words: tuple[str, ...]
    """Content words, lower-cased, in order."""


class ExtractiveSummarizer(Summarizer):
    """An offline, deterministic summary built from the messages' own sentences.

    Sentences are scored by the normalised term frequency of their content words
    (words outside a small English stopword list), summed over distinct words and
    divided by the square root of the sentence's content-word count. The best fit the
    token budget, ties going to the earlier sentence; they are written in original
    order as `"role: sentence"` lines, one per message.

    The previous summary comes first, trimmed from the front by whole sentences so
    that the result stays within `max_tokens`. When both compete for space, the new
    sentences get at least half of the budget.
    """

    name = "extractive"

    def __init__(self, max_tokens: int = 256) -> None:
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        self.max_tokens = max_tokens

    def __repr__(self) -> str:
        return f"ExtractiveSummarizer(max_tokens={self.max_tokens})"

    def summarize(self, previous: str | None, messages: Sequence[Message]) -> SummaryDraft:
        """Summarise `messages`, keeping as much of `previous` as the budget allows."""
        prev_text = (previous or "").strip()
        prev_spans = _segment(prev_text)
        sentences = self._sentences(messages)

        reserve = 0
        if prev_spans:
            reserve = min(self._tail_tokens(prev_text, prev_spans), self.max_tokens // 2)
        picked = self._pick(sentences, self.max_tokens - reserve - (1 if prev_spans else 0))

        while True:
            new_text = self._render(sentences, picked)
            budget = self.max_tokens
            if new_text:
                budget -= count_tokens(new_text) + 1
            kept_prev = self._trim_front(prev_text, prev_spans, budget, kept_any=bool(new_text))
            content = "\n".join(part for part in (kept_prev, new_text) if part)
            overshoot = count_tokens(content) - self.max_tokens
            if overshoot <= 0 or not picked:
                break
            # Joined lines can tokenise differently from their parts: drop the
            # lowest-ranked pick and try again (at most once per pick).
            picked = picked[:-1]

        if overshoot > 0:
            content = _clip_tokens(content, self.max_tokens, keep_end=True)
        metadata: dict[str, Any] = {
            "summarizer": self.name,
            "sentences": len(picked),
            "candidates": len(sentences),
            "messages": len({sentence.message for sentence in sentences}),
            "previous_included": bool(kept_prev),
            "max_tokens": self.max_tokens,
        }
        return SummaryDraft(content=content, metadata=metadata)

    @staticmethod
    def _sentences(messages: Sequence[Message]) -> list[_Sentence]:
        sentences: list[_Sentence] = []
        total = sum(len(message.content) for message in messages)
        bulk = True if total > _BULK_TOTAL_CHARS else None
        for position, message in enumerate(messages):
            content = message.content
            if not content or content.isspace():
                continue
            lowered = content.lower()
            speaker = _speaker(message)
            for start, end in _segment(content, bulk):
                words = tuple(
                    word
                    for word in _WORD.findall(lowered, start, end)
                    if word not in _STOPWORDS and not (len(word) == 1 and word.isascii())
                )
                sentences.append(
                    _Sentence(
                        order=len(sentences),
                        message=position,
                        speaker=speaker,
                        text=_one_line(content[start:end]),
                        words=words,
                    )
                )
        return sentences

    @staticmethod
    def _rank(sentences: list[_Sentence]) -> list[_Sentence]:
        """Best first; equal scores keep their original order."""
        frequency: Counter[str] = Counter()
        for sentence in sentences:
            frequency.update(sentence.words)
        top = max(frequency.values(), default=1)

        def score(sentence: _Sentence) -> float:
            if not sentence.words:
                return 0.0
            # Integer sum first: the float result never depends on iteration order.
            total = sum(frequency[word] for word in dict.fromkeys(sentence.words))
            return total / top / math.sqrt(len(sentence.words))

        scores = [score(sentence) for sentence in sentences]
        order = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))
        return [sentences[i] for i in order]

    def _pick(self, sentences: list[_Sentence], budget: int) -> list[_Sentence]:
        """The best sentences that fit `budget` tokens, best first."""
        if not sentences or budget <= 0:
            return []
        ranked = self._rank(sentences)
        picked: list[_Sentence] = []
        used = 0
        for sentence in ranked[:_MAX_ATTEMPTS]:
            if budget - used < 4:
                break
            cost = count_tokens(f"{sentence.speaker}: {sentence.text}") + 1
            if used + cost <= budget:
                picked.append(sentence)
                used += cost
        if not picked:
            # Not even the best sentence fits: keep its start.
            best = ranked[0]
            room = budget - count_tokens(f"{best.speaker}: ") - 1
            text = _clip_tokens(best.text, room)
            if text:
                picked.append(best._replace(text=text))
        return picked

    @staticmethod
    def _render(sentences: list[_Sentence], picked: list[_Sentence]) -> str:
        """Picked sentences in original order, one `role: ...` line per message."""
        lines: list[str] = []
        last_message = -1
        for sentence in sorted(picked, key=lambda s: s.order):
            if sentence.message == last_message:
                lines[-1] = f"{lines[-1]} {sentence.text}"
            else:
                lines.append(f"{sentence.speaker}: {sentence.text}")
                last_message = sentence.message
        return "\n".join(lines)

    def _tail_tokens(self, text: str, spans: list[tuple[int, int]]) -> int:
        """Roughly the tokens of `text`, counting from the end up to `max_tokens`."""
        total = 0
        for start, end in reversed(spans):
            total += count_tokens(text[start:end]) + 1
            if total >= self.max_tokens:
                break
        return total

    @staticmethod
    def _trim_front(text: str, spans: list[tuple[int, int]], budget: int, *, kept_any: bool) -> str:
        """The longest suffix of `text` starting at a sentence that fits `budget`.

        When not even the last sentence fits, its end is kept, unless the budget is
        too small for a useful fragment and there is other content (`kept_any`).
        """
        if not spans or budget <= 0:
            return ""
        used = 0
        first = len(spans)
        for i in range(len(spans) - 1, -1, -1):
            start, end = spans[i]
            used += count_tokens(text[start:end]) + 1
            if used > budget:
                break
            first = i
        while first < len(spans):
            kept = text[spans[first][0] :]
            if count_tokens(kept) <= budget:
                return kept
            first += 1
        if budget < _MIN_FRAGMENT_TOKENS and kept_any:
            return ""
        # Not even the last sentence fits: keep its end.
        start, end = spans[-1]
        return _clip_tokens(text[start:end], budget, keep_end=True)


# --- LLM ------------------------------------------------------------------------------

DEFAULT_SUMMARY_PROMPT = """\
Review the current summary, if there is one, and the new lines of the conversation.
Write a concise summary of the whole conversation, adding what the new lines say to \
the current summary. If the new lines are meaningless or empty, return the current \
summary. Reply with the summary only, without preamble.

EXAMPLE
Current summary:
The user asks who Led Zeppelin's lead singer was. The assistant names Robert Plant.
New lines of conversation:
user: Who were the other members of Led Zeppelin?
assistant: The other founding members were Jimmy Page (guitar), John Paul Jones \
(bass, keyboards) and John Bonham (drums).
New summary:
The user asks about Led Zeppelin's lead singer and other members. The assistant names \
Robert Plant as the lead singer and lists the founding members Jimmy Page, John Paul \
Jones and John Bonham.
EXAMPLE END

Current summary:
{previous_summary}
New lines of conversation:
{messages}
New summary:
"""
"""Zep's progressive summary prompt, with `{previous_summary}` and `{messages}`."""

_PROMPT_FIELD = re.compile(r"\{(previous_summary|messages)\}")
_PROMPT_RESERVE_TOKENS = 250
"""Zep's allowance for the prompt around the summary and the messages."""
_MIN_INPUT_TOKENS = 32


class LLMSummarizer(Summarizer):
    """Zep's progressive summary via an OpenAI-compatible chat-completions endpoint.

    Each request sends one user message: the prompt with the running summary and new
    `"role: content"` lines. Batches larger than the input budget (`max_context_tokens`
    minus `max_output_tokens` minus 250 for the prompt) go chunk by chunk, each chunk
    folding in the summary the previous one produced.
    """

    name = "llm"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_context_tokens: int = 8192,
        max_output_tokens: int = 1024,
        prompt_template: str | None = None,
    ) -> None:
        template = DEFAULT_SUMMARY_PROMPT if prompt_template is None else prompt_template
        missing = [
            f"{{{name}}}"
            for name in ("previous_summary", "messages")
            if f"{{{name}}}" not in template
        ]
        if missing:
            raise ValueError(f"prompt_template lacks {' and '.join(missing)}")
        if max_output_tokens < 1:
            raise ValueError("max_output_tokens must be at least 1")
        budget = max_context_tokens - max_output_tokens - _PROMPT_RESERVE_TOKENS
        if budget < _MIN_INPUT_TOKENS:
            raise ValueError(
                f"max_context_tokens ({max_context_tokens}) leaves {budget} input tokens "
                f"after {max_output_tokens} for output and {_PROMPT_RESERVE_TOKENS} for the "
                f"prompt; at least {_MIN_INPUT_TOKENS} are needed"
            )
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key or None
        self.timeout = timeout
        self.max_context_tokens = max_context_tokens
        self.max_output_tokens = max_output_tokens
        self.prompt_template = template

    def __repr__(self) -> str:
        key = "set" if self.api_key else "none"
        return f"LLMSummarizer(base_url={self.base_url!r}, model={self.model!r}, api_key={key})"

    @property
    def url(self) -> str:
        """The chat-completions endpoint."""
        return f"{self.base_url}/chat/completions"

    @property
    def input_budget(self) -> int:
        """Tokens per request for the summary plus the message lines."""
        return self.max_context_tokens - self.max_output_tokens - _PROMPT_RESERVE_TOKENS

    def render_prompt(self, previous: str, lines: Sequence[str]) -> str:
        """The prompt for one request: the template with both fields filled in."""
        values = {"previous_summary": previous, "messages": "\n".join(lines)}
        return _PROMPT_FIELD.sub(lambda match: values[match.group(1)], self.prompt_template)

    def summarize(self, previous: str | None, messages: Sequence[Message]) -> SummaryDraft:
        """Summarise `messages` chunk by chunk; raises SummarizerError on any failure."""
        lines = [
            f"{_speaker(message)}: {message.content.strip()}"
            for message in messages
            if message.content and not message.content.isspace()
        ]
        metadata: dict[str, Any] = {"summarizer": self.name, "model": self.model}
        summary = (previous or "").strip()
        if not lines:
            return SummaryDraft(content=summary, metadata=metadata)

        import httpx

        budget = self.input_budget
        summary, summary_tokens = self._fit_summary(summary)
        chunk: list[str] = []
        chunk_tokens = 0
        with httpx.Client(timeout=self.timeout, headers=self._headers()) as client:
            for line in lines:
                tokens = count_tokens(line) + 1
                if chunk and chunk_tokens + tokens > budget - summary_tokens:
                    summary = self._complete(client, summary, chunk)
                    summary, summary_tokens = self._fit_summary(summary)
                    chunk, chunk_tokens = [], 0
                room = budget - summary_tokens
                if tokens > room:  # only when the chunk is empty: one line alone is too big
                    line = _clip_tokens(line, room - 1)
                    tokens = count_tokens(line) + 1
                chunk.append(line)
                chunk_tokens += tokens
            summary = self._complete(client, summary, chunk)
        return SummaryDraft(content=summary, metadata=metadata)

    def _fit_summary(self, summary: str) -> tuple[str, int]:
        """The running summary, cut to half the input budget if longer, with its tokens."""
        limit = self.input_budget // 2
        tokens = count_tokens(summary)
        if tokens > limit:
            summary = _clip_tokens(summary, limit, keep_end=True)
            tokens = count_tokens(summary)
        return summary, tokens

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _error(self, reason: str) -> SummarizerError:
        message = _one_line(f"LLM summarizer: POST {self.url} failed: {reason}")
        if self.api_key:
            message = message.replace(self.api_key, "***")
        return SummarizerError(message)

    def _complete(self, client: httpx.Client, previous: str, lines: Sequence[str]) -> str:
        """One chat-completions request; returns the stripped summary text."""
        import httpx

        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": self.render_prompt(previous, lines)}],
            "max_tokens": self.max_output_tokens,
            "temperature": 0,
        }
        try:
            response = client.post(self.url, json=body)
        except httpx.TimeoutException:
            raise self._error(f"timed out after {self.timeout:g} s") from None
        except httpx.ConnectError as exc:
            raise self._error(f"cannot connect ({str(exc) or 'connection refused'})") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise self._error(f"{type(exc).__name__}: {exc}") from None

        if not response.is_success:
            detail = _one_line(response.text)[:200]
            reason = f"HTTP {response.status_code} {response.reason_phrase}".strip()
            raise self._error(f"{reason}: {detail}" if detail else reason)
        try:
            data = response.json()
        except ValueError:
            raise self._error("the response is not valid JSON") from None
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices:
            raise self._error("the response has no choices")
        choice = choices[0]
        message = choice.get("message") if isinstance(choice, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            raise self._error("the response's first choice has no message content")
        content = content.strip()
        if not content:
            raise self._error("the model returned an empty summary")
        return content


# --- configuration ------------------------------------------------------------------


def _setting(env: Mapping[str, str], *names: str) -> str | None:
    """The first of `names` set to a non-blank value in `env`."""
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def summarizer_from_config(
    name: str | None = None, env: Mapping[str, str] | None = None
) -> Summarizer:
    """The summarizer named `name` (else `ZEPTUI_SUMMARIZER`, else "extractive").

    "llm" reads `ZEPTUI_LLM_BASE_URL` (or `OPENAI_BASE_URL`), `ZEPTUI_LLM_MODEL` and
    `ZEPTUI_LLM_API_KEY` (or `OPENAI_API_KEY`) from `env` (default: os.environ).
    """
    env = os.environ if env is None else env
    chosen = name if name is not None else _setting(env, "ZEPTUI_SUMMARIZER")
    chosen = (chosen or "extractive").strip().lower()
    if chosen == "extractive":
        return ExtractiveSummarizer()
    if chosen == "llm":
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
        return LLMSummarizer(base_url=base_url, model=model, api_key=api_key)
    raise SummarizerError(f"unknown summarizer {chosen!r}; choose 'extractive' or 'llm'")
