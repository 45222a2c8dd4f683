"""Zep's progressive summary through any OpenAI-compatible chat-completions endpoint.

Every request has one overall deadline (connect, headers and body together: a
server that trickles its reply a byte at a time cannot hold zeptui longer than a
silent one), reads at most `MAX_RESPONSE_BYTES` of the reply, and keeps at most
`max_output_tokens` tokens (and `MAX_SUMMARY_BYTES`) of the summary, cut after a
whole sentence (the summary's metadata then says `"truncated": true`). URLs in
errors are printed without their credentials (`storage.urls.redact_url`).
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from storage.sentences import one_line, truncate_to_sentences
from storage.summarizers import (
    SpokenMessage,
    Summarizer,
    SummarizerError,
    SummaryDraft,
    speaker,
)
from storage.summary_policy import MAX_SUMMARY_BYTES, MAX_SUMMARY_TOKENS
from storage.tokens import count_tokens, encoding
from storage.urls import REDACTED, join_url, redact_url, url_secrets

__all__ = ["DEFAULT_SUMMARY_PROMPT", "MAX_RESPONSE_BYTES", "LLMSummarizer"]

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

MAX_RESPONSE_BYTES = 1024 * 1024
"""Reading a reply stops here: a chat completion of a 1024-token summary is a few KB."""

_WAKE_SECONDS = 0.1
"""How often the wait for a reply wakes up (for a Ctrl-C handler: see `_post`)."""
_PROMPT_FIELD = re.compile(r"\{(previous_summary|messages)\}")
_PROMPT_RESERVE_TOKENS = 250
"""Zep's allowance for the prompt around the summary and the messages."""
_MIN_INPUT_TOKENS = 32
_MIN_SCRUBBED = 4
"""Shorter secrets are not scrubbed from error text: replacing them would garble it."""
_API_KEY = re.compile(r"[\x21-\x7e]+")


def _clip_tokens(text: str, budget: int, *, keep_end: bool = False) -> str:
    """`text` cut to at most `budget` tokens, keeping its start (or its end): prompt
    input only, where a cut sentence does no harm."""
    if budget <= 0:
        return ""
    tokens = encoding().encode_ordinary(text)
    if len(tokens) <= budget:
        return text
    part = tokens[-budget:] if keep_end else tokens[:budget]
    clipped = encoding().decode(part, errors="replace").strip("\ufffd").strip()
    # Re-encoding can differ at the edges; shave characters until it fits.
    while clipped and count_tokens(clipped) > budget:
        clipped = (clipped[1:] if keep_end else clipped[:-1]).strip()
    return clipped


@dataclass(frozen=True)
class _Reply:
    status: int
    reason: str
    body: bytes


