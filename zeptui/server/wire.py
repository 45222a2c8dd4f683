"""Request and response bodies of the API that storage.models does not already give.

Zep's own shapes (Session, User, Message, Memory, ...) are storage.models; these are
the bodies around them, in both API generations. Unknown fields are ignored, as the
reference server ignores them; explicit `null`s are accepted (zep-python 1.5.0 sends
them in search bodies).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_serializer

from storage.models import InputMetadata, Memory, Message, Summary


def _blank_is_absent(value: object) -> object:
    return None if value == "" else value


OptionalInt = Annotated[int | None, BeforeValidator(_blank_is_absent)]
"""An integer query parameter where an empty value (`?limit=&cursor=`, which both SDKs
send) means the parameter was not given."""

OptionalText = Annotated[str | None, BeforeValidator(_blank_is_absent)]
"""A text query parameter where an empty value means not given."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SuccessResponse(_Body):
    """`{"message": "OK"}`: the body of a v2 write that returns nothing else."""

    message: str = "OK"


class ErrorResponse(_Body):
    """Every error: a one-line message; a 500 adds the request id to quote in a report."""

    message: str
    request_id: str | None = None


class UpdateSessionBody(_Body):
    """PATCH a session: metadata is deep-merged (its `system` key is dropped); a
    `session_id` in the body is ignored, the path wins."""

    metadata: InputMetadata = None


class AddMemoryBody(_Body):
    """POST memory: messages appended in order; `summary_instruction` and the other
    Memory fields a client may send are ignored."""

    messages: list[Message] | None = Field(default_factory=list)


class UpdateMessageBody(_Body):
    """PATCH a message: metadata deep-merged (its `system` key dropped); nothing else
    changes, token_count included."""

    metadata: InputMetadata = None


class SearchBody(_Body):
    """POST search, as zep-python sends it (both generations)."""

    text: str | None = None
    metadata: dict[str, Any] | None = None
    search_scope: str | None = None
    search_type: str | None = None
    mmr_lambda: float | None = None
    min_score: float | None = None


class SearchResultV2(_Body):
    message: Message | None = None
    summary: Summary | None = None
    metadata: dict[str, Any] | None = None
    score: float


class SearchResultV1(_Body):
    message: Message | None = None
    summary: Summary | None = None
    metadata: dict[str, Any] | None = None
    dist: float
    embedding: list[float] | None = None


class MemoryResponse(Memory):
    """Memory as served: `relevant_summaries` is filled for `summary_retriever`."""

    relevant_summaries: list[Summary] | None = None


class ClassifyBody(_Body):
    name: str
    classes: list[str]
    last_n: int | None = None
    persist: bool | None = True
    instruction: str | None = None


class ClassifyResponse(_Body):
    model_config = ConfigDict(populate_by_name=True)

    name: str
    class_: str = Field(alias="class")

    @model_serializer
    def _with_alias(self) -> dict[str, str]:
        # `class` as Zep names it (zep-python reads that key), on every pydantic 2.
        return {"name": self.name, "class": self.class_}


class QuestionResponse(_Body):
    question: str
