"""Tests for storage.summarizers: the extractive and LLM summarizers and their config.

The LLM summarizer talks to a real OpenAI-compatible HTTP server on 127.0.0.1 (stdlib
`http.server` in a thread) that records requests and returns canned completions.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from storage.errors import StoreError
from storage.models import Message, RoleType
from storage.summarizers import (
    DEFAULT_SUMMARY_PROMPT,
    ExtractiveSummarizer,
    LLMSummarizer,
    SummarizerError,
    SummaryDraft,
    summarizer_from_config,
)
from storage.tokens import count_tokens

ROOT = Path(__file__).resolve().parents[1]


def msg(role: str, content: str, role_type: RoleType | None = None) -> Message:
    return Message(role=role, content=content, role_type=role_type)


TRIP = [
    msg(
        "user",
        "I want to plan a trip to Japan in April. Cherry blossoms in Kyoto are my main "
        "goal! My budget is around 3000 dollars.",
    ),
    msg(
        "assistant",
        "Kyoto in early April is ideal for cherry blossoms. I suggest staying near Gion. "
        "A Japan rail pass keeps the trip within budget.",
    ),
    msg("user", "Great."),
    msg(
        "assistant",
        "For cherry blossoms in Kyoto, visit the Philosopher's Path and Maruyama Park "
        "early in the morning.",
    ),
]


# --- extractive ---------------------------------------------------------------------


def test_extractive_basic_shape() -> None:
    draft = ExtractiveSummarizer().summarize(None, TRIP)
    assert isinstance(draft, SummaryDraft)
    lines = draft.content.split("\n")
    assert lines[0].startswith("user: I want to plan a trip to Japan in April.")
    assert all(line.startswith(("user: ", "assistant: ")) for line in lines)
    assert draft.metadata["summarizer"] == "extractive"
    assert draft.metadata["sentences"] >= 1
    assert draft.metadata["candidates"] == 8
    assert ExtractiveSummarizer.name == "extractive"


def test_extractive_is_deterministic() -> None:
    summarizer = ExtractiveSummarizer(max_tokens=48)
    first = summarizer.summarize("Earlier the user said hello.", TRIP)
    second = ExtractiveSummarizer(max_tokens=48).summarize("Earlier the user said hello.", TRIP)
    assert first == second
    assert first.content.encode() == second.content.encode()


def test_extractive_is_deterministic_across_hash_seeds() -> None:
    """No set or dict ordering leaks into the output: other hash seeds, same bytes."""
    script = (
        "import json, sys\n"
        "from storage.models import Message\n"
        "from storage.summarizers import ExtractiveSummarizer\n"
        "texts = json.loads(sys.stdin.read())\n"
        "messages = [Message(role=r, content=c) for r, c in texts]\n"
        "print(json.dumps(ExtractiveSummarizer(max_tokens=40).summarize('Prev.', messages)"
        ".content))\n"
    )
    texts = [(m.role, m.content) for m in TRIP] + [
        ("user", "alpha beta gamma. delta epsilon zeta. eta theta iota. kappa lambda mu.")
    ]
    expected = ExtractiveSummarizer(max_tokens=40).summarize("Prev.", [msg(r, c) for r, c in texts])
    outputs = set()
    for seed in ("1", "12345"):
        result = subprocess.run(
            [sys.executable, "-c", script],
            input=json.dumps(texts),
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            timeout=60,
            check=True,
        )
        outputs.add(json.loads(result.stdout))
    assert outputs == {expected.content}


@pytest.mark.parametrize("max_tokens", [1, 8, 16, 40, 100, 256])
def test_extractive_output_is_bounded(max_tokens: int) -> None:
    messages = [
        msg("user" if i % 2 else "assistant", f"Sentence {i} talks about topic {i % 5}. " * 6)
        for i in range(40)
    ]
    draft = ExtractiveSummarizer(max_tokens=max_tokens).summarize("Old summary. " * 50, messages)
    assert count_tokens(draft.content) <= max_tokens
    if max_tokens >= 8:
        assert draft.content


def test_extractive_rejects_a_zero_budget() -> None:
    with pytest.raises(ValueError):
        ExtractiveSummarizer(max_tokens=0)


def test_extractive_prefers_informative_sentences_in_original_order() -> None:
    draft = ExtractiveSummarizer(max_tokens=40).summarize(None, TRIP)
    assert "Kyoto" in draft.content
    assert "cherry blossoms" in draft.content.lower()
    assert "Great." not in draft.content  # only a stopword-free filler; never best
    # The picked sentences keep their original order.
    positions = [
        " ".join(m.content for m in TRIP).find(line.split(": ", 1)[1].split(". ")[0])
        for line in draft.content.split("\n")
    ]
    assert positions == sorted(positions)


def test_extractive_ties_go_to_the_earliest_sentence() -> None:
    messages = [msg("user", "zebra giraffe."), msg("user", "zebra giraffe."), msg("a", "x")]
    draft = ExtractiveSummarizer(max_tokens=10).summarize(None, messages)
    assert draft.content == "user: zebra giraffe."
    assert draft.metadata["sentences"] == 1


def test_extractive_joins_sentences_of_one_message_on_one_line() -> None:
    text = "First point about rockets.\n\nSecond point   about\trockets!"
    draft = ExtractiveSummarizer().summarize(None, [msg("assistant", text)])
    assert draft.content == "assistant: First point about rockets. Second point about rockets!"


def test_extractive_speaker_falls_back_to_role_type() -> None:
    messages = [
        msg("", "The deploy finished.", RoleType.assistant),
        msg("  ", "Nobody knows who said this."),
        msg("Ada\nLovelace", "Engines compute."),
    ]
    draft = ExtractiveSummarizer().summarize(None, messages)
    assert draft.content.split("\n") == [
        "assistant: The deploy finished.",
        "unknown: Nobody knows who said this.",
        "Ada Lovelace: Engines compute.",
    ]


def test_extractive_folds_in_the_previous_summary() -> None:
    previous = "Ana introduced herself. Ana loves hiking in the Alps."
    draft = ExtractiveSummarizer().summarize(previous, TRIP)
    assert draft.content.startswith(previous + "\n")
    assert draft.metadata["previous_included"] is True
    without = ExtractiveSummarizer().summarize(None, TRIP)
    assert draft.content != without.content
    assert draft.content.endswith(without.content)


def test_extractive_trims_the_previous_summary_from_the_front() -> None:
    previous = " ".join(f"Fact number {i} concerns item {i}." for i in range(60))
    summarizer = ExtractiveSummarizer(max_tokens=80)
    draft = summarizer.summarize(previous, TRIP)
    assert count_tokens(draft.content) <= 80
    kept, _, new = draft.content.partition("\n")
    assert new.startswith(("user: ", "assistant: "))
    # A suffix of the previous summary that starts at a whole sentence.
    assert previous.endswith(kept)
    assert kept.startswith("Fact number ")
    assert "Fact number 59 concerns item 59." in kept
    assert "Fact number 0 " not in kept
    # The new sentences keep at least half of the budget.
    assert count_tokens(new) >= 20


def test_extractive_previous_summary_alone() -> None:
    summarizer = ExtractiveSummarizer(max_tokens=30)
    assert summarizer.summarize("  Short summary.  ", []).content == "Short summary."
    long_previous = "\n".join(f"user: Line {i} says something new." for i in range(40))
    draft = summarizer.summarize(long_previous, [msg("user", "   ")])
    assert 0 < count_tokens(draft.content) <= 30
    assert draft.content.endswith("user: Line 39 says something new.")
    assert long_previous.endswith(draft.content)


def test_extractive_previous_summary_without_punctuation_is_clipped() -> None:
    previous = "word " * 5000
    draft = ExtractiveSummarizer(max_tokens=20).summarize(previous, [])
    assert 0 < count_tokens(draft.content) <= 20
    assert set(draft.content.split()) == {"word"}


def test_extractive_empty_input() -> None:
    summarizer = ExtractiveSummarizer()
    for previous, messages in [
        (None, []),
        ("", []),
        ("   \n ", [msg("user", ""), msg("assistant", " \n\t ")]),
    ]:
        draft = summarizer.summarize(previous, messages)
        assert draft.content == ""
        assert draft.metadata["summarizer"] == "extractive"
        assert draft.metadata["sentences"] == 0


def test_extractive_keeps_markup_literally() -> None:
    content = "Render [bold]x[/] and [red]warning[/red] with <b>html</b> and `code` {x}."
    draft = ExtractiveSummarizer().summarize("[i]old[/i] summary.", [msg("user", content)])
    assert draft.content == f"[i]old[/i] summary.\nuser: {content}"


def test_extractive_unicode() -> None:
    messages = [
        msg("user", "Ich möchte nach Zürich fahren. Die Straße ist schön! 🚆🇨🇭"),
        msg("assistant", "東京は春がきれいです。桜が咲きます。"),
        msg("ユーザー", "Привет, как дела? Всё хорошо."),
    ]
    draft = ExtractiveSummarizer().summarize("Café résumé — naïve.", messages)
    assert draft.content.startswith("Café résumé — naïve.\n")
    assert "user: Ich möchte nach Zürich fahren." in draft.content
    assert "🚆🇨🇭" in draft.content
    assert "東京は春がきれいです。" in draft.content
    assert "ユーザー: Привет, как дела?" in draft.content


@pytest.mark.parametrize(
    "content",
    [
        "a" * 1_000_000,
        "word " * 200_000,
        "hello world. " * 80_000,
        "😀" * 250_000,
        "漢字。" * 300_000,
        "no punctuation at all just words and more words " * 20_000,
    ],
    ids=["one-char", "words", "sentences", "emoji", "cjk", "no-punctuation"],
)
def test_extractive_huge_messages_are_fast_and_bounded(content: str) -> None:
    count_tokens("warm up the encoding")
    summarizer = ExtractiveSummarizer()
    started = time.perf_counter()
    draft = summarizer.summarize(None, [msg("user", content)])
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0
    assert draft.content.startswith("user: ")
    assert 0 < count_tokens(draft.content) <= 256
    # Clipped chunks are pieces of the original text.
    assert draft.content.removeprefix("user: ").split(" ")[0] in content


def test_extractive_no_punctuation_falls_back_to_chunks() -> None:
    content = " ".join(f"token{i}" for i in range(2000))
    draft = ExtractiveSummarizer(max_tokens=120).summarize(None, [msg("user", content)])
    assert draft.metadata["candidates"] > 10
    assert 0 < count_tokens(draft.content) <= 120


# --- a real OpenAI-compatible server ------------------------------------------------


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def prompt(self) -> str:
        content = self.body["messages"][0]["content"]
        assert isinstance(content, str)
        return content


@dataclass
class FakeLLM:
    """What the server does (`mode`) and what it saw (`requests`)."""

    base_url: str = ""
    mode: str = "ok"
    delay: float = 0.0
    requests: list[Recorded] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Server(ThreadingHTTPServer):
    fake: FakeLLM


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Keep the test output quiet."""

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (the timeout test)
            pass

    def do_POST(self) -> None:
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/v1/chat/completions":
            self._send(404, b'{"error": {"message": "not found"}}')
            return
        with fake.lock:
            fake.requests.append(
                Recorded(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(raw)
                )
            )
            number = len(fake.requests)
        if fake.delay:
            fake.release.wait(fake.delay)
        mode = fake.mode
        if mode == "500":
            self._send(500, b'{"error": {"message": "model crashed"}}')
        elif mode == "401-echo":
            auth = self.headers.get("Authorization", "")
            self._send(401, json.dumps({"error": f"bad key in {auth!r}"}).encode())
        elif mode == "bad-json":
            self._send(200, b"{not json", "text/plain")
        elif mode == "no-choices":
            self._send(200, json.dumps({"id": "x", "choices": []}).encode())
        elif mode == "no-content":
            self._send(200, json.dumps({"choices": [{"message": {"role": "assistant"}}]}).encode())
        elif mode == "blank":
            self._send(200, json.dumps({"choices": [{"message": {"content": "  \n "}}]}).encode())
        else:
            reply = {
                "id": f"chatcmpl-{number}",
                "object": "chat.completion",
                "model": fake.requests[-1].body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": f"\n  SUMMARY-{number}  \n"},
                        "finish_reason": "stop",
                    }
                ],
            }
            self._send(200, json.dumps(reply).encode())


