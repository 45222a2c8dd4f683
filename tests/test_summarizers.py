"""Tests for the summarizers: the extractive one, the LLM one and their configuration.

The LLM summarizer talks to a real OpenAI-compatible HTTP server on 127.0.0.1
(`tests/llm_server.py`). No test here looks at the clock: deadlines are shown by a
server that never answers (or trickles) and the error that results.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storage.errors import StoreError
from storage.llm_summarizer import DEFAULT_SUMMARY_PROMPT, MAX_RESPONSE_BYTES, LLMSummarizer
from storage.models import Message, RoleType
from storage.sentences import split_sentences
from storage.summarizers import (
    ExtractiveSummarizer,
    SummarizerError,
    SummaryDraft,
)
from storage.summary_policy import MAX_SUMMARY_BYTES, MAX_SUMMARY_TOKENS
from storage.tokens import count_message_tokens, count_tokens
from tests.llm_server import FakeLLM, serve_llm

ROOT = Path(__file__).resolve().parents[1]


def msg(role: str, content: str, role_type: RoleType | None = None) -> Message:
    return Message(role=role, content=content, role_type=role_type)


def covered_tokens(messages: list[Message]) -> int:
    return sum(count_message_tokens(m.role, m.content) for m in messages if m.content.strip())


def assert_within_budget(draft: SummaryDraft, messages: list[Message], cap: int = 256) -> None:
    """The bound of issue 9.22: at most a third of the covered tokens, and the cap."""
    assert draft.token_count == count_tokens(draft.content)
    assert count_tokens(draft.content) <= min(cap, covered_tokens(messages) // 3)


TRIP = [
    msg(
        "user",
        "I want to plan a trip to Japan in April. Cherry blossoms in Kyoto are my main "
        "goal! My budget is around 3000 dollars, and I would like to see temples too.",
    ),
    msg(
        "assistant",
        "Kyoto in early April is ideal for cherry blossoms. I suggest staying near Gion, "
        "close to the temples. A Japan rail pass keeps the trip within budget.",
    ),
    msg("user", "Great."),
    msg(
        "assistant",
        "For cherry blossoms in Kyoto, visit the Philosopher's Path and Maruyama Park "
        "early in the morning. Book hotels soon, because April is the busiest month.",
    ),
]


# --- extractive ---------------------------------------------------------------------


def test_extractive_basic_shape() -> None:
    draft = ExtractiveSummarizer().summarize(None, TRIP)
    assert isinstance(draft, SummaryDraft)
    lines = draft.content.split("\n")
    assert all(line.startswith(("user: ", "assistant: ")) for line in lines)
    assert draft.metadata["summarizer"] == "extractive"
    assert draft.metadata["quoted"] >= 1
    assert draft.metadata["budget"] == covered_tokens(TRIP) // 3
    assert_within_budget(draft, TRIP)
    assert ExtractiveSummarizer.name == "extractive"
    assert not ExtractiveSummarizer.waits_on_network


def test_extractive_is_deterministic() -> None:
    first = ExtractiveSummarizer(max_tokens=48).summarize("Earlier the user said hello.", TRIP)
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
    assert_within_budget(draft, messages, cap=max_tokens)
    if max_tokens >= 16:
        assert draft.metadata["quoted"] >= 1


def test_extractive_rejects_a_zero_budget() -> None:
    with pytest.raises(ValueError):
        ExtractiveSummarizer(max_tokens=0)


def test_extractive_summary_is_much_shorter_than_what_it_covers() -> None:
    """Issue 9.22: the Octavia sample's first summary kept 12 of its 12 sentences."""
    sample = json.loads((ROOT / "sample_data" / "octavia-butler.json").read_text())
    messages = [msg(m["role"], m["content"]) for m in sample["messages"][:6]]
    draft = ExtractiveSummarizer().summarize(None, messages)
    sentences = sum(len(split_sentences(m.content)) for m in messages)
    assert 1 <= draft.metadata["quoted"] < sentences // 2
    assert_within_budget(draft, messages)


