"""Persisted queries (Apollo APQ and trusted documents), in Postgres so every server
process shares them, with a bounded in-process cache in front."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from models import PersistedQuery
from resolvers.core.database import Database


def document_hash(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


@dataclass(frozen=True)
class StoredDocument:
    document: str
    trusted: bool


class PersistedQueryStore:
    def __init__(self, db: Database, cache_size: int = 2048) -> None:
        self.db = db
        self.cache_size = cache_size
        self._cache: OrderedDict[str, StoredDocument] = OrderedDict()

    def _remember(self, sha256: str, stored: StoredDocument) -> None:
        self._cache[sha256] = stored
        self._cache.move_to_end(sha256)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    async def get(self, sha256: str, *, trusted: bool = False) -> StoredDocument | None:
        """The stored document. `trusted`: the caller needs to know whether it is trusted,
        so a cached answer of "not trusted" is read again: another process (`python
        server.py register-documents`) may have trusted it since, and trust only ever
        upgrades, so a cached "trusted" stays true."""
        cached = self._cache.get(sha256)
        if cached is not None and (cached.trusted or not trusted):
            self._cache.move_to_end(sha256)
            return cached
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(PersistedQuery.document, PersistedQuery.trusted).where(
                        PersistedQuery.sha256 == sha256
                    )
                )
            ).first()
        if row is None:
            return None
        stored = StoredDocument(row.document, row.trusted)
        self._remember(sha256, stored)
        return stored

    async def save(self, document: str, *, trusted: bool = False) -> str:
        """Stores `document` under its hash (idempotent); `trusted` only ever upgrades."""
        sha256 = document_hash(document)
        statement = insert(PersistedQuery).values(sha256=sha256, document=document, trusted=trusted)
        if trusted:
            statement = statement.on_conflict_do_update(
                index_elements=[PersistedQuery.sha256], set_={"trusted": True}
            )
        else:
            statement = statement.on_conflict_do_nothing()
        async with self.db.transaction() as session:
            await session.execute(statement)
        self._cache.pop(sha256, None)
        return sha256