@pytest.fixture
def llm_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("all_proxy", raising=False)
    server = _Server(("127.0.0.1", 0), _Handler)
    fake = FakeLLM(base_url=f"http://127.0.0.1:{server.server_address[1]}/v1")
    server.fake = fake
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield fake
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def make_llm(fake: FakeLLM, **kwargs: Any) -> LLMSummarizer:
    options: dict[str, Any] = {"model": "test-model", "timeout": 5.0}
    options.update(kwargs)
    return LLMSummarizer(base_url=fake.base_url, **options)


# --- LLM summarizer -----------------------------------------------------------------


def test_llm_request_and_response(llm_server: FakeLLM) -> None:
    summarizer = make_llm(llm_server, api_key="sk-test-123", max_output_tokens=512)
    draft = summarizer.summarize("  The user is Ana.  ", TRIP[:2])
    assert draft.content == "SUMMARY-1"
    assert draft.metadata == {"summarizer": "llm", "model": "test-model"}
    assert LLMSummarizer.name == "llm"
    [request] = llm_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test-123"
    assert request.headers["content-type"] == "application/json"
    assert request.body["model"] == "test-model"
    assert request.body["max_tokens"] == 512
    assert [m["role"] for m in request.body["messages"]] == ["user"]
    prompt = request.prompt
    assert "Current summary:\nThe user is Ana.\nNew lines of conversation:\n" in prompt
    lines = f"user: {TRIP[0].content}\nassistant: {TRIP[1].content}"
    assert f"New lines of conversation:\n{lines}\nNew summary:" in prompt
    assert "without preamble" in prompt