def test_extractive_prefers_informative_sentences_in_original_order() -> None:
    draft = ExtractiveSummarizer().summarize(None, TRIP)
    assert "Kyoto" in draft.content
    assert "cherry blossoms" in draft.content.lower()
    assert "Great." not in draft.content  # only stopwords: never picked over others
    quoted = [
        sentence
        for line in draft.content.split("\n")
        for sentence in split_sentences(line.split(": ", 1)[1])
    ]
    source = " ".join(m.content for m in TRIP)
    positions = [source.find(sentence) for sentence in quoted]
    assert -1 not in positions and positions == sorted(positions)


def test_extractive_ties_go_to_the_earliest_sentence() -> None:
    twice = "Zebra giraffe okapi. Then we talked about nothing in particular at all, really."
    messages = [msg("ana", twice), msg("ben", twice), msg("ana", "ok")]
    draft = ExtractiveSummarizer().summarize(None, messages)
    assert draft.content.startswith("ana: Zebra giraffe okapi.")
    assert "ben: Zebra" not in draft.content


def test_extractive_joins_sentences_of_one_message_on_one_line() -> None:
    text = (
        "Rockets need fuel.\n\nRockets   need\tengines!\nThe weather was fine that day, "
        "and lunch was served at noon in the small canteen near the hangar. After lunch "
        "the visitors walked along the river for an hour and talked about their families."
    )
    draft = ExtractiveSummarizer().summarize(None, [msg("assistant", text)])
    assert draft.content == "assistant: Rockets need fuel. Rockets need engines!"


def test_extractive_speaker_falls_back_to_role_type() -> None:
    messages = [
        msg("", "The deploy finished.", RoleType.assistant),
        msg("  ", "The deploy was checked."),
        msg("Ada\nLovelace", "The deploy computes."),
        msg("Ada\nLovelace", "Yes, it is so. " * 20),
    ]
    draft = ExtractiveSummarizer().summarize(None, messages)
    assert draft.content.split("\n") == [
        "assistant: The deploy finished.",
        "unknown: The deploy was checked.",
        "Ada Lovelace: The deploy computes.",
    ]


def test_extractive_quotes_best_sentences_of_a_message_too_long_whole() -> None:
    long = " ".join(f"Filler sentence number {n} about lunch breaks." for n in range(30))
    messages = [
        msg("ana", "The kayak order NW-1 was late. " + long + " The kayak order arrived."),
        msg("ben", "Which kayak order do you mean?"),
    ]
    draft = ExtractiveSummarizer().summarize(None, messages)
    ana = next(line for line in draft.content.split("\n") if line.startswith("ana: "))
    assert ana.startswith("ana: The kayak order NW-1 was late.")
    assert "lunch" in ana  # the budget has room for some filler too, in order
    assert_within_budget(draft, messages)


def test_extractive_is_progressive() -> None:
    """The previous summary's sentences compete too (for half the budget), first."""
    previous = "user: A trip to Kyoto."
    draft = ExtractiveSummarizer().summarize(previous, TRIP[1:])
    assert draft.content.startswith(previous + "\n")
    assert draft.metadata["previous_lines"] == 1
    assert draft.metadata["quoted"] >= 1
    assert_within_budget(draft, TRIP[1:])
    unrelated = "user: The zebra and the okapi ate hay at the zoo on Sunday."
    assert unrelated not in ExtractiveSummarizer().summarize(unrelated, TRIP[1:]).content


def test_extractive_never_cuts_the_previous_summary() -> None:
    previous = "word " * 5000 + "\nuser: Kyoto again."
    draft = ExtractiveSummarizer().summarize(previous, TRIP)
    assert "word" not in draft.content
    assert_within_budget(draft, TRIP)


