"""Every failure, classified once; each API view only renders it in its vendor's error style.

`classify` turns a domain error or a Litestar exception into a `Problem`: the status, an
UPPER_SNAKE code (the domain's own, or one of the framework codes below), the readable message
when there is one, and headers the answer must carry. Anything else is a 500, logged here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    TooManyRequestsException,
    ValidationException,
)

from custody.apis.common import validation_message
from custody.db.engine import RETRYABLE, sqlstate
from custody.domain.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound

log = logging.getLogger("custody")

# Framework codes, beside the domain's own.
INVALID = "INVALID"  # malformed JSON, wrong type, out of range: `message` says which
UNAUTHORIZED = "UNAUTHORIZED"
INSUFFICIENT_SCOPE = "INSUFFICIENT_SCOPE"
THROTTLED = "THROTTLED"
NO_ROUTE = "NOT_FOUND"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
HTTP_ERROR = "HTTP_ERROR"  # any other 4xx Litestar raises: `message` is its detail
INTERNAL_ERROR = "INTERNAL_ERROR"
UNAVAILABLE = "UNAVAILABLE"  # 503: contention or a statement timeout; Retry-After says when
QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement cancelled by statement_timeout

_DOMAIN_STATUS = {InvalidInput: 400, Forbidden: 403, NotFound: 404, Conflict: 409}
_FRAMEWORK: tuple[tuple[type[HTTPException], int, str], ...] = (
    (NotAuthorizedException, 401, UNAUTHORIZED),
    (PermissionDeniedException, 403, INSUFFICIENT_SCOPE),
    (TooManyRequestsException, 429, THROTTLED),
    (NotFoundException, 404, NO_ROUTE),
    (MethodNotAllowedException, 405, METHOD_NOT_ALLOWED),
)


@dataclass(frozen=True, slots=True)
class Problem:
    status: int
    code: str
    message: str | None = None  # readable; None when the code says it all
    headers: dict[str, str] | None = None


def classify(exc: Exception) -> Problem:
    if isinstance(exc, DomainError):
        status = next(code for kind, code in _DOMAIN_STATUS.items() if isinstance(exc, kind))
        return Problem(status, exc.code, exc.message if exc.message != exc.code else None)
    if isinstance(exc, ValidationException):
        return Problem(400, INVALID, validation_message(exc, "") or None)
    for kind, status, code in _FRAMEWORK:
        if isinstance(exc, kind):
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else exc.headers
            return Problem(status, code, exc.detail if status == 429 else None, headers)
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        return Problem(exc.status_code, HTTP_ERROR, exc.detail, exc.headers)
    state = sqlstate(exc)
    if state in RETRYABLE or state == QUERY_CANCELED:
        # Contention or a statement over its time limit: the request may succeed again shortly.
        log.warning("database busy (SQLSTATE %s): %s", state, exc)
        return Problem(503, UNAVAILABLE, "the database is busy; try again", {"Retry-After": "1"})
    log.exception("unhandled error", exc_info=exc)
    return Problem(500, INTERNAL_ERROR)


def exception_handler(body: Callable[[Problem], Any]) -> Callable[[Request[Any, Any, Any], Exception], Response[Any]]:
    """A Litestar exception handler that answers every failure with `body(problem)` as JSON."""

    def handle(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        problem = classify(exc)
        return Response(
            content=body(problem), status_code=problem.status, media_type=MediaType.JSON, headers=problem.headers
        )

    return handle