def test_llm_without_api_key_and_with_trailing_slash(llm_server: FakeLLM) -> None:
    summarizer = LLMSummarizer(base_url=llm_server.base_url + "/", model="m")
    assert summarizer.url == llm_server.base_url + "/chat/completions"
    summarizer.summarize(None, [msg("user", "hi there")])
    [request] = llm_server.requests
    assert "authorization" not in request.headers
    assert "Current summary:\n\nNew lines of conversation:\nuser: hi there\n" in request.prompt


def test_llm_skips_empty_messages_and_needs_no_request_for_none(llm_server: FakeLLM) -> None:
    summarizer = make_llm(llm_server)
    draft = summarizer.summarize("  Kept as is. ", [msg("user", ""), msg("assistant", " \n")])
    assert draft.content == "Kept as is."
    assert draft.metadata == {"summarizer": "llm", "model": "test-model"}
    assert summarizer.summarize(None, []).content == ""
    assert llm_server.requests == []
    summarizer.summarize(None, [msg("user", " "), msg("assistant", " ok ")])
    assert (
        "New lines of conversation:\nassistant: ok\nNew summary:" in llm_server.requests[0].prompt
    )


def test_llm_chunks_by_token_budget(llm_server: FakeLLM) -> None:
    messages = [
        msg("user" if i % 2 == 0 else "assistant", f"Message {i}: " + "lorem ipsum dolor " * 15)
        for i in range(12)
    ]
    summarizer = make_llm(llm_server, max_context_tokens=700, max_output_tokens=200)
    assert summarizer.input_budget == 250
    draft = summarizer.summarize("PREVIOUS-SUMMARY", messages)
    requests = llm_server.requests
    assert len(requests) >= 3
    assert draft.content == f"SUMMARY-{len(requests)}"
    assert "Current summary:\nPREVIOUS-SUMMARY\n" in requests[0].prompt
    for number, request in enumerate(requests[1:], start=1):
        assert f"Current summary:\nSUMMARY-{number}\nNew lines" in request.prompt
    seen: list[int] = []
    for request in requests:
        assert count_tokens(request.prompt) <= 700 - 200
        block = request.prompt.split("New lines of conversation:\n")[-1]
        for line in block.split("\nNew summary:")[0].split("\n"):
            role, _, content = line.partition(": ")
            assert role in ("user", "assistant")
            seen.append(int(content.split(":")[0].removeprefix("Message ")))
    assert seen == list(range(12))


