"""The policy machinery: `TablePolicy` (one subclass instance per table registers itself),
and the functions every read and write check goes through. The policies themselves live
in the per-domain modules beside this one; see the package docstring.

Each policy turns a Viewer into a SQL predicate for reads (`read`) and answers write
checks. Every read, root or nested, paginated or counted, starts from `visible(Model,
viewer)` or adds `readable(Model, viewer)` to its WHERE clause. `service_role` bypasses
every policy here, in one place.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, select, true

from resolvers.core.errors import Forbidden
from resolvers.core.identity import Viewer

ModelT = TypeVar("ModelT")

_POLICIES: dict[type[Any], TablePolicy[Any]] = {}


class TablePolicy(Generic[ModelT]):
    """Base for a table's policy. Subclasses set `model` and implement `read`."""

    model: ClassVar[type[Any]]

    def __init__(self) -> None:
        _POLICIES[self.model] = self

    def read(self, viewer: Viewer) -> ColumnElement[bool]:
        raise NotImplementedError


def policy_for(model: type[ModelT]) -> TablePolicy[ModelT]:
    try:
        return _POLICIES[model]
    except KeyError:
        raise LookupError(f"No policy registered for {model.__name__}") from None


def readable(model: type[Any], viewer: Viewer) -> ColumnElement[bool]:
    """The read predicate of `model`'s policy for `viewer`."""
    if viewer.is_service:
        return true()
    return policy_for(model).read(viewer)


def visible(model: type[ModelT], viewer: Viewer) -> Select[ModelT]:
    """`SELECT model WHERE <read policy>`: the start of every read of that table."""
    return select(model).where(readable(model, viewer))


def require(allowed: bool, message: str = "You are not allowed to do this.") -> None:
    """Write checks: raise `Forbidden` (nothing written) when the viewer may not."""
    if not allowed:
        raise Forbidden(message)