class LLMSummarizer(Summarizer):
    """Zep's progressive summary via an OpenAI-compatible chat-completions endpoint.

    Each request sends one user message: the prompt with the running summary and new
    `"role: content"` lines. Batches larger than the input budget (`max_context_tokens`
    minus `max_output_tokens` minus 250 for the prompt) go chunk by chunk, each chunk
    folding in the summary the previous one produced. `timeout` is each request's
    overall deadline in seconds.
    """

    name = "llm"
    waits_on_network = True

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
        if api_key and not _API_KEY.fullmatch(api_key):
            raise SummarizerError(
                "the LLM API key (ZEPTUI_LLM_API_KEY or OPENAI_API_KEY) has characters other "
                "than printable ASCII (non-ASCII letters, spaces or line breaks); check its value"
            )
        self.base_url = base_url.rstrip("/")
        if not re.match(r"https?://[^/?#]", self.base_url, re.IGNORECASE):
            raise SummarizerError(
                f"the LLM base URL {redact_url(self.base_url)!r} is not an http:// or https:// URL"
            )
        self.model = model
        self.api_key = api_key or None
        self.timeout = timeout
        self.max_context_tokens = max_context_tokens
        self.max_output_tokens = max_output_tokens
        self.prompt_template = template

    def __repr__(self) -> str:
        key = "set" if self.api_key else "none"
        base = redact_url(self.base_url)
        return f"LLMSummarizer(base_url={base!r}, model={self.model!r}, api_key={key})"

    @property
    def url(self) -> str:
        """The chat-completions endpoint (with the base URL's query, if any)."""
        return join_url(self.base_url, "chat/completions")

    @property
    def input_budget(self) -> int:
        """Tokens per request for the summary plus the message lines."""
        return self.max_context_tokens - self.max_output_tokens - _PROMPT_RESERVE_TOKENS

    def render_prompt(self, previous: str, lines: Sequence[str]) -> str:
        """The prompt for one request: the template with both fields filled in."""
        values = {"previous_summary": previous, "messages": "\n".join(lines)}
        return _PROMPT_FIELD.sub(lambda match: values[match.group(1)], self.prompt_template)

    def summarize(self, previous: str | None, messages: Sequence[SpokenMessage]) -> SummaryDraft:
        """Summarise `messages` chunk by chunk; raises SummarizerError on any failure."""
        lines = [
            f"{speaker(message)}: {message.content.strip()}"
            for message in messages
            if message.content.strip()
        ]
        metadata: dict[str, Any] = {"summarizer": self.name, "model": self.model}
        summary = (previous or "").strip()
        if not lines:
            return SummaryDraft(content=summary, metadata=metadata)
        budget = self.input_budget
        summary, summary_tokens = self._fit_summary(summary)
        chunk: list[str] = []
        chunk_tokens = 0
        for line in lines:
            tokens = count_tokens(line) + 1
            if chunk and chunk_tokens + tokens > budget - summary_tokens:
                summary = self._complete(summary, chunk, metadata)
                summary, summary_tokens = self._fit_summary(summary)
                chunk, chunk_tokens = [], 0
            room = budget - summary_tokens
            if tokens > room:  # only when the chunk is empty: one line alone is too big
                line = _clip_tokens(line, room - 1)
                tokens = count_tokens(line) + 1
            chunk.append(line)
            chunk_tokens += tokens
        summary = self._complete(summary, chunk, metadata)
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
        # identity: a compressed reply could expand far beyond what was read.
        headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _error(self, reason: str) -> SummarizerError:
        """A one-line error naming the endpoint, with every credential masked."""
        message = one_line(f"LLM summarizer: POST {redact_url(self.url)} failed: {reason}")
        for raw in (self.url, self.base_url):
            message = message.replace(raw, redact_url(raw))
        secrets = [self.api_key or "", *url_secrets(self.base_url)]
        for secret in sorted(secrets, key=len, reverse=True):
            if len(secret) >= _MIN_SCRUBBED:
                message = message.replace(secret, REDACTED)
        return SummarizerError(message)

    def _post(self, body: dict[str, Any]) -> _Reply:
        """POST `body` and read the reply, all within `timeout` seconds.

        httpx's timeouts bound each network operation, so a server that sends a byte
        every few seconds would never trip them. The request runs on a daemon thread
        that the caller waits for until the deadline; after it, the thread stops at
        its next chunk (or its own per-operation timeout) and its reply is dropped.
        """
        deadline = time.monotonic() + self.timeout
        outcome: queue.SimpleQueue[_Reply | SummarizerError] = queue.SimpleQueue()

        def request() -> None:
            try:
                outcome.put(self._read_reply(body, deadline))
            except SummarizerError as error:
                outcome.put(error)
            except Exception as error:  # anything else the client raises, as one line
                outcome.put(self._error(f"{type(error).__name__}: {error}"))

        threading.Thread(target=request, name="zeptui-llm-request", daemon=True).start()
        while True:
            left = deadline - time.monotonic()
            try:
                # Woken now and then: a signal (Ctrl-C) can land on any thread, and
                # only a waking main thread runs Python's handler for it.
                result = outcome.get(timeout=max(0.0, min(left, _WAKE_SECONDS)))
                break
            except queue.Empty:
                if left <= _WAKE_SECONDS:
                    raise self._error(f"no complete reply within {self.timeout:g} s") from None
        if isinstance(result, SummarizerError):
            raise result
        return result

    def _read_reply(self, body: dict[str, Any], deadline: float) -> _Reply:
        import httpx

        try:
            with (
                httpx.Client(timeout=self.timeout, headers=self._headers()) as client,
                client.stream("POST", self.url, json=body) as response,
            ):
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
                    raise self._error(f"the reply is larger than {MAX_RESPONSE_BYTES:,} bytes")
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > MAX_RESPONSE_BYTES:
                        raise self._error(f"the reply is larger than {MAX_RESPONSE_BYTES:,} bytes")
                    if time.monotonic() > deadline:
                        raise self._error(f"no complete reply within {self.timeout:g} s")
                return _Reply(response.status_code, response.reason_phrase, bytes(data))
        except httpx.TimeoutException:
            raise self._error(f"no complete reply within {self.timeout:g} s") from None
        except httpx.ConnectError as exc:
            raise self._error(f"cannot connect ({str(exc) or 'connection refused'})") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise self._error(f"{type(exc).__name__}: {exc}") from None

    def complete(self, prompt: str) -> str:
        """The model's reply to `prompt` sent as one user message, stripped (one
        request, within `timeout`); raises SummarizerError on any failure."""
        reply = self._post(
            {
                "model": self.model,
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": self.max_output_tokens,
                "temperature": 0,
            }
        )
        if not 200 <= reply.status < 300:
            detail = one_line(reply.body[:2000].decode("utf-8", "replace"))[:200]
            reason = f"HTTP {reply.status} {reply.reason}".strip()
            raise self._error(f"{reason}: {detail}" if detail else reason)
        try:
            data = json.loads(reply.body)
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
        return content.strip()

    def _complete(self, previous: str, lines: Sequence[str], metadata: dict[str, Any]) -> str:
        """One chat-completions request; returns the summary, cut to the size limits
        after a whole sentence (marking `metadata["truncated"]`)."""
        content = self.complete(self.render_prompt(previous, lines))
        if not content:
            raise self._error("the model returned an empty summary")
        limit = min(self.max_output_tokens, MAX_SUMMARY_TOKENS)
        kept = truncate_to_sentences(content, limit, MAX_SUMMARY_BYTES)
        if not kept:
            raise self._error(
                f"the model's summary has no whole sentence within {limit} tokens "
                f"and {MAX_SUMMARY_BYTES:,} bytes"
            )
        if kept != content:
            metadata["truncated"] = True
        return kept