def test_extractive_without_new_messages_keeps_the_previous_summary() -> None:
    summarizer = ExtractiveSummarizer(max_tokens=30)
    assert summarizer.summarize("  Short summary.  ", []).content == "Short summary."
    long_previous = "\n".join(f"user: Line {i} says something new." for i in range(40))
    draft = summarizer.summarize(long_previous, [msg("user", "   ")])
    assert 0 < count_tokens(draft.content) <= 30
    assert long_previous.startswith(draft.content)
    assert draft.content.endswith("new.")


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
        assert draft.metadata["quoted"] == 0


def test_extractive_keeps_markup_literally() -> None:
    content = "Render [bold]x[/] and [red]warning[/red] with <b>html</b> and `code` {x}."
    messages = [msg("user", content), msg("assistant", "Yes, it is so. " * 20)]
    draft = ExtractiveSummarizer().summarize(None, messages)
    assert f"user: {content}" in draft.content


def test_extractive_unicode() -> None:
    messages = [
        msg("user", "Ich möchte nach Zürich fahren. Die Straße ist schön! 🚆🇨🇭 " * 3),
        msg("assistant", "東京は春がきれいです。桜が咲きます。" * 4),
        msg("ユーザー", "Привет, как дела? Всё хорошо. " * 3),
    ]
    draft = ExtractiveSummarizer().summarize(None, messages)
    assert_within_budget(draft, messages)
    assert draft.metadata["quoted"] >= 2
    for line in draft.content.split("\n"):
        speaker, _, text = line.partition(": ")
        source = next(m.content for m in messages if m.role == speaker)
        assert all(sentence in source for sentence in split_sentences(text))


@pytest.mark.parametrize(
    ("content", "quotable"),
    [
        ("a" * 1_000_000, False),
        ("word " * 200_000, False),
        ("hello world. " * 80_000, True),
        ("😀" * 250_000, False),
        ("漢字。" * 300_000, True),
        ("no punctuation at all just words and more words " * 20_000, False),
    ],
    ids=["one-char", "words", "sentences", "emoji", "cjk", "no-punctuation"],
)
def test_extractive_huge_messages_are_bounded_and_never_cut(content: str, quotable: bool) -> None:
    message = msg("user", content)
    draft = ExtractiveSummarizer().summarize(None, [message])
    assert_within_budget(draft, [message])
    if quotable:  # whole sentences of it
        assert draft.content.startswith("user: ")
        assert all(s in content for s in split_sentences(draft.content.removeprefix("user: ")))
    else:  # a one-line note instead of a cut sentence
        assert draft.content == "(1 message; no sentence short enough to quote.)"
        assert draft.metadata["quoted"] == 0


# --- the LLM summarizer, against a real server on 127.0.0.1 -------------------------


@pytest.fixture
def llm_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    yield from serve_llm(monkeypatch)


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
    with pytest.raises(SummarizerError) as info:
        summarizer.summarize(None, [msg("user", "hello")])
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


def test_llm_deadline_on_a_server_that_never_answers(llm_server: FakeLLM) -> None:
    """Issue 9.26/10.8: the deadline is shown by the error, never by timing the call."""
    llm_server.mode = "hang"  # no reply until the fixture stops the server
    summarizer = make_llm(llm_server, timeout=0.5)
    with pytest.raises(SummarizerError) as info:
        summarizer.summarize(None, [msg("user", "hello")])
    _assert_one_line_error(info.value, llm_server.base_url, "no complete reply within 0.5 s")
    assert llm_server.received.is_set()


def test_llm_deadline_covers_a_reply_that_trickles(llm_server: FakeLLM) -> None:
    """Headers at once, then a byte at a time: each read is quick, the whole is not.
    httpx's per-operation timeout (5 s here) never fires; the overall deadline does."""
    llm_server.mode = "trickle"
    llm_server.interval = 0.2  # the whole reply would take about a minute
    summarizer = make_llm(llm_server, timeout=1.0)
    with pytest.raises(SummarizerError) as info:
        summarizer.summarize(None, [msg("user", "hello")])
    _assert_one_line_error(info.value, llm_server.base_url, "no complete reply within 1 s")


