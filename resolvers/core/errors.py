"""Errors raised by resolvers. The schema layer turns them into typed results or error codes."""

from __future__ import annotations


class CaregraphError(Exception):
    """An expected error, shown to the client with its message and `extensions.code`."""

    code = "BAD_USER_INPUT"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadUserInput(CaregraphError):
    code = "BAD_USER_INPUT"


class Unauthenticated(CaregraphError):
    code = "UNAUTHENTICATED"


class Forbidden(CaregraphError):
    """The viewer may see the row but may not make this write."""

    code = "FORBIDDEN"


class NotFound(CaregraphError):
    """The row does not exist, or the viewer's read policy hides it."""

    code = "NOT_FOUND"


class InvalidTransitionError(CaregraphError):
    """A status machine (an appointment's, a goal's) does not allow the move asked for.
    One error and one code for every entity; the schema adds the entity's typed statuses."""

    code = "INVALID_TRANSITION"

    def __init__(self, message: str, from_status: str, to_status: str) -> None:
        super().__init__(message)
        self.from_status = from_status
        self.to_status = to_status


class ValidationFailed(CaregraphError):
    """Input failed validation; `fields` maps an input field to its messages."""

    def __init__(self, fields: dict[str, list[str]], message: str | None = None) -> None:
        super().__init__(
            message
            or "Invalid input: "
            + "; ".join(f"{name}: {', '.join(msgs)}" for name, msgs in fields.items())
        )
        self.fields = fields

    @classmethod
    def single(cls, field: str, message: str) -> ValidationFailed:
        return cls({field: [message]})


class FieldErrors:
    """Collects per-field messages; `raise_if_any()` raises `ValidationFailed`."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.fields.setdefault(field, []).append(message)

    def check(self, condition: bool, field: str, message: str) -> None:
        if not condition:
            self.add(field, message)

    def raise_if_any(self) -> None:
        if self.fields:
            raise ValidationFailed(self.fields)


RETRY_AFTER_SECONDS = 1
"""What `Retry-After` tells a client that got SERVICE_UNAVAILABLE."""


class ServiceUnavailable(Exception):
    """The database cannot answer now (unreachable, restarting, out of connections) or
    the request ran past its deadline: `SERVICE_UNAVAILABLE`, retryable (HTTP 503 with
    `Retry-After`). Not a `CaregraphError`: a mutation answers it as a GraphQL error, not
    as one of its typed results; see `resolvers.core.outages` for the failures it stands for."""

    code = "SERVICE_UNAVAILABLE"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @classmethod
    def deadline(cls, seconds: float | None = None) -> ServiceUnavailable:
        limit = f" of {seconds:g} s" if seconds is not None else ""
        return cls(f"The request did not finish within its deadline{limit}; try again.")
