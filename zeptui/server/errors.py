"""Every error the API answers is JSON `{"message": ...}` with the status that fits.

Store errors map to 404 (not found), 409 (conflict), 400 (bad input) and 501 (a
capability the store lacks); request validation is 400, never FastAPI's 422 shape;
anything unexpected is 500 with a request id (also in the `X-Request-Id` header) and
no stack trace, which goes to the server's log under that id (zeptui/server/guard.py).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from storage.capabilities import Unsupported
from storage.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    StoreError,
    StoreLockedError,
)
from storage.limits import LimitError

log = logging.getLogger("zeptui.server")

REQUEST_ID_HEADER = "X-Request-Id"


class ApiError(HTTPException):
    """An error answered as `{"message": ...}` with `status_code`.

    A Starlette HTTPException, so FastAPI passes it on unchanged when it is raised
    while a request body is read (the body limit raises it there).
    """

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(status_code=status_code, detail=message)
        self.message = message


def error_response(status_code: int, message: str, **extra: Any) -> Response:
    """The JSON error body every failure gets."""
    body = json.dumps({"message": message, **extra}, ensure_ascii=False)
    return Response(body, status_code=status_code, media_type="application/json")


_STORE_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (NotFoundError, 404),
    (ConflictError, 409),
    (InvalidInputError, 400),
    (LimitError, 400),
    (Unsupported, 501),
    (StoreLockedError, 503),
)


def store_error_status(error: Exception) -> int:
    """The status a store error is answered with (500 for one not listed)."""
    for kind, status in _STORE_STATUS:
        if isinstance(error, kind):
            return status
    return 500


def validation_message(error: RequestValidationError) -> str:
    """The first problem of a request that failed validation, on one line."""
    problems = error.errors()
    if not problems:
        return "the request is not valid"
    problem = problems[0]
    where = [str(part) for part in problem.get("loc", ()) if part not in ("body",)]
    message = str(problem.get("msg", "is not valid")).removeprefix("Value error, ")
    if problem.get("type") == "json_invalid":
        reason = problem.get("ctx", {}).get("error", "")
        return f"the request body is not valid JSON ({reason})".replace(" ()", "")
    if where and where[0] in ("query", "path"):
        where = where[1:]
    return f"{'.'.join(where)}: {message}" if where else message


def install_error_handlers(app: FastAPI) -> None:
    """Answer every failure with the JSON error body."""

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        message = error.detail if isinstance(error.detail, str) else "request failed"
        if error.status_code == 404 and not isinstance(error, ApiError):
            message = "not found"
        elif error.status_code == 405:
            message = f"{request.method} is not allowed here"
        elif error.status_code == 400 and error.detail == "There was an error parsing the body":
            message = "the request body is not valid JSON"
        return error_response(error.status_code, message)

    async def invalid_request(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        return error_response(400, validation_message(error))

    async def store_error(request: Request, error: Exception) -> Response:
        status = store_error_status(error)
        if status == 500:
            raise error  # the guard answers it with a request id (zeptui/server/guard.py)
        return error_response(status, str(error))

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StoreError, store_error)
    app.add_exception_handler(LimitError, store_error)


def internal_error(request_id: str) -> Response:
    """The answer to a failure nobody expected: a request id and no details."""
    return error_response(500, "internal server error", request_id=request_id)
