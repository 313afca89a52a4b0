"""Per-request dataloaders. Each batch reads on its own session (its own pooled
connection), so loaders resolving side by side never share an `AsyncSession`."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from aiodataloader import DataLoader

from resolvers.core.database import Database
from resolvers.core.identity import Viewer
from resolvers.core.statement_templates import any_of, fetch_models
from resolvers.policies import visible

KeyT = TypeVar("KeyT")
ValueT = TypeVar("ValueT")
ModelT = TypeVar("ModelT")
LoaderT = TypeVar("LoaderT", bound="PolicyLoader[Any, Any]")


class PolicyLoader(DataLoader[KeyT, ValueT], Generic[KeyT, ValueT]):
    """A dataloader bound to one request's viewer; subclasses apply the table's policy."""

    primed_from_viewer: ClassVar[list[type[PolicyLoader[Any, Any]]]] = []
    """Loader classes that define `prime_from_viewer` (registered as they are defined)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "prime_from_viewer" in cls.__dict__:
            PolicyLoader.primed_from_viewer.append(cls)

    def prime_from_viewer(self) -> None:
        """Override to serve what the viewer statement already read (the viewer's own
        rows) from the cache; under `Loaders(..., with_viewer_rows=True)` it is called on
        every loader class that defines it, as the request's loader is made (before its
        first use, so as if at the start of the request)."""

    def __init__(self, db: Database, viewer: Viewer) -> None:
        super().__init__()
        self.db = db
        self.viewer = viewer
        self.loaders: Loaders | None = None
        """The request's loaders, set by `Loaders.get` (see `sibling`)."""

    def sibling(self, loader_class: type[LoaderT]) -> LoaderT:
        """Another loader of the same request, e.g. the one counting this loader's totals
        or one this loader primes: one instance and one cache per request."""
        if self.loaders is None:
            raise RuntimeError(f"{type(self).__name__} was made outside `Loaders.get`")
        return self.loaders.get(loader_class)

    async def visible_where_in(
        self, model: type[ModelT], column: Any, keys: Iterable[Any], *order_by: Any
    ) -> list[ModelT]:
        """Rows of `model` the viewer may read whose `column` is one of `keys`, in one
        statement template (`resolvers/core/statement_templates.py`) per loader and column."""
        return await fetch_models(
            self.db,
            (type(self), model, column, order_by),
            self.viewer,
            model,
            lambda viewer: visible(model, viewer).where(any_of(column)).order_by(*order_by),
            keys=list(keys),
        )

    def load_each(self, keys: Iterable[KeyT]) -> Awaitable[list[ValueT]]:
        """`load_many` without `asyncio.gather`: the keys are queued now (so they join
        this round's batch) and their futures awaited in turn when the result is. One
        batch resolves them together, so unlike gather this schedules no callback per
        key. Every future is awaited, so a failure is raised once and none is left
        unretrieved."""
        return _each([self.load(key) for key in keys])

    def replace(self, key: KeyT, value: ValueT) -> None:
        """Put a freshly written row in the cache (after a mutation's commit)."""
        self.clear(key)
        self.prime(key, value)


class RowByIdLoader(PolicyLoader[uuid.UUID, ModelT | None], Generic[ModelT]):
    """Rows of `model` by primary key, through the table's policy: one statement per
    batch. A subclass per table sets `model` (and is the `<Model>ByIdLoader`)."""

    model: ClassVar[type[Any]]

    async def batch_load_fn(self, keys: Sequence[uuid.UUID]) -> list[ModelT | None]:
        rows = await self.visible_where_in(self.model, self.model.id, keys)
        found = {row.id: row for row in rows}
        return [found.get(key) for key in keys]


async def _each(futures: list[Awaitable[ValueT]]) -> list[ValueT]:
    values: list[ValueT] = []
    failure: BaseException | None = None
    for future in futures:
        try:
            values.append(await future)
        except Exception as error:
            failure = failure or error
    if failure is not None:
        raise failure
    return values


async def results_or_none(waits: Sequence[Awaitable[Any]]) -> list[Any]:
    """Awaits each of `waits` in turn; the result of each, None for one that failed (a
    look-ahead leaves a failure in its loader for the field that asks to report)."""
    results: list[Any] = []
    for wait in waits:
        try:
            results.append(await wait)
        except Exception:
            results.append(None)
    return results


class Loaders:
    """Creates each loader class once per request, on first use. With `with_viewer_rows`,
    a loader class that defines `prime_from_viewer` is primed as it is made: a request
    that never uses it (most are answered by Postgres as JSON) makes neither the loader
    nor the viewer's model object, and one that does finds the same cache it would have
    found primed at the start."""

    def __init__(self, db: Database, viewer: Viewer, *, with_viewer_rows: bool = False) -> None:
        self._db = db
        self._viewer = viewer
        self._loaders: dict[type[Any], Any] = {}
        self._with_viewer_rows = with_viewer_rows

    def get(self, loader_class: type[LoaderT]) -> LoaderT:
        loader = self._loaders.get(loader_class)
        if loader is None:
            loader = loader_class(self._db, self._viewer)
            loader.loaders = self
            self._loaders[loader_class] = loader
            if self._with_viewer_rows and loader_class in PolicyLoader.primed_from_viewer:
                loader.prime_from_viewer()
        return loader  # type: ignore[no-any-return,unused-ignore]

    def close(self) -> None:
        """Drops every loader's cache at the end of the request. A cached page refers
        back to its loader (its total is counted on demand), so each cache is a cycle
        holding every row the request read; left alone, only the garbage collector
        could free it, walking all of those rows first."""
        for loader in self._loaders.values():
            loader.clear_all()
        self._loaders.clear()