def test_llm_clips_a_message_larger_than_the_budget(llm_server: FakeLLM) -> None:
    summarizer = make_llm(llm_server, max_context_tokens=800, max_output_tokens=100)
    huge = "start " + "filler " * 5000 + "end"
    summarizer.summarize(None, [msg("user", "small"), msg("user", huge), msg("user", "tail")])
    prompts = [request.prompt for request in llm_server.requests]
    assert all(count_tokens(prompt) <= 800 - 100 for prompt in prompts)
    joined = "\n".join(prompts)
    assert "user: small" in joined
    assert "user: start filler" in joined
    assert "filler end" not in joined
    assert "user: tail" in joined


def test_llm_custom_prompt_template(llm_server: FakeLLM) -> None:
    summarizer = make_llm(llm_server, prompt_template="S=[{previous_summary}] M=[{messages}]")
    summarizer.summarize("has {messages} inside", [msg("user", "a {previous_summary} b")])
    assert llm_server.requests[0].prompt == (
        "S=[has {messages} inside] M=[user: a {previous_summary} b]"
    )


def test_llm_default_prompt_fits_zeps_prompt_allowance() -> None:
    assert count_tokens(DEFAULT_SUMMARY_PROMPT) <= 250
    assert "{previous_summary}" in DEFAULT_SUMMARY_PROMPT
    assert "{messages}" in DEFAULT_SUMMARY_PROMPT


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"prompt_template": "no fields"}, "prompt_template"),
        ({"prompt_template": "{previous_summary} only"}, r"\{messages\}"),
        ({"max_context_tokens": 1200}, "max_context_tokens"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_llm_rejects_bad_settings(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LLMSummarizer(base_url="http://127.0.0.1:1/v1", model="m", **kwargs)


def test_llm_repr_hides_the_key() -> None:
    summarizer = LLMSummarizer(base_url="http://127.0.0.1:1/v1", model="m", api_key="sk-hidden")
    assert "sk-hidden" not in repr(summarizer)
    assert "model='m'" in repr(summarizer)


def _assert_one_line_error(error: SummarizerError, url: str, *needles: str) -> None:
    message = str(error)
    assert "\n" not in message
    assert url in message
    for needle in needles:
        assert needle in message
    assert "sk-secret" not in message


def test_llm_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/v1"
    summarizer = LLMSummarizer(base_url=base_url, model="m", api_key="sk-secret", timeout=5)
    started = time.perf_counter()
    with pytest.raises(SummarizerError) as info:
        summarizer.summarize(None, [msg("user", "hello")])
    assert time.perf_counter() - started < 3
    _assert_one_line_error(info.value, f"{base_url}/chat/completions", "cannot connect")
    assert isinstance(info.value, StoreError)


@pytest.mark.parametrize(
    ("mode", "needle"),
    [
        ("500", "HTTP 500"),
        ("bad-json", "not valid JSON"),
        ("no-choices", "no choices"),
        ("no-content", "no message content"),
        ("blank", "empty summary"),
    ],
)
def test_llm_bad_responses(llm_server: FakeLLM, mode: str, needle: str) -> None:
    llm_server.mode = mode
    summarizer = make_llm(llm_server, api_key="sk-secret")
    with pytest.raises(SummarizerError) as info:
        summarizer.summarize("prev", [msg("user", "hello")])
    _assert_one_line_error(info.value, f"{llm_server.base_url}/chat/completions", needle)
    assert len(llm_server.requests) == 1


def test_llm_500_names_the_servers_reason(llm_server: FakeLLM) -> None:
    llm_server.mode = "500"
    with pytest.raises(SummarizerError, match="model crashed"):
        make_llm(llm_server).summarize(None, [msg("user", "hello")])


def test_llm_error_never_leaks_the_api_key(llm_server: FakeLLM) -> None:
    llm_server.mode = "401-echo"
    summarizer = make_llm(llm_server, api_key="sk-secret-987")
    with pytest.raises(SummarizerError) as info:
        summarizer.summarize(None, [msg("user", "hello")])
    _assert_one_line_error(info.value, llm_server.base_url, "HTTP 401", "***")


def test_llm_timeout(llm_server: FakeLLM) -> None:
    llm_server.delay = 5.0  # released when the fixture stops the server
    summarizer = make_llm(llm_server, timeout=0.2)
    started = time.perf_counter()
    with pytest.raises(SummarizerError) as info:
        summarizer.summarize(None, [msg("user", "hello")])
    assert time.perf_counter() - started < 2
    _assert_one_line_error(info.value, llm_server.base_url, "timed out after 0.2 s")


def test_llm_error_stops_a_chunked_run(llm_server: FakeLLM) -> None:
    llm_server.mode = "500"
    messages = [msg("user", "lorem ipsum dolor " * 40) for _ in range(6)]
    summarizer = make_llm(llm_server, max_context_tokens=700, max_output_tokens=200)
    with pytest.raises(SummarizerError):
        summarizer.summarize(None, messages)
    assert len(llm_server.requests) == 1


# --- configuration ------------------------------------------------------------------


def test_config_defaults_to_extractive() -> None:
    assert isinstance(summarizer_from_config(env={}), ExtractiveSummarizer)
    assert isinstance(summarizer_from_config("extractive", env={}), ExtractiveSummarizer)
    env = {"ZEPTUI_SUMMARIZER": " Extractive "}
    assert isinstance(summarizer_from_config(env=env), ExtractiveSummarizer)


def test_config_llm_from_zeptui_settings() -> None:
    env = {
        "ZEPTUI_SUMMARIZER": "llm",
        "ZEPTUI_LLM_BASE_URL": "http://127.0.0.1:8000/v1",
        "ZEPTUI_LLM_MODEL": "qwen2.5",
        "ZEPTUI_LLM_API_KEY": "zk",
        "OPENAI_BASE_URL": "http://other/v1",
        "OPENAI_API_KEY": "ok",
    }
    summarizer = summarizer_from_config(env=env)
    assert isinstance(summarizer, LLMSummarizer)
    assert summarizer.url == "http://127.0.0.1:8000/v1/chat/completions"
    assert summarizer.model == "qwen2.5"
    assert summarizer.api_key == "zk"


def test_config_llm_falls_back_to_openai_settings() -> None:
    env = {
        "ZEPTUI_LLM_MODEL": "gpt-4o-mini",
        "OPENAI_BASE_URL": "https://api.example.com/v1",
        "OPENAI_API_KEY": "sk-openai",
        "ZEPTUI_LLM_API_KEY": "  ",
    }
    summarizer = summarizer_from_config("LLM", env=env)
    assert isinstance(summarizer, LLMSummarizer)
    assert summarizer.base_url == "https://api.example.com/v1"
    assert summarizer.api_key == "sk-openai"
    keyless = summarizer_from_config("llm", env={"ZEPTUI_LLM_MODEL": "m", "OPENAI_BASE_URL": "u"})
    assert isinstance(keyless, LLMSummarizer)
    assert keyless.api_key is None


def test_config_name_overrides_the_environment() -> None:
    env = {"ZEPTUI_SUMMARIZER": "llm"}
    assert isinstance(summarizer_from_config("extractive", env=env), ExtractiveSummarizer)


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"ZEPTUI_LLM_BASE_URL": "http://x/v1"}, "ZEPTUI_LLM_MODEL"),
        ({"ZEPTUI_LLM_MODEL": "m"}, "ZEPTUI_LLM_BASE_URL"),
        ({"ZEPTUI_LLM_MODEL": "m", "ZEPTUI_LLM_BASE_URL": " "}, "OPENAI_BASE_URL"),
        ({}, "ZEPTUI_LLM_BASE_URL (or OPENAI_BASE_URL) and ZEPTUI_LLM_MODEL"),
    ],
)
def test_config_llm_missing_settings(env: dict[str, str], needle: str) -> None:
    with pytest.raises(SummarizerError) as info:
        summarizer_from_config("llm", env=env)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_config_unknown_name() -> None:
    with pytest.raises(SummarizerError, match="unknown summarizer 'gpt'"):
        summarizer_from_config("gpt", env={})
    with pytest.raises(SummarizerError, match="unknown summarizer"):
        summarizer_from_config(env={"ZEPTUI_SUMMARIZER": "magic"})


def test_config_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZEPTUI_SUMMARIZER", "llm")
    monkeypatch.setenv("ZEPTUI_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("ZEPTUI_LLM_MODEL", "env-model")
    monkeypatch.delenv("ZEPTUI_LLM_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    summarizer = summarizer_from_config()
    assert isinstance(summarizer, LLMSummarizer)
    assert summarizer.model == "env-model"
    monkeypatch.delenv("ZEPTUI_SUMMARIZER")
    assert isinstance(summarizer_from_config(), ExtractiveSummarizer)


def test_importing_summarizers_does_not_import_httpx() -> None:
    script = (
        "import sys, storage\n"
        "before = 'httpx' in sys.modules\n"
        "import storage.summarizers\n"
        "print(before, 'httpx' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    before, after = result.stdout.split()
    assert after == before
