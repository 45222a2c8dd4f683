"""The endpoints that need a language model: classify a session, synthesize a question.

A server without one answers them 501. With one (any `prompt -> reply` callable; `zeptui
serve` makes it from the LLM settings, `zeptui.compose.build_language_model`), the
prompt carries the session's last messages as `role: content` lines; a model that
fails or answers nothing is a 502.
"""

from __future__ import annotations

from collections.abc import Callable

from storage.models import MemoryType
from storage.paging import MAX_LIMIT, check_range
from storage.store import MemoryStore
from storage.summarizers import SummarizerError
from zeptui.server.errors import ApiError
from zeptui.server.wire import ClassifyBody, ClassifyResponse

LanguageModel = Callable[[str], str]
"""A prompt in, the model's reply out (raises on failure)."""

DEFAULT_LAST_N = 4
"""Messages a classification reads when the request does not say (Zep's default)."""
DEFAULT_QUESTION_LAST_N = 3


def required(model: LanguageModel | None) -> LanguageModel:
    """`model`, or ApiError 501 saying that this endpoint needs one."""
    if model is None:
        raise ApiError(
            501,
            "this endpoint needs a language model; start zeptui serve with "
            "ZEPTUI_LLM_BASE_URL and ZEPTUI_LLM_MODEL set",
        )
    return model


def _ask(model: LanguageModel, prompt: str) -> str:
    """The model's reply; its failure (unreachable, an error, no reply) is a 502."""
    try:
        reply = model(prompt).strip()
    except SummarizerError as error:
        raise ApiError(502, f"the language model failed: {error}") from None
    if not reply:
        raise ApiError(502, "the language model's reply is empty")
    return reply


def _transcript(store: MemoryStore, session_id: str, last_n: int) -> str:
    check_range("last_n", last_n, 1, MAX_LIMIT)
    memory = store.get_memory(session_id, MemoryType.message_window, last_n)
    return "\n".join(f"{message.role}: {message.content}" for message in memory.messages)


def classify(
    store: MemoryStore, model: LanguageModel, session_id: str, request: ClassifyBody
) -> ClassifyResponse:
    """The class among `request.classes` that fits the session's last messages best."""
    if not request.classes:
        raise ApiError(400, "classes: at least one class is required")
    lines = _transcript(store, session_id, request.last_n or DEFAULT_LAST_N)
    choices = "\n".join(f"- {name}" for name in request.classes)
    prompt = (
        f"{request.instruction or ''}\nClassify this conversation as exactly one of:\n"
        f"{choices}\nReply with the class only.\n\nConversation:\n{lines}\n"
    )
    reply = _ask(model, prompt)
    chosen = next(
        (name for name in request.classes if name.lower() == reply.lower()),
        next((name for name in request.classes if name.lower() in reply.lower()), None),
    )
    if chosen is None:
        raise ApiError(502, "the language model's reply is none of the classes")
    if request.persist:
        store.update_session(session_id, {request.name: chosen})
    return ClassifyResponse.model_validate({"name": request.name, "class": chosen})


def synthesize_question(
    store: MemoryStore, model: LanguageModel, session_id: str, last_n: int | None
) -> str:
    """One question that states what the user is asking, from the last messages."""
    lines = _transcript(store, session_id, last_n or DEFAULT_QUESTION_LAST_N)
    prompt = (
        "Write one standalone question that captures what the user wants to know in "
        f"this conversation. Reply with the question only.\n\nConversation:\n{lines}\n"
    )
    return _ask(model, prompt)