@pytest.mark.parametrize("mode", ["huge-declared", "huge-chunked"])
def test_llm_reads_at_most_a_megabyte_of_reply(llm_server: FakeLLM, mode: str) -> None:
    """Issue 10.9: a 10 MB reply is refused, with or without a Content-Length."""
    llm_server.mode = mode
    with pytest.raises(SummarizerError) as info:
        make_llm(llm_server).summarize(None, [msg("user", "hello")])
    _assert_one_line_error(
        info.value, llm_server.base_url, f"larger than {MAX_RESPONSE_BYTES:,} bytes"
    )


def test_llm_summary_is_cut_after_a_whole_sentence(llm_server: FakeLLM) -> None:
    """Issue 10.9: a summary over the limits keeps its leading whole sentences."""
    sentences = [f"Point number {n} is about the kayak order." for n in range(4000)]
    llm_server.reply = " ".join(sentences)  # about 40,000 tokens, 180 KB
    draft = make_llm(llm_server).summarize(None, [msg("user", "hello")])
    assert draft.metadata["truncated"] is True
    assert 0 < count_tokens(draft.content) <= min(1024, MAX_SUMMARY_TOKENS)
    assert len(draft.content.encode()) <= MAX_SUMMARY_BYTES
    assert draft.content == " ".join(sentences[: len(split_sentences(draft.content))])
    small = make_llm(llm_server, max_output_tokens=50)
    assert count_tokens(small.summarize(None, [msg("user", "hi")]).content) <= 50


def test_llm_summary_without_a_sentence_that_fits_is_refused(llm_server: FakeLLM) -> None:
    llm_server.reply = "word " * 30_000  # one "sentence" of 30,000 tokens
    with pytest.raises(SummarizerError, match="no whole sentence within 1024 tokens"):
        make_llm(llm_server).summarize(None, [msg("user", "hello")])


def test_llm_urls_are_printed_without_credentials(llm_server: FakeLLM) -> None:
    """Issue 10.17: userinfo passwords and key-like query values never reach an error,
    and a base URL with a query string still names the right endpoint."""
    host = llm_server.base_url.removeprefix("http://")
    base = f"http://ana:pa55word@{host}?api-key=sekrit-123&api-version=2024-06"
    llm_server.mode = "500"
    summarizer = LLMSummarizer(base_url=base, model="m", api_key="sk-secret")
    assert summarizer.url == (
        f"http://ana:pa55word@{host}/chat/completions?api-key=sekrit-123&api-version=2024-06"
    )
    with pytest.raises(SummarizerError) as info:
        summarizer.summarize(None, [msg("user", "hello")])
    message = str(info.value)
    assert f"http://ana:***@{host}/chat/completions?api-key=***&api-version=2024-06" in message
    assert "pa55word" not in message and "sekrit" not in message
    assert "pa55word" not in repr(summarizer) and "sekrit" not in repr(summarizer)
    [request] = llm_server.requests  # the query reached the server whole
    assert request.path == "/v1/chat/completions?api-key=sekrit-123&api-version=2024-06"


@pytest.mark.parametrize("url", ["127.0.0.1:8000/v1", "ftp://host/v1", "http:///v1"])
def test_llm_base_url_must_be_http(url: str) -> None:
    with pytest.raises(SummarizerError, match="is not an http:// or https:// URL"):
        LLMSummarizer(base_url=url, model="m")


def test_llm_error_stops_a_chunked_run(llm_server: FakeLLM) -> None:
    llm_server.mode = "500"
    messages = [msg("user", "lorem ipsum dolor " * 40) for _ in range(6)]
    summarizer = make_llm(llm_server, max_context_tokens=700, max_output_tokens=200)
    with pytest.raises(SummarizerError):
        summarizer.summarize(None, messages)
    assert len(llm_server.requests) == 1


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
