"""Mutation results: the typed errors every mutation shares (`ValidationError`,
`NotAllowed`, `NotFound`) and `mutation_result`, which turns a resolver call into the
union of its success type and those errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

import strawberry

from resolvers.core import errors

RowT = TypeVar("RowT")
SuccessT = TypeVar("SuccessT")
ErrorT = TypeVar("ErrorT")


def _deleted_id(root: Any) -> strawberry.ID:
    return strawberry.ID(root.id)


def deprecated_id_field(description: str) -> Any:
    """The `id` of a delete payload that predates `deletedId`; see `deleted_id_field`."""
    return strawberry.field(
        description=description,
        deprecation_reason="Use `deletedId`, the name every delete payload uses.",
    )


def deleted_id_field(description: str) -> Any:
    """`deletedId`, read from the payload's deprecated `id`."""
    return strawberry.field(resolver=_deleted_id, description=description)


@strawberry.interface(description="An expected problem with a mutation; nothing was written.")
class UserError:
    message: str = strawberry.field(description="What went wrong, for people.")
    code: str = strawberry.field(
        description="Machine-readable code: BAD_USER_INPUT, FORBIDDEN, NOT_FOUND, ..."
    )


@strawberry.interface(
    description="A status machine refused the move asked for (code INVALID_TRANSITION); "
    "nothing was written. The one name for this error on every entity: match "
    "`... on TransitionError` for any of them; each entity's type adds its typed statuses "
    "(`InvalidTransition` for appointments, `InvalidStatusTransition` for goals)."
)
class TransitionError(UserError):
    pass


@strawberry.type(description="Messages about one input field.")
class FieldError:
    field: str = strawberry.field(
        description="Input field path in camelCase, e.g. `rules[1].endTime`."
    )
    messages: list[str] = strawberry.field(description="What is wrong with it.")


@strawberry.type(description="The input is invalid; `fields` says where. Nothing was written.")
class ValidationError(UserError):
    fields: list[FieldError] = strawberry.field(description="Problems per input field.")

    @classmethod
    def from_error(cls, error: errors.ValidationFailed) -> ValidationError:
        return cls(
            message=error.message,
            code="BAD_USER_INPUT",
            fields=[FieldError(field=name, messages=msgs) for name, msgs in error.fields.items()],
        )


@strawberry.type(description="The viewer may not make this change. Nothing was written.")
class NotAllowed(UserError):
    @classmethod
    def from_error(cls, error: errors.CaregraphError) -> NotAllowed:
        return cls(message=error.message, code="FORBIDDEN")


@strawberry.type(
    name="NotFound",
    description="The target does not exist or is not visible to the viewer. Nothing was written.",
)
class NotFoundError(UserError):
    @classmethod
    def from_error(cls, error: errors.CaregraphError) -> NotFoundError:
        return cls(message=error.message, code="NOT_FOUND")


def user_error(error: errors.CaregraphError) -> ValidationError | NotAllowed | NotFoundError:
    """The typed result for an expected mutation error."""
    if isinstance(error, errors.ValidationFailed):
        return ValidationError.from_error(error)
    if isinstance(error, errors.Forbidden | errors.Unauthenticated):
        return NotAllowed.from_error(error)
    if isinstance(error, errors.NotFound):
        return NotFoundError.from_error(error)
    return ValidationError(message=error.message, code=error.code, fields=[])


@overload
async def mutation_result(
    call: Callable[[], Awaitable[RowT]],
    success: Callable[[RowT], SuccessT],
) -> SuccessT | ValidationError | NotAllowed | NotFoundError: ...


@overload
async def mutation_result(
    call: Callable[[], Awaitable[RowT]],
    success: Callable[[RowT], SuccessT],
    on_error: Callable[[errors.CaregraphError], ErrorT],
) -> SuccessT | ErrorT: ...


async def mutation_result(
    call: Callable[[], Awaitable[RowT]],
    success: Callable[[RowT], SuccessT],
    on_error: Callable[[errors.CaregraphError], Any] = user_error,
) -> Any:
    """The union result of a mutation: `success` of what `call` returns, or the typed error
    `on_error` (default `user_error`) makes of an expected error. `call` is a thunk so that
    argument parsing (`parse_id`, ...) inside it is mapped like the resolver's own errors."""
    try:
        result = await call()
    except errors.CaregraphError as error:
        return on_error(error)
    return success(result)
