"""Which database failures mean "the database cannot answer now", as opposed to a bug.

A lost or refused connection, a server shutting down or starting up, a full pool or a
server out of connections, a statement stopped by `statement_timeout`: the client gets
`SERVICE_UNAVAILABLE` (retryable, `errors.ServiceUnavailable`), never
`INTERNAL_SERVER_ERROR`. A read that lost its connection is retried once by
`resolvers.core.database`; see `connection_lost`."""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
from sqlalchemy import exc as sa_exc

from resolvers.core.errors import ServiceUnavailable

UNAVAILABLE_MESSAGE = "The database is unavailable; try again shortly."

# The connection failed (class 08), or Postgres says it is going away or not there yet
# (57P01 admin shutdown, as after pg_terminate_backend; 57P02 crash shutdown; 57P03
# starting up or shutting down).
_LOST = (
    asyncpg.PostgresConnectionError,  # class 08, ConnectionDoesNotExistError included
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
)


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, what SQLAlchemy wrapped (`orig`) and its causes, each once."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend((current.__cause__, current.__context__, getattr(current, "orig", None)))


def _lost(error: BaseException) -> bool:
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, _LOST):
        return True
    if isinstance(error, asyncpg.InterfaceError) and "connection is closed" in str(error):
        return True
    if isinstance(error, asyncpg.InternalClientError):
        # The protocol is out of step with the server, as when an idle connection gets
        # the server's FATAL (pg_terminate_backend) before the socket's end: the next
        # statement fails with "another operation is in progress". Never usable again.
        return True
    # Refused, reset or timed-out sockets (ConnectionError, TimeoutError, socket.gaierror).
    return isinstance(error, OSError)


def connection_lost(error: BaseException) -> bool:
    """The statement failed because its connection is gone or could not be made: a read
    may run again on a fresh connection. Never true for an error Postgres reported about
    the statement itself (constraint, syntax, timeout)."""
    return any(_lost(cause) for cause in _chain(error))


def statement_timed_out(error: BaseException) -> bool:
    """Postgres cancelled the statement at `statement_timeout` (57014)."""
    return any(
        isinstance(cause, asyncpg.QueryCanceledError) and "statement timeout" in str(cause)
        for cause in _chain(error)
    )


def unavailable(error: BaseException) -> ServiceUnavailable | None:
    """The `ServiceUnavailable` that `error` means, or None when it is something else."""
    for cause in _chain(error):
        if isinstance(cause, ServiceUnavailable):
            return cause
    if statement_timed_out(error):
        return ServiceUnavailable.deadline()
    if connection_lost(error) or any(
        isinstance(cause, sa_exc.TimeoutError | asyncpg.TooManyConnectionsError)
        for cause in _chain(error)
    ):
        return ServiceUnavailable(UNAVAILABLE_MESSAGE)
    return None


def raise_unavailable(error: BaseException) -> None:
    """Re-raises `error` as `ServiceUnavailable` when it means the database cannot answer;
    returns otherwise (the caller re-raises the original)."""
    found = unavailable(error)
    if found is not None and found is not error:
        raise found from error
