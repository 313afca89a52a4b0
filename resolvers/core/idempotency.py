"""Idempotency keys (DESIGN.md §13): a mutation sent again with the same `Idempotency-Key`
by the same viewer gets the first answer and writes nothing again.

The keys live in Postgres (`models.IdempotencyKey`), shared by every server process.
Before a mutation runs, `claim` inserts its key in a statement of its own (INSERT ... ON
CONFLICT), so of two requests with one key only one runs; the other waits for its answer
(`Replay`), or, past `wait_seconds`, is told the key is in use (`InUse`, retryable). The
answer is kept (`finish`) for `ttl`; a request that failed for lack of a database before
writing anything gives its key back (`release`), so that its retry runs. A claim whose
holder never finished (its process died) lapses after `lease`, the request deadline with
room to spare. The same key with another request (document, variables, operation name)
is refused (`Mismatch`). Expired keys are deleted every `prune_every` seconds."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import text

from resolvers.core.database import Database
from resolvers.core.identity import Viewer

HEADER = "idempotency-key"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
"""1 to 255 visible ASCII characters (a UUID is the usual choice)."""


def viewer_scope(viewer: Viewer) -> str:
    """Whose keys these are: the user's id, or the role (`service_role`, `anon`)."""
    return str(viewer.user_id) if viewer.user_id is not None else viewer.role


def request_hash(document: str, variables: dict[str, Any] | None, operation: str | None) -> str:
    """sha256 of what the request asks (variables in any key order hash the same)."""
    payload = orjson.dumps([document, variables or {}, operation], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()


@dataclass(frozen=True)
class Claimed:
    """The key is this request's: run the mutation, then `finish` or `release`."""

    viewer: str
    key: str
    created_at: datetime


@dataclass(frozen=True)
class Replay:
    """The key's first request finished: its answer."""

    body: Any
    status: int


@dataclass(frozen=True)
class Mismatch:
    """The key was used for another request."""


@dataclass(frozen=True)
class InUse:
    """The key's first request is still running."""


Claim = Claimed | Replay | Mismatch | InUse

_CLAIM = text(
    """
    INSERT INTO idempotency_keys AS k (viewer, key, request_hash, locked_until, expires_at)
    VALUES (:viewer, :key, :hash, now() + make_interval(secs => :lease),
            now() + make_interval(secs => :ttl))
    ON CONFLICT (viewer, key) DO UPDATE
       SET request_hash = EXCLUDED.request_hash, status_code = NULL, response = NULL,
           created_at = now(), locked_until = EXCLUDED.locked_until,
           expires_at = EXCLUDED.expires_at
     WHERE k.expires_at <= now()
        OR (k.response IS NULL AND k.locked_until <= now()
            AND k.request_hash = EXCLUDED.request_hash)
    RETURNING k.created_at
    """
)
_READ = text(
    """
    SELECT request_hash, status_code, response FROM idempotency_keys
     WHERE viewer = :viewer AND key = :key
    """
)
_FINISH = text(
    """
    UPDATE idempotency_keys SET response = :response, status_code = :status
     WHERE viewer = :viewer AND key = :key AND created_at = :created_at AND response IS NULL
    """
)
_RELEASE = text(
    """
    DELETE FROM idempotency_keys
     WHERE viewer = :viewer AND key = :key AND created_at = :created_at AND response IS NULL
    """
)
_PRUNE = text("DELETE FROM idempotency_keys WHERE expires_at <= now()")


class IdempotencyStore:
    def __init__(
        self,
        db: Database,
        *,
        ttl: timedelta,
        lease: timedelta,
        wait_seconds: float,
        prune_every: float = 600.0,
    ) -> None:
        self.db = db
        self.ttl = ttl
        self.lease = lease
        self.wait_seconds = wait_seconds
        self.prune_every = prune_every
        self._next_prune = 0.0

    async def claim(self, viewer: str, key: str, hashed: str) -> Claim:
        """Takes the key for this request, or says why not. Waits (polling) while its
        first request runs, up to `wait_seconds`."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.wait_seconds
        pause = 0.02
        while True:
            found = await self._try_claim(viewer, key, hashed)
            if found is not None:
                return found
            left = give_up - loop.time()
            if left <= 0:
                return InUse()
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, 0.25)

    async def _try_claim(self, viewer: str, key: str, hashed: str) -> Claim | None:
        """One attempt; None while the first request runs."""
        values = {"viewer": viewer, "key": key}
        async with self.db.autocommit_engine.connect() as connection:
            if time.monotonic() >= self._next_prune:
                self._next_prune = time.monotonic() + self.prune_every
                await connection.execute(_PRUNE)
            claimed = await connection.execute(
                _CLAIM,
                {
                    **values,
                    "hash": hashed,
                    "lease": self.lease.total_seconds(),
                    "ttl": self.ttl.total_seconds(),
                },
            )
            created_at = claimed.scalar()
            if created_at is not None:
                return Claimed(viewer, key, created_at)
            row = (await connection.execute(_READ, values)).first()
        if row is None:
            return None  # given back meanwhile: try again
        if row.request_hash != hashed:
            return Mismatch()
        if row.response is None:
            return None
        return Replay(orjson.loads(row.response), row.status_code)

    async def finish(self, claim: Claimed, body: Any, status: int) -> None:
        """Keeps the answer for the key's retries."""
        async with self.db.autocommit_engine.connect() as connection:
            await connection.execute(
                _FINISH,
                {
                    "viewer": claim.viewer,
                    "key": claim.key,
                    "created_at": claim.created_at,
                    "response": orjson.dumps(body).decode(),
                    "status": status,
                },
            )

    async def release(self, claim: Claimed) -> None:
        """Gives the key back unanswered: its retry runs the mutation."""
        async with self.db.autocommit_engine.connect() as connection:
            await connection.execute(
                _RELEASE,
                {"viewer": claim.viewer, "key": claim.key, "created_at": claim.created_at},
            )

    async def prune(self) -> int:
        """Deletes expired keys; how many."""
        async with self.db.autocommit_engine.connect() as connection:
            return int((await connection.execute(_PRUNE)).rowcount)
