"""One error hierarchy for the domain; each API view renders it in its own vendor's style."""

from __future__ import annotations


class DomainError(Exception):
    """`code` is an UPPER_SNAKE identifier; `message` is for humans."""

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message or code


class InvalidInput(DomainError):
    """The request is malformed or a value is out of its documented range (400)."""


class NotFound(DomainError):
    """No such row for this caller: other companies' rows land here too (404)."""


class Conflict(DomainError):
    """The request contradicts the current state, e.g. the device is already held (409)."""


class Forbidden(DomainError):
    """The caller is known but may not do this (403)."""
